//! The command line: clear one-line errors with locations, and admin
//! commands that work while `run` holds the embedded log.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;

fn failing(args: &[&str]) -> String {
    let output = run(args);
    assert!(!output.status.success(), "expected failure of {args:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    stderr.trim_end().to_owned()
}

#[test]
fn config_errors_name_file_line_and_key_and_exit_non_zero() {
    let scratch = Scratch::new();
    let unknown = scratch.config("unknown.toml", &TOPOLOGY.replace("[[stages]]", "[[stages]]\ncolour = \"red\""));
    let unknown = unknown.to_str().unwrap();
    for command in ["validate", "run"] {
        let e = failing(&[command, "--config", unknown]);
        assert!(e.starts_with(&format!("error: {unknown}:18: stages[0].colour: unknown field `colour`")), "{e}");
    }

    let env = scratch
        .config("env.toml", &TOPOLOGY.replace("path = \"{dir}/out.db\"", "path = \"${SOCIALPIPE_TEST_UNSET_DB}\""));
    let e = failing(&["validate", "--config", env.to_str().unwrap()]);
    assert_eq!(
        e,
        format!(
            "error: {}:22: sinks.db.path: environment variable SOCIALPIPE_TEST_UNSET_DB is not set (give a default with ${{SOCIALPIPE_TEST_UNSET_DB:-…}})",
            env.display()
        )
    );

    let typed = scratch.config("typed.toml", &TOPOLOGY.replace("poll_wait_ms = 50", "poll_wait_ms = \"fast\""));
    let e = failing(&["validate", "--config", typed.to_str().unwrap()]);
    assert!(
        e.starts_with(&format!(
            "error: {}:10: runtime.poll_wait_ms: invalid type: string \"fast\", expected u64",
            typed.display()
        )),
        "{e}"
    );

    let missing = failing(&["validate", "--config", scratch.path("nope.toml").to_str().unwrap()]);
    assert!(missing.contains("nope.toml: No such file or directory"), "{missing}");
}

/// Existing configuration files keep loading: every bundled example
/// passes `validate` with its environment defaults and the fetched models.
#[test]
fn every_example_validates() {
    let examples: Vec<_> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    assert!(examples.len() >= 3, "{examples:?}");
    for example in examples {
        let output = socialpipe().current_dir(root()).args(["validate", "--config"]).arg(&example).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr} (run scripts/fetch-models.sh)", example.display());
    }
}

#[test]
fn validate_accepts_a_good_config_and_rejects_endless_sources_with_once() {
    let scratch = Scratch::new();
    write_posts(&scratch.path("posts.jsonl"), 1, 10, 0);
    let good = scratch.config("good.toml", TOPOLOGY);
    let output = run(&["validate", "--config", good.to_str().unwrap(), "--once"]);
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ok: 1 source(s), 1 stage(s), 1 sink(s)");
    let follow =
        scratch.config("follow.toml", &TOPOLOGY.replace("type = \"jsonl\"", "type = \"jsonl\"\nfollow = true"));
    let e = failing(&["run", "--config", follow.to_str().unwrap(), "--once"]);
    assert_eq!(e, "error: sources.posts: never ends (follow/stream mode), so it cannot run with --once");
}

#[test]
fn admin_commands_work_while_run_holds_the_log() {
    let scratch = Scratch::new();
    std::fs::write(scratch.path("posts.jsonl"), "").unwrap();
    let port = free_port();
    // The daemon's only source reads an empty file and finishes; the stages
    // and sinks keep running for what `produce` writes meanwhile.
    let daemon = TOPOLOGY.replace("enabled = false", &format!("listen = \"127.0.0.1:{port}\""));
    let config = scratch.config("daemon.toml", &daemon);
    let config = config.to_str().unwrap();
    let mut child = spawn(&["run", "--config", config]);
    wait_until("the daemon to be ready", Duration::from_secs(60), Some(&mut child), || {
        http_get(port, "/health/ready").is_some_and(|(s, _)| s == 200)
    });

    // A follower of the output topic, started while it is still empty.
    let mut follower = Daemon::from(
        socialpipe()
            .args(["tail", "--config", config, "enriched.posts", "--follow"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let follower_out = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(follower_out)) {
            if lines_tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });

    // produce: valid lines to the log, an invalid one to dlq.produce.
    let mut input = Vec::new();
    let lines = scratch.path("more.jsonl");
    let ids = write_posts(&lines, 2, 300, 0);
    input.extend(std::fs::read(&lines).unwrap());
    input.extend_from_slice(b"{\"platform\":\"x\"}\n");
    let mut produce = socialpipe()
        .args(["produce", "--config", config, "raw.posts"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    produce.stdin.take().unwrap().write_all(&input).unwrap();
    let output = produce.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "300 written to raw.posts, 1 rejected to dlq.produce");
    wait_until("the produced posts in the sink", Duration::from_secs(60), Some(&mut child), || {
        post_count(&scratch.db()) == 300
    });
    assert_eq!(post_ids(&scratch.db()), ids);

    // The sink commits just after its rows become visible: wait for the commit.
    let sink_caught_up = |topics: &str| {
        topics.lines().any(|l| l.split_whitespace().eq(["socialpipe.sink.db", "enriched.posts", "300", "0"]))
    };
    wait_until("the sink group to commit everything", Duration::from_secs(60), Some(&mut child), || {
        sink_caught_up(&String::from_utf8(run(&["topics", "--config", config]).stdout).unwrap())
    });
    let topics = String::from_utf8(run(&["topics", "--config", config]).stdout).unwrap();
    let raw = topics.lines().find(|l| l.starts_with("raw.posts ")).expect("raw.posts listed");
    assert_eq!(raw.split_whitespace().nth(2), Some("300"), "{topics}");
    assert!(sink_caught_up(&topics), "{topics}");

    let followed: std::collections::BTreeSet<String> = (0..300)
        .map(|_| {
            let line = lines_rx.recv_timeout(Duration::from_secs(60)).expect("tail --follow prints every new envelope");
            serde_json::from_str::<serde_json::Value>(&line).unwrap()["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(followed, ids);
    follower.kill().unwrap();
    follower.wait().unwrap();

    let tail = run(&["tail", "--config", config, "enriched.posts", "--limit", "2"]);
    let envelopes: Vec<serde_json::Value> = tail
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(envelopes.len(), 2);
    assert!(envelopes.iter().all(|e| e["schema"] == "post/v1" && e["enrichments"]["entities"].is_object()));

    let dlq = String::from_utf8(run(&["dlq", "show", "--config", config, "produce"]).stdout).unwrap();
    assert!(
        dlq.contains("\"reason\":\"id: missing; text: missing; created_at: missing; author.id: missing\""),
        "{dlq}"
    );

    assert_eq!(metric(port, "component_sent_events_total{component=\"db\",kind=\"sink\"}"), 300);
    sigterm(&child);
    let (status, stderr) = stderr_of(child);
    assert!(status.success(), "{stderr}");
}

#[test]
fn admin_commands_refuse_a_log_that_does_not_exist() {
    let scratch = Scratch::new();
    std::fs::write(scratch.path("posts.jsonl"), "").unwrap();
    let config = scratch.config("app.toml", TOPOLOGY);
    let e = failing(&["topics", "--config", config.to_str().unwrap()]);
    assert_eq!(
        e,
        format!("error: no log at {} (start `socialpipe run` with this config first)", scratch.log_dir().display())
    );
    assert!(!scratch.log_dir().exists(), "nothing was created");
}

/// No Docker engine runs here, so what the image and the compose stack take
/// from the repository is checked instead: every `COPY` source and every
/// mounted path exists, and every configuration the stack mounts validates.
#[test]
fn the_image_and_the_compose_stack_name_files_that_exist_and_configs_that_validate() {
    let root = root();
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let copies: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from=")).collect();
    assert!(!copies.is_empty());
    for line in copies {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(root.join(source).exists(), "Dockerfile: {line}: {source} does not exist");
        }
    }
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    let mounted: Vec<&str> =
        compose.lines().filter_map(|l| l.trim().strip_prefix("- ./")).map(|m| m.split(':').next().unwrap()).collect();
    assert!(mounted.iter().any(|m| m.ends_with("production.toml")), "{mounted:?}");
    for path in mounted {
        assert!(root.join(path).exists(), "docker-compose.yml mounts ./{path}, which does not exist");
        if path.ends_with(".toml") {
            let output = socialpipe().current_dir(&root).args(["validate", "--config", path]).output().unwrap();
            assert!(output.status.success(), "{path}: {}", String::from_utf8_lossy(&output.stderr));
        }
    }
}
