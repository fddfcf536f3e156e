//! The delivery contract every store sink passes (docs/architecture.md): a
//! redelivered batch creates no visible duplicate, an older version never
//! overwrites a newer one, what `write` acknowledged is visible to a new
//! connection, every record type is stored once; and, where they apply, a
//! record the store refuses goes to the DLQ with the store's message while
//! the rest is written, an outage loses nothing, a stalled server fails a
//! write by its deadline and loses nothing, counts beyond the store's
//! integers are refused, and migrations apply once and stop a sink that may
//! not migrate. `sink_compliance_suite!(Store, extras…)` makes each a named
//! test of the sink's own module, so a new sink gets all of it in one line.

use async_trait::async_trait;
use socialpipe_schemas::{ComponentError, Envelope, ErrorDomain, RecordKind, SheetRowRecord, Sink, SinkConfig};

use crate::testing::{PrivateServer, posts, unique};

/// A store of a test's own (a database, schema or file nobody else uses).
#[async_trait]
pub trait Store: Send + Sync + Sized {
    /// On the machine's server.
    fn on_machine() -> Self;
    /// The sink's configuration for this store.
    fn config(&self) -> Box<dyn SinkConfig>;
    /// Ids of the posts of `platform` as an analyst sees them: one entry per
    /// visible row (a duplicate would show twice), from a new connection.
    async fn visible_post_ids(&self, platform: &str) -> Vec<String>;
    /// The stored like count of a post.
    async fn likes(&self, id: &str) -> Option<i64>;
    /// How many rows (documents, nodes) a KOL score or sheet row with this id has.
    async fn stored(&self, kind: RecordKind, id: &str) -> u64;
    /// Tests of a store that share its server's data take turns on this.
    fn turns() -> Option<&'static tokio::sync::Mutex<()>> {
        None
    }

    async fn sink(&self) -> Result<Box<dyn Sink>, ComponentError> {
        self.config().build().await
    }
}

/// A store on a server a test can start and stop.
pub trait ServerStore: Store {
    /// The server's name in `scripts/services.sh`.
    const SERVER: &'static str;
    /// Other ports it listens on, as offsets from its own.
    const COMPANION_PORTS: &'static [i32];
    fn on_port(port: u16) -> Self;
}

/// A store on a server a test can stall, whose sink bounds each write.
pub trait StallStore: ServerStore {
    /// The same store, its sink's writes bounded by `timeout`.
    fn with_write_timeout(self, timeout: std::time::Duration) -> Self;
}

/// A store that refuses some post for good.
#[async_trait]
pub trait PoisonStore: Store {
    /// A post of `platform` the store refuses (after setting the store up to refuse it).
    async fn poison(&self, platform: &str) -> Envelope;
}

/// A store whose sink may be told not to migrate.
pub trait MigratingStore: Store {
    /// The store's migrations, all of which `migrate` applies to a new store.
    const MIGRATIONS: &'static [crate::migrations::Migration];
    fn config_without_migrations(&self) -> Box<dyn SinkConfig>;
}

/// The contract's tests for `$store` (a `Store`), plus the extras named:
/// `poison` (`PoisonStore`), `outage` (`ServerStore`), `stall`
/// (`StallStore`), `i64_counts` (the store's integers are signed 64-bit),
/// `migrations` (`MigratingStore`).
macro_rules! sink_compliance_suite {
    ($store:ty $(, $extra:ident)* $(,)?) => {
        $crate::compliance::sink_compliance_suite!(@test $store, redelivery_creates_no_duplicates);
        $crate::compliance::sink_compliance_suite!(@test $store, older_version_never_overwrites_newer);
        $crate::compliance::sink_compliance_suite!(@test $store, acknowledged_writes_are_visible_after_the_sink_is_gone);
        $crate::compliance::sink_compliance_suite!(@test $store, every_record_type_is_stored_once);
        $($crate::compliance::sink_compliance_suite!(@$extra $store);)*
    };
    (@poison $store:ty) => {
        $crate::compliance::sink_compliance_suite!(@test $store, poison_is_reported_and_the_rest_written);
    };
    (@outage $store:ty) => {
        $crate::compliance::sink_compliance_suite!(@test $store, outage_loses_nothing);
    };
    (@stall $store:ty) => {
        $crate::compliance::sink_compliance_suite!(@test $store, a_stalled_server_fails_the_write_as_transient_and_loses_nothing);
    };
    (@i64_counts $store:ty) => {
        $crate::compliance::sink_compliance_suite!(@test $store, counts_beyond_i64_are_refused);
    };
    (@migrations $store:ty) => {
        $crate::compliance::sink_compliance_suite!(@test $store, migrations_apply_once_and_a_missing_one_stops_a_sink_that_may_not_migrate);
    };
    (@test $store:ty, $name:ident) => {
        #[tokio::test]
        async fn $name() {
            let _turn = match <$store as $crate::compliance::Store>::turns() {
                Some(turns) => Some(turns.lock().await),
                None => None,
            };
            $crate::compliance::$name::<$store>().await;
        }
    };
}
pub(crate) use sink_compliance_suite;

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn ids(batch: &[Envelope]) -> Vec<String> {
    sorted(batch.iter().map(|e| e.id.clone()).collect())
}

pub async fn redelivery_creates_no_duplicates<S: Store>() {
    let (store, platform) = (S::on_machine(), unique("p"));
    let mut sink = store.sink().await.unwrap();
    let batch = posts(&platform, 0..50, 10);
    assert!(sink.write(&batch).await.unwrap().rejected.is_empty());
    // The whole batch again, then an overlapping one, as after a crash before the commit.
    sink.write(&batch).await.unwrap();
    let overlapping = posts(&platform, 40..60, 10);
    sink.write(&overlapping).await.unwrap();
    // And a batch holding one id twice.
    let twice = [posts(&platform, 60..61, 10), posts(&platform, 60..61, 11)].concat();
    sink.write(&twice).await.unwrap();
    let expected: Vec<String> = ids(&posts(&platform, 0..61, 10));
    assert_eq!(sorted(store.visible_post_ids(&platform).await), expected);
}

pub async fn older_version_never_overwrites_newer<S: Store>() {
    let (store, platform) = (S::on_machine(), unique("p"));
    let mut sink = store.sink().await.unwrap();
    let newer = vec![crate::testing::post(&platform, 1, 500, 20)];
    let older = vec![crate::testing::post(&platform, 1, 100, 10)];
    sink.write(&newer).await.unwrap();
    sink.write(&older).await.unwrap();
    assert_eq!(store.likes(&newer[0].id).await, Some(500));
    let newest = vec![crate::testing::post(&platform, 1, 900, 30)];
    sink.write(&newest).await.unwrap();
    assert_eq!(store.likes(&newer[0].id).await, Some(900));
}

pub async fn poison_is_reported_and_the_rest_written<S: PoisonStore>() {
    let (store, platform) = (S::on_machine(), unique("p"));
    let poison = store.poison(&platform).await;
    let mut sink = store.sink().await.unwrap();
    let mut batch = posts(&platform, 0..10, 10);
    batch.insert(4, poison);
    let report = sink.write(&batch).await.unwrap();
    assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
    let (index, error) = &report.rejected[0];
    assert_eq!(*index, 4);
    assert_eq!(error.domain, ErrorDomain::Invalid);
    assert!(!error.reason.is_empty());
    batch.remove(4);
    assert_eq!(sorted(store.visible_post_ids(&platform).await), ids(&batch));
}

pub async fn acknowledged_writes_are_visible_after_the_sink_is_gone<S: Store>() {
    let (store, platform) = (S::on_machine(), unique("p"));
    let mut sink = store.sink().await.unwrap();
    let batch = posts(&platform, 0..200, 10);
    sink.write(&batch).await.unwrap();
    drop(sink);
    assert_eq!(sorted(store.visible_post_ids(&platform).await), ids(&batch));
}

/// Writes while the server is down fail as transient (the runner retries them
/// and stops reading); after the restart the same sink writes again and
/// everything acknowledged before and after is there.
pub async fn outage_loses_nothing<S: ServerStore>() {
    let server = PrivateServer::start(S::SERVER, S::COMPANION_PORTS);
    let (store, platform) = (S::on_port(server.port), unique("p"));
    let mut sink = store.sink().await.unwrap();
    let before = posts(&platform, 0..100, 10);
    sink.write(&before).await.unwrap();
    server.stop();
    let during = posts(&platform, 100..200, 10);
    let error = sink.write(&during).await.expect_err("a write while the server is down must fail");
    assert_eq!(error.domain, ErrorDomain::Transient, "{}", error.reason);
    server.restart();
    write_with_retries(sink.as_mut(), &during).await;
    let expected = ids(&[before, during].concat());
    assert_eq!(sorted(store.visible_post_ids(&platform).await), expected);
}

/// The runner's retry of a batch, bounded here: a server back from an
/// outage or a stall may refuse the first attempts while it recovers.
async fn write_with_retries(sink: &mut dyn Sink, batch: &[Envelope]) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match sink.write(batch).await {
            Ok(report) => {
                assert!(report.rejected.is_empty());
                return;
            }
            Err(e) if e.domain == ErrorDomain::Transient && attempts < 50 => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await
            }
            Err(e) => panic!("write after the server came back failed ({attempts} attempts): {}", e.reason),
        }
    }
}

/// A server that stops answering (its processes stopped, connections left
/// open) fails a write as transient once the sink's write deadline passes,
/// rather than hanging the sink; the write is not acknowledged, and once the
/// server answers again the retry writes it (once, even where the abandoned
/// write landed after all).
pub async fn a_stalled_server_fails_the_write_as_transient_and_loses_nothing<S: StallStore>() {
    let server = PrivateServer::start(S::SERVER, S::COMPANION_PORTS);
    // Far above a healthy write of these small batches, even on a busy machine.
    let deadline = std::time::Duration::from_secs(3);
    let (store, platform) = (S::on_port(server.port).with_write_timeout(deadline), unique("p"));
    let mut sink = store.sink().await.unwrap();
    let before = posts(&platform, 0..20, 10);
    sink.write(&before).await.unwrap();
    let during = posts(&platform, 20..40, 10);
    {
        let _stalled = server.stall();
        // Three times the deadline. Without one the write hangs (PostgreSQL,
        // Bolt) or waits for the driver's monitor (MongoDB's: 10 to 20 s).
        let outcome = tokio::time::timeout(deadline * 3, sink.write(&during))
            .await
            .expect("a write to a stalled server must end by the sink's deadline");
        let error = outcome.expect_err("a write the server never answered must not be acknowledged");
        assert_eq!(error.domain, ErrorDomain::Transient, "{}", error.reason);
    }
    write_with_retries(sink.as_mut(), &during).await;
    let expected = ids(&[before, during].concat());
    assert_eq!(sorted(store.visible_post_ids(&platform).await), expected);
}

/// A KOL score and a sheet row (each written twice) are stored once each.
pub async fn every_record_type_is_stored_once<S: Store>() {
    let (store, platform) = (S::on_machine(), unique("p"));
    let (score, score_envelope) = crate::testing::kol_score(&platform, "2026-11-20T00:00:00Z", 64.5);
    let mut cells = serde_json::Map::new();
    cells.insert("handle".into(), "ann".into());
    cells.insert("followers".into(), 1200.into());
    let sheet = SheetRowRecord {
        file_id: format!("file_{platform}"),
        file_name: "kols.xlsx".into(),
        sheet: "Sheet1".into(),
        row_key: "ann".into(),
        row_number: 2,
        cells,
        content_hash: "abc".into(),
        author: None,
    };
    let record =
        |kind, id: String, key: String, payload| Envelope::new(kind, id, key, "test", score.computed_at, payload);
    let batch = vec![
        score_envelope,
        record(RecordKind::SheetRow, sheet.record_id(), sheet.file_id.clone(), Envelope::encode_payload(&sheet)),
        crate::testing::post(&platform, 1, 1, 10),
    ];
    let mut sink = store.sink().await.unwrap();
    assert!(sink.write(&batch).await.unwrap().rejected.is_empty());
    sink.write(&batch).await.unwrap();
    assert_eq!(store.stored(RecordKind::KolScore, &score.record_id()).await, 1);
    assert_eq!(store.stored(RecordKind::SheetRow, &sheet.record_id()).await, 1);
}

/// A like count beyond i64 (valid in a raw post) is refused with the reason
/// by stores whose integers are signed 64-bit; the rest of the batch is written.
pub async fn counts_beyond_i64_are_refused<S: Store>() {
    let (store, platform) = (S::on_machine(), unique("p"));
    let mut sink = store.sink().await.unwrap();
    let batch = vec![crate::testing::post(&platform, 1, u64::MAX, 10), crate::testing::post(&platform, 2, 5, 10)];
    let report = sink.write(&batch).await.unwrap();
    assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
    assert_eq!(report.rejected[0].0, 0);
    assert_eq!(report.rejected[0].1.domain, ErrorDomain::Invalid);
    assert_eq!(store.visible_post_ids(&platform).await, vec![batch[1].id.clone()]);
}

/// `migrate` applies every migration once; a sink that may not migrate
/// refuses (fatally, naming the command) a store behind, and opens once it is not.
pub async fn migrations_apply_once_and_a_missing_one_stops_a_sink_that_may_not_migrate<S: MigratingStore>() {
    migrations_apply_once_to(S::on_machine()).await
}

/// The same on a given (new) store.
pub async fn migrations_apply_once_to<S: MigratingStore>(store: S) {
    let error = store.config_without_migrations().build().await.err().expect("an unmigrated store must refuse");
    assert_eq!(error.domain, ErrorDomain::Fatal, "{}", error.reason);
    assert!(error.reason.contains("socialpipe migrate"), "{}", error.reason);
    let applied = store.config().migrate().await.unwrap().expect("a store sink migrates");
    assert_eq!(applied, S::MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>(), "every migration, in order");
    assert_eq!(store.config().migrate().await.unwrap(), Some(Vec::new()), "applied once");
    store.config_without_migrations().build().await.unwrap();
}
