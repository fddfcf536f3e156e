//! kill -9 at any moment loses no acknowledged record, and restarts leave
//! no duplicate an analyst could see.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn kill_9_five_times_mid_stream_then_the_sink_holds_exactly_the_unique_input_ids() {
    let scratch = Scratch::new();
    let input = scratch.path("posts.jsonl");
    // 100k posts plus 2k repeated lines: the sink must end with the distinct ids.
    let ids = write_posts(&input, 11, 100_000, 2_000);
    let unique = ids.len() as u64;
    let config = scratch.config("app.toml", TOPOLOGY);
    let config = config.to_str().unwrap();

    for (kill, percent) in [15u64, 30, 45, 60, 75].into_iter().enumerate() {
        let mut child = spawn(&["run", "--config", config, "--once"]);
        let target = unique * percent / 100;
        wait_until(&format!("{percent}% of the posts in the sink"), Duration::from_secs(300), Some(&mut child), || {
            post_count(&scratch.db()) >= target
        });
        child.kill().expect("kill -9");
        child.wait().unwrap();
        let at_kill = post_count(&scratch.db());
        eprintln!("kill {}: {at_kill} of {unique} posts stored ({}%)", kill + 1, at_kill * 100 / unique);
        assert!(
            at_kill * 10 >= unique && at_kill * 10 <= unique * 9,
            "kill {} happened at {at_kill}/{unique}, outside 10–90 %",
            kill + 1
        );
    }

    run_ok(&["run", "--config", config, "--once"]);
    let stored = post_ids(&scratch.db());
    assert_eq!(stored.len() as u64, unique, "every distinct input id is stored once");
    assert!(stored == ids, "the stored ids are exactly the input ids");
    let writes = deliveries(&scratch.db());
    eprintln!("deliveries: {writes} writes for {unique} distinct posts ({} redelivered or repeated)", writes - unique);
    assert!(writes >= unique + 2_000, "the repeated input lines were written again, not dropped");
}
