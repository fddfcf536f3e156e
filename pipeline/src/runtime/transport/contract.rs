//! The transport contract: properties every transport must have, as async
//! functions over a fixture. `transport_contract_suite!(fixture)` turns each
//! into a named test; the embedded log runs it, the Kafka transport will too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Consumer, Membership, Message, Outgoing, Transport, TransportError, partition_for, positions_after};

/// Gives handles to one shared storage; each `connect` is like a restarted client.
#[async_trait]
pub trait TransportFixture: Send + Sync {
    async fn connect(&self) -> Arc<dyn Transport>;
}

/// How long one poll may wait; bounded polls keep a broken transport from hanging the suite.
const POLL_WAIT: Duration = Duration::from_millis(200);
const MAX_EMPTY_POLLS: usize = 150;

fn unique(name: &str) -> String {
    format!("contract.{name}.{:08x}", fastrand::u32(..))
}

fn outgoing(key: &str, i: usize) -> Outgoing {
    Outgoing::new(key, format!("{key}#{i}").into_bytes())
}

/// Polls until `count` messages arrived (or the transport stays silent too long).
pub async fn consume(consumer: &mut dyn Consumer, count: usize) -> Vec<Message> {
    let mut got = Vec::new();
    let mut empty = 0;
    while got.len() < count && empty < MAX_EMPTY_POLLS {
        let batch = consumer.poll(count - got.len(), POLL_WAIT).await.expect("poll");
        empty = if batch.is_empty() { empty + 1 } else { 0 };
        got.extend(batch);
    }
    got
}

async fn topic(t: &dyn Transport, name: &str, partitions: u32) -> String {
    let name = unique(name);
    t.create_topic(&name, partitions).await.expect("create topic");
    name
}

pub async fn messages_are_read_back_in_send_order_per_partition(f: &dyn TransportFixture) {
    let t = f.connect().await;
    let name = topic(&*t, "order", 3).await;
    let keys = ["alice", "bob", "carol", "dave"];
    let sent: Vec<Outgoing> = (0..200).map(|i| outgoing(keys[i % keys.len()], i)).collect();
    t.send(&name, sent[..120].to_vec()).await.unwrap();
    t.send(&name, sent[120..].to_vec()).await.unwrap();
    let mut consumer = t.subscribe(&unique("g"), std::slice::from_ref(&name), Membership::ALONE).await.unwrap();
    let got = consume(&mut *consumer, sent.len()).await;
    assert_eq!(got.len(), sent.len());
    let mut per_key: BTreeMap<&str, Vec<&[u8]>> = BTreeMap::new();
    let mut last_offset: BTreeMap<u32, u64> = BTreeMap::new();
    for m in &got {
        per_key.entry(&m.key).or_default().push(&m.value);
        if let Some(prev) = last_offset.insert(m.partition, m.offset) {
            assert!(m.offset > prev, "offsets increase within a partition");
        }
    }
    for key in keys {
        let expected: Vec<&[u8]> = sent.iter().filter(|m| m.key == key).map(|m| m.value.as_slice()).collect();
        assert_eq!(per_key[key], expected, "messages of {key} keep their send order");
    }
}

pub async fn a_key_always_maps_to_the_same_partition(f: &dyn TransportFixture) {
    let t = f.connect().await;
    let name = topic(&*t, "keys", 4).await;
    t.send(&name, (0..40).map(|i| outgoing(&format!("author-{}", i % 8), i)).collect()).await.unwrap();
    let mut consumer = t.subscribe(&unique("g"), std::slice::from_ref(&name), Membership::ALONE).await.unwrap();
    for m in consume(&mut *consumer, 40).await {
        assert_eq!(m.partition, partition_for(&m.key, 4), "{} is in the partition its key hashes to", m.key);
    }
}

pub async fn a_new_consumer_resumes_at_the_committed_offset(f: &dyn TransportFixture) {
    let t = f.connect().await;
    let name = topic(&*t, "resume", 1).await;
    let group = unique("g");
    t.send(&name, (0..10).map(|i| outgoing("k", i)).collect()).await.unwrap();
    let mut first = t.subscribe(&group, std::slice::from_ref(&name), Membership::ALONE).await.unwrap();
    let got = consume(&mut *first, 10).await;
    first.commit(&positions_after(&got[..4])).await.unwrap();
    drop(first);
    drop(t);
    let t = f.connect().await;
    let mut second = t.subscribe(&group, std::slice::from_ref(&name), Membership::ALONE).await.unwrap();
    let rest = consume(&mut *second, 6).await;
    let offsets: Vec<u64> = rest.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, (4..10).collect::<Vec<_>>());
}

pub async fn uncommitted_messages_are_delivered_again(f: &dyn TransportFixture) {
    let t = f.connect().await;
    let name = topic(&*t, "redeliver", 2).await;
    let group = unique("g");
    t.send(&name, (0..20).map(|i| outgoing(&format!("k{i}"), i)).collect()).await.unwrap();
    let mut first = t.subscribe(&group, std::slice::from_ref(&name), Membership::ALONE).await.unwrap();
    let seen = consume(&mut *first, 20).await;
    assert_eq!(seen.len(), 20);
    drop(first);
    let mut second = t.subscribe(&group, std::slice::from_ref(&name), Membership::ALONE).await.unwrap();
    assert_eq!(consume(&mut *second, 20).await.len(), 20, "nothing was committed, so everything comes again");
}

pub async fn groups_consume_independently(f: &dyn TransportFixture) {
    let t = f.connect().await;
    let name = topic(&*t, "groups", 2).await;
    t.send(&name, (0..30).map(|i| outgoing(&format!("k{i}"), i)).collect()).await.unwrap();
    let mut a = t.subscribe(&unique("a"), std::slice::from_ref(&name), Membership::ALONE).await.unwrap();
    let got_a = consume(&mut *a, 30).await;
    a.commit(&positions_after(&got_a)).await.unwrap();
    let mut b = t.subscribe(&unique("b"), std::slice::from_ref(&name), Membership::ALONE).await.unwrap();
    assert_eq!(consume(&mut *b, 30).await.len(), 30, "a commit of one group does not move another");
}

pub async fn members_of_a_group_split_the_partitions(f: &dyn TransportFixture) {
    let t = f.connect().await;
    let name = topic(&*t, "members", 4).await;
    let group = unique("g");
    t.send(&name, (0..80).map(|i| outgoing(&format!("k{i}"), i)).collect()).await.unwrap();
    let mut members = Vec::new();
    for member in 0..2 {
        let membership = Membership { member, members: 2 };
        members.push(t.subscribe(&group, std::slice::from_ref(&name), membership).await.unwrap());
    }
    let [m0, m1] = &mut members[..] else { unreachable!("two members") };
    let mut by_member = [BTreeSet::new(), BTreeSet::new()];
    let mut total = 0;
    let mut empty = 0;
    while total < 80 && empty < MAX_EMPTY_POLLS {
        let (b0, b1) = (m0.poll(80, POLL_WAIT).await.unwrap(), m1.poll(80, POLL_WAIT).await.unwrap());
        empty = if b0.is_empty() && b1.is_empty() { empty + 1 } else { 0 };
        total += b0.len() + b1.len();
        by_member[0].extend(b0.iter().map(|m| (m.partition, m.offset)));
        by_member[1].extend(b1.iter().map(|m| (m.partition, m.offset)));
    }
    assert_eq!(total, 80, "every message is delivered to exactly one member");
    assert!(by_member[0].is_disjoint(&by_member[1]));
    let partitions = |s: &BTreeSet<(u32, u64)>| s.iter().map(|(p, _)| *p).collect::<BTreeSet<_>>();
    assert!(partitions(&by_member[0]).is_disjoint(&partitions(&by_member[1])), "a partition belongs to one member");
}

pub async fn poll_wakes_up_for_messages_sent_while_waiting(f: &dyn TransportFixture) {
    let t = f.connect().await;
    let name = topic(&*t, "wake", 1).await;
    let mut consumer = t.subscribe(&unique("g"), std::slice::from_ref(&name), Membership::ALONE).await.unwrap();
    let sender = Arc::clone(&t);
    let topic_name = name.clone();
    let send = tokio::spawn(async move { sender.send(&topic_name, vec![outgoing("k", 1)]).await.unwrap() });
    // A long wait: the poll must return when the message arrives, not when the wait ends.
    let got = consumer.poll(10, Duration::from_secs(60)).await.unwrap();
    let got = if got.is_empty() { consume(&mut *consumer, 1).await } else { got };
    send.await.unwrap();
    assert_eq!(got.len(), 1);
}

pub async fn checkpoints_survive_reconnect(f: &dyn TransportFixture) {
    let t = f.connect().await;
    let name = unique("source");
    assert_eq!(t.read_checkpoint(&name).await.unwrap(), None);
    t.write_checkpoint(&name, "one").await.unwrap();
    t.write_checkpoint(&name, "two").await.unwrap();
    drop(t);
    assert_eq!(f.connect().await.read_checkpoint(&name).await.unwrap().as_deref(), Some("two"));
}

pub async fn end_offsets_and_group_lag_are_reported(f: &dyn TransportFixture) {
    let t = f.connect().await;
    let name = topic(&*t, "lag", 1).await;
    let group = unique("g");
    t.send(&name, (0..7).map(|i| outgoing("k", i)).collect()).await.unwrap();
    let info = t.topics().await.unwrap().into_iter().find(|i| i.name == name).expect("topic listed");
    assert_eq!(info.partitions.len(), 1);
    assert_eq!(info.partitions[0].end_offset, 7);
    let mut consumer = t.subscribe(&group, std::slice::from_ref(&name), Membership::ALONE).await.unwrap();
    let got = consume(&mut *consumer, 7).await;
    consumer.commit(&positions_after(&got[..3])).await.unwrap();
    let lag = t
        .group_lag(std::slice::from_ref(&group))
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.group == group)
        .expect("group listed");
    assert_eq!((lag.committed, lag.end_offset, lag.lag()), (3, 7, 4));
    let own: u64 = consumer.lag().await.unwrap().iter().map(|(_, l)| l).sum();
    assert_eq!(own, 0, "the consumer has read everything");
}

pub async fn a_consumer_reports_what_it_has_not_read_yet(f: &dyn TransportFixture) {
    let t = f.connect().await;
    let name = topic(&*t, "unread", 1).await;
    t.send(&name, (0..50).map(|i| outgoing("k", i)).collect()).await.unwrap();
    let mut consumer = t.subscribe(&unique("g"), std::slice::from_ref(&name), Membership::ALONE).await.unwrap();
    assert_eq!(consume(&mut *consumer, 20).await.len(), 20);
    let asked: u64 = consumer.lag().await.unwrap().iter().map(|(_, l)| l).sum();
    let known: u64 = consumer.recent_lag().await.unwrap().iter().map(|(_, l)| l).sum();
    assert_eq!((asked, known), (30, 30), "lag from the transport and as the consumer knows it");
}

pub async fn creating_a_topic_twice_is_fine_but_a_partition_mismatch_is_an_error(f: &dyn TransportFixture) {
    let t = f.connect().await;
    let name = topic(&*t, "twice", 2).await;
    t.create_topic(&name, 2).await.unwrap();
    match t.create_topic(&name, 3).await {
        Err(TransportError::PartitionMismatch { actual: 2, wanted: 3, .. }) => {}
        other => panic!("expected a partition mismatch, got {other:?}"),
    }
}

pub async fn sending_to_an_unknown_topic_is_an_error(f: &dyn TransportFixture) {
    let t = f.connect().await;
    match t.send(&unique("missing"), vec![outgoing("k", 0)]).await {
        Err(TransportError::UnknownTopic(_)) => {}
        other => panic!("expected an unknown-topic error, got {other:?}"),
    }
}

/// One test per contract property, for the transport `$fixture` builds.
#[macro_export]
macro_rules! transport_contract_suite {
    ($fixture:expr) => {
        $crate::transport_contract_suite!(@tests $fixture;
            messages_are_read_back_in_send_order_per_partition,
            a_key_always_maps_to_the_same_partition,
            a_new_consumer_resumes_at_the_committed_offset,
            uncommitted_messages_are_delivered_again,
            groups_consume_independently,
            members_of_a_group_split_the_partitions,
            poll_wakes_up_for_messages_sent_while_waiting,
            checkpoints_survive_reconnect,
            end_offsets_and_group_lag_are_reported,
            a_consumer_reports_what_it_has_not_read_yet,
            creating_a_topic_twice_is_fine_but_a_partition_mismatch_is_an_error,
            sending_to_an_unknown_topic_is_an_error);
    };
    (@tests $fixture:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $fixture;
                $crate::runtime::transport::contract::$name(&fixture).await;
            }
        )*
    };
}
