//! The `kflow` command line, run as a user would, against the real broker (tansu) and
//! schema registry (rivven-schema).

#[path = "../../connectors/kafka/tests/common/broker.rs"]
mod broker;
#[path = "../../connectors/schema-registry/tests/common/registry.rs"]
mod registry;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use broker::unique;
use serde_json::Value;

/// Runs `kflow --brokers <test broker> args...` with `stdin`.
fn kflow(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kflow"))
        .arg("--brokers")
        .arg(broker::address())
        .args(args)
        .env_remove("KAFKA_BROKERS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kflow");
    // A command that fails before reading its input (a usage error) may close stdin
    // first: its exit status tells the test what it needs.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing kflow's input: {e}"),
        _ => {}
    }
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &str) -> String {
    let out = kflow(args, stdin);
    assert!(
        out.status.success(),
        "kflow {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str], stdin: &str) -> String {
    let out = kflow(args, stdin);
    assert!(!out.status.success(), "kflow {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

/// `kflow consume --from-beginning -n count -o json`, parsed.
fn consume(topic: &str, count: usize, extra: &[&str]) -> Vec<Value> {
    let n = count.to_string();
    let mut args = vec![
        "consume",
        topic,
        "--from-beginning",
        "-n",
        &n,
        "--output",
        "json",
        "--idle-timeout",
        "20",
    ];
    args.extend(extra);
    ok(&args, "")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn topics_are_created_listed_described_and_deleted() {
    let topic = unique("cli-topic");
    let out = ok(
        &["topics", "create", &topic, "-p", "3", "-c", "retention.ms=3600000"],
        "",
    );
    assert!(out.contains(&format!("created {topic}")), "{out}");
    let again = ok(&["topics", "create", &topic, "-p", "3"], "");
    assert!(again.contains("already exists"), "{again}");
    let list = ok(&["topics", "list"], "");
    assert!(
        list.lines()
            .any(|l| l.starts_with(&topic) && l.trim_end().ends_with('3')),
        "{list}"
    );
    let described = ok(&["topics", "describe", &topic], "");
    assert!(described.contains("3 partition(s)"), "{described}");
    assert!(described.contains("retention.ms=3600000"), "{described}");
    let refused = fails(&["topics", "delete", &topic], "");
    assert!(refused.contains("--yes"), "{refused}");
    ok(&["topics", "delete", &topic, "--yes"], "");
    let err = fails(&["topics", "create", "bad name", "-p", "1"], "");
    assert!(err.contains("bad name"), "{err}");
}

#[test]
fn produced_json_lines_come_back_with_keys_headers_partitions_and_timestamps() {
    let topic = unique("cli-produce");
    ok(&["topics", "create", &topic, "-p", "3"], "");
    let lines = r#"{"key": "a", "value": {"n": 1}, "headers": {"source": "cli"}, "partition": 2, "timestamp": 1700000000000}
{"key": "b", "value": {"n": 2}, "partition": 1}

{"value": "plain", "partition": 0}
"#;
    let out = kflow(&["produce", &topic, "--envelope", "-H", "batch=7"], lines);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains(&format!("sent 3 record(s) to {topic}")), "{summary}");

    let mut got = consume(&topic, 3, &[]);
    got.sort_by_key(|r| r["partition"].as_i64());
    assert_eq!(got[0]["value"], "plain");
    assert_eq!(got[1]["key"], "b");
    assert_eq!(got[1]["value"]["n"], 2);
    assert_eq!(got[2]["key"], "a");
    assert_eq!(got[2]["value"], serde_json::json!({"n": 1}));
    assert_eq!(got[2]["headers"]["source"], "cli");
    assert_eq!(got[2]["headers"]["batch"], "7");
    assert_eq!(got[2]["timestamp"], 1_700_000_000_000i64);
}

#[test]
fn keys_from_a_field_hash_like_kafka_and_a_file_loads_in_bulk() {
    let topic = unique("cli-bulk");
    ok(&["topics", "create", &topic, "-p", "4"], "");
    let dir = std::env::temp_dir().join(unique("cli-bulk-file"));
    let body: String = (0..2_000)
        .map(|i| format!("{{\"user\": \"u{}\", \"i\": {i}}}\n", i % 25))
        .collect();
    std::fs::write(&dir, body).unwrap();
    let out = kflow(
        &[
            "produce",
            &topic,
            "--file",
            dir.to_str().unwrap(),
            "--key-field",
            "user",
            "--compression",
            "lz4",
        ],
        "",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = consume(&topic, 2_000, &[]);
    assert_eq!(got.len(), 2_000);
    for r in &got {
        let key = r["key"].as_str().unwrap();
        assert_eq!(key, r["value"]["user"].as_str().unwrap());
        let expected = kflow::plumbing::transport::partition_for_key(key.as_bytes(), 4) as i64;
        assert_eq!(r["partition"].as_i64().unwrap(), expected, "key {key}");
    }
}

#[test]
fn a_malformed_line_is_reported_by_number_and_nothing_is_sent() {
    let topic = unique("cli-bad");
    ok(&["topics", "create", &topic, "-p", "1"], "");
    let err = fails(&["produce", &topic], "{\"ok\": 1}\n{\"ok\": 2}\n{oops}\n");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    let err = fails(
        &["produce", &topic, "--key-field", "id"],
        "{\"id\": 1}\n{\"other\": 2}\n",
    );
    assert!(err.contains("line 2") && err.contains("`id`"), "{err}");
    let out = kflow(
        &[
            "consume",
            &topic,
            "--from-beginning",
            "--idle-timeout",
            "3",
            "--output",
            "json",
        ],
        "",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "", "nothing was written");

    let missing = unique("cli-missing");
    let err = fails(&["produce", &missing], "{}\n");
    assert!(err.contains(&missing) && err.contains("does not exist"), "{err}");
    let err = fails(&["consume", &missing, "-n", "1"], "");
    assert!(err.contains(&missing), "{err}");
}

#[test]
fn groups_show_lag_and_reset_offsets_only_with_execute() {
    let topic = unique("cli-groups");
    let group = unique("cli-group");
    ok(&["topics", "create", &topic, "-p", "2"], "");
    let body: String = (0..10)
        .map(|i| format!("{{\"value\": {i}, \"partition\": {}}}\n", i % 2))
        .collect();
    ok(&["produce", &topic, "--envelope"], &body);
    // A short session: tansu holds each group join for half of it.
    let as_group = ["--group", group.as_str(), "-X", "session.timeout.ms=6000"];
    assert_eq!(consume(&topic, 10, &as_group).len(), 10);

    let list = ok(&["groups", "list"], "");
    assert!(list.contains(&group), "{list}");
    let lag = ok(&["groups", "lag", &group], "");
    let committed: Vec<&str> = lag.lines().filter(|l| l.starts_with(&topic)).collect();
    assert_eq!(committed.len(), 2, "{lag}");
    assert!(
        committed.iter().all(|l| l.split_whitespace().nth(2) == Some("5")),
        "{lag}"
    );

    let plan = ok(
        &["groups", "reset-offsets", &group, "--topic", &topic, "--to-earliest"],
        "",
    );
    assert!(plan.contains("plan only"), "{plan}");
    let still = ok(&["groups", "lag", &group, "--topic", &topic], "");
    assert!(still
        .lines()
        .filter(|l| l.starts_with(&topic))
        .all(|l| l.split_whitespace().nth(2) == Some("5")));

    let done = ok(
        &[
            "groups",
            "reset-offsets",
            &group,
            "--topic",
            &topic,
            "--to-earliest",
            "--execute",
        ],
        "",
    );
    assert!(done.contains("reset 2 partition(s)"), "{done}");
    assert_eq!(consume(&topic, 10, &as_group).len(), 10, "read again from the start");

    let err = fails(&["groups", "reset-offsets", &group, "--topic", &topic], "");
    assert!(err.contains("--to-earliest"), "{err}");
}

#[test]
fn dead_letters_are_replayed_to_their_topic_without_failure_headers() {
    let (orders, dlq) = (unique("cli-orders"), unique("cli-orders") + ".dlq");
    ok(&["topics", "create", &orders, "-p", "1"], "");
    ok(&["topics", "create", &dlq, "-p", "1"], "");
    let body = format!(
        "{{\"key\": \"k1\", \"value\": {{\"id\": 1}}, \"headers\": {{\"kflow.original.topic\": \"{orders}\", \"kflow.error.message\": \"boom\", \"trace\": \"t1\"}}}}\n"
    );
    ok(&["produce", &dlq, "--envelope"], &body);
    let out = ok(&["dlq", "replay", &dlq, "--idle-timeout", "3"], "");
    assert!(out.contains("replayed 1 record(s)"), "{out}");
    let got = consume(&orders, 1, &[]);
    assert_eq!(got[0]["key"], "k1");
    assert_eq!(got[0]["value"]["id"], 1);
    assert_eq!(got[0]["headers"]["trace"], "t1");
    assert!(got[0]["headers"].get("kflow.error.message").is_none(), "{:?}", got[0]);
}

#[test]
fn avro_values_are_written_and_read_through_the_schema_registry() {
    let topic = unique("cli-avro");
    ok(&["topics", "create", &topic, "-p", "1"], "");
    let schema = std::env::temp_dir().join(unique("cli-avro-schema"));
    let record = format!(
        r#"{{"type": "record", "name": "CliOrder{}", "fields": [{{"name": "id", "type": "long"}}, {{"name": "item", "type": "string"}}]}}"#,
        std::process::id()
    );
    std::fs::write(&schema, record).unwrap();
    let url = registry::url();
    let schema = schema.to_str().unwrap();
    let args = [
        "--schema-registry",
        &url,
        "produce",
        &topic,
        "--value-format",
        "avro",
        "--value-schema",
        schema,
    ];
    ok(
        &args,
        "{\"id\": 1, \"item\": \"pen\"}\n{\"id\": 2, \"item\": \"ink\"}\n",
    );
    let got = consume(&topic, 2, &["--value-format", "avro", "--schema-registry", &url]);
    let values: Vec<&Value> = got.iter().map(|r| &r["value"]).collect();
    assert_eq!(
        values,
        [
            &serde_json::json!({"id": 1, "item": "pen"}),
            &serde_json::json!({"id": 2, "item": "ink"})
        ]
    );
    let plain = consume(&topic, 1, &[]);
    assert!(plain[0]["value"].is_string(), "not JSON on the wire: {:?}", plain[0]);

    let err = fails(&args, "{\"id\": \"x\"}\n");
    assert!(err.contains("line 1") && err.contains("nothing was sent"), "{err}");
}

#[test]
fn the_cluster_is_described_and_checked() {
    let info = ok(&["cluster", "info"], "");
    assert!(info.contains(&broker::address()), "the broker's address: {info}");
    let json: Value = serde_json::from_str(ok(&["--json", "cluster", "info"], "").trim()).unwrap();
    assert_eq!(json["brokers"].as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(json["controller"], json["brokers"][0]["id"], "{json}");
    assert!(info.contains("(controller)"), "the controller is marked: {info}");
    let topic = unique("cli-health");
    ok(&["topics", "create", &topic, "--partitions", "2"], "");
    let health = ok(&["cluster", "health", "--topic", &topic], "");
    assert!(health.contains("2 partition(s) checked, 0 unhealthy"), "{health}");
    let err = fails(&["cluster", "health", "--topic", "no-such-cli-topic"], "");
    assert!(err.contains("no-such-cli-topic"), "{err}");
}

#[test]
fn topic_changes_say_what_the_broker_refused_and_groups_are_deleted() {
    let topic = unique("cli-change");
    ok(&["topics", "create", &topic, "--partitions", "2"], "");
    // tansu implements neither CreatePartitions nor AlterConfigs: the CLI says so.
    let err = fails(&["topics", "add-partitions", &topic, "--partitions", "4"], "");
    assert!(err.contains("does not support CreatePartitions"), "{err}");
    let err = fails(&["topics", "add-partitions", &topic, "--partitions", "1"], "");
    assert!(err.contains("only be added"), "{err}");
    let err = fails(&["topics", "alter-config", &topic, "--set", "retention.ms=1000"], "");
    assert!(err.contains("does not support AlterConfigs"), "{err}");
    let err = fails(&["topics", "alter-config", &topic], "");
    assert!(err.contains("nothing to change"), "{err}");

    let group = unique("cli-delete-group");
    ok(
        &[
            "groups",
            "reset-offsets",
            &group,
            "--topic",
            &topic,
            "--to-earliest",
            "--execute",
        ],
        "",
    );
    assert!(ok(&["groups", "list"], "").contains(&group));
    let err = fails(&["groups", "delete", &group], "");
    assert!(err.contains("--yes"), "{err}");
    ok(&["groups", "delete", &group, "--yes"], "");
    assert!(!ok(&["groups", "list"], "").contains(&group), "deleted");
}

#[test]
fn consume_takes_kcat_offsets_partitions_formats_and_stops_at_the_end() {
    let topic = unique("cli-kcat");
    ok(&["topics", "create", &topic, "--partitions", "2"], "");
    ok(&["produce", &topic, "--partition", "0"], "0\n1\n2\n3\n4\n");
    ok(&["produce", &topic, "--partition", "1"], "10\n11\n12\n13\n14\n");
    let lines = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["consume", topic.as_str()];
        all.extend(args);
        let mut out: Vec<String> = ok(&all, "").lines().map(str::to_string).collect();
        out.sort();
        out
    };
    // -e stops by itself at the end of every partition read.
    assert_eq!(lines(&["-o", "beginning", "-e", "-f", "%p:%o:%v\\n"]).len(), 10);
    assert_eq!(lines(&["-o", "3", "-p", "0", "-e", "-f", "%o=%v\\n"]), ["3=3", "4=4"]);
    // `-N` counts back from the broker's end offset, which tansu reports wrongly (it
    // reads from the start there): checked on librdkafka's mock cluster below.
    assert_eq!(
        lines(&["-o", "beginning", "-p", "1", "-e", "-f", "%t|%k|%S\\n"])
            .first()
            .map(String::as_str),
        Some(format!("{topic}||2").as_str()),
        "no key, two-byte values"
    );
    // tansu answers an offset lookup by time with 0: `@` reads from the start there.
    assert_eq!(lines(&["-o", "@0", "-e", "-f", "%v\\n"]).len(), 10);

    let out = kflow(&["consume", &topic, "-o", "nope"], "");
    assert_eq!(out.status.code(), Some(2), "a usage error exits with 2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an offset"));
    let err = fails(&["consume", &topic, "-p", "7", "-e"], "");
    assert!(err.contains("no partition 7"), "{err}");
    let err = fails(&["consume", &topic, "--group", "g", "-o", "beginning"], "");
    assert!(err.contains("leave out --group"), "{err}");

    // kcat's key and record delimiters.
    let keyed = unique("cli-kcat-keys");
    ok(&["topics", "create", &keyed, "--partitions", "1"], "");
    ok(&["produce", &keyed, "--raw", "-K", ":"], "a:1\nb:2\n");
    let delimited = |delimiters: &[&str]| {
        let mut args = vec![
            "consume",
            keyed.as_str(),
            "-o",
            "beginning",
            "-e",
            "--value-format",
            "string",
        ];
        args.extend(delimiters);
        ok(&args, "")
    };
    assert_eq!(delimited(&["-K", "=", "-D", ";"]), "a=1;b=2;");
    let out = delimited(&["-K", "\\t"]);
    assert_eq!(out, "a\t1\nb\t2\n", "tabs spelt \\t, records one per line");

    // consume --output json | produce --envelope: the same records, partitions kept.
    let copy = unique("cli-kcat-copy");
    ok(&["topics", "create", &copy, "--partitions", "2"], "");
    let dump = ok(&["consume", &topic, "-o", "beginning", "-e", "--output", "json"], "");
    ok(&["produce", &copy, "--envelope"], &dump);
    let mut again: Vec<String> = ok(&["consume", &copy, "-o", "beginning", "-e", "-f", "%p:%v\\n"], "")
        .lines()
        .map(str::to_string)
        .collect();
    again.sort();
    let mut want: Vec<String> = (0..5)
        .map(|v| format!("0:{v}"))
        .chain((10..15).map(|v| format!("1:{v}")))
        .collect();
    want.sort();
    assert_eq!(again, want);
}

/// `kflow --brokers <mock cluster> args...`.
fn kflow_on(brokers: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kflow"))
        .arg("--brokers")
        .arg(brokers)
        .args(args)
        .env_remove("KAFKA_BROKERS")
        .stdin(Stdio::null())
        .output()
        .expect("run kflow")
}

#[test]
fn consume_from_n_before_the_end_on_a_broker_with_true_end_offsets() {
    let mock = kflow::kafka::EmbeddedBroker::start().expect("librdkafka's mock cluster");
    mock.create_topic("tail", 1).unwrap();
    let brokers = mock.bootstrap_servers().to_string();
    let produced = Command::new(env!("CARGO_BIN_EXE_kflow"))
        .args(["--brokers", &brokers, "produce", "tail", "--partition", "0"])
        .env_remove("KAFKA_BROKERS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(b"1\n2\n3\n4\n5\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        produced.status.success(),
        "{}",
        String::from_utf8_lossy(&produced.stderr)
    );
    let out = kflow_on(&brokers, &["consume", "tail", "-o", "-2", "-e", "-f", "%o:%v\\n"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "3:4\n4:5\n");
}

#[test]
fn raw_lines_stream_with_keys_split_at_a_delimiter() {
    let topic = unique("cli-raw");
    ok(&["topics", "create", &topic, "--partitions", "1"], "");
    ok(
        &["produce", &topic, "--raw", "-K", ":"],
        "alice:hello world\nbob:not {json\nno key here\n",
    );
    let got = ok(&["consume", &topic, "-o", "beginning", "-e", "-f", "%k|%v\\n"], "");
    assert_eq!(got, "alice|hello world\nbob|not {json\n|no key here\n");
    let out = kflow(&["produce", &topic, "-K", ":"], "a:b\n");
    assert_eq!(out.status.code(), Some(2), "-K needs --raw");
}

/// `kflow --brokers <brokers> args...` with `stdin`, which must succeed.
fn ok_on(brokers: &str, args: &[&str], stdin: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kflow"))
        .arg("--brokers")
        .arg(brokers)
        .args(args)
        .env_remove("KAFKA_BROKERS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(stdin.as_bytes())?;
            child.wait_with_output()
        })
        .expect("run kflow");
    assert!(
        out.status.success(),
        "kflow {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// On librdkafka's mock cluster: resets clamp to the end offsets, which tansu reports
/// wrongly.
#[test]
fn offsets_shift_by_a_count_and_times_take_an_offset() {
    let mock = kflow::kafka::EmbeddedBroker::start().expect("librdkafka's mock cluster");
    mock.create_topic("shift", 1).unwrap();
    let b = mock.bootstrap_servers().to_string();
    ok_on(
        &b,
        &["produce", "shift"],
        &(0..10).map(|i| format!("{i}\n")).collect::<String>(),
    );
    let committed = || -> String {
        let lag = ok_on(&b, &["groups", "lag", "g", "--topic", "shift"], "");
        let line = lag
            .lines()
            .find(|l| l.starts_with("shift"))
            .unwrap_or_default()
            .to_string();
        line.split_whitespace().nth(2).unwrap_or("?").to_string()
    };
    let reset = |how: &[&str]| {
        let mut args = vec!["groups", "reset-offsets", "g", "--topic", "shift"];
        args.extend(how);
        ok_on(&b, &args, "")
    };
    reset(&["--to-offset", "5", "--execute"]);
    assert_eq!(committed(), "5");
    reset(&["--shift-by", "-2", "--execute"]);
    assert_eq!(committed(), "3", "two back");
    reset(&["--shift-by", "100", "--execute"]);
    assert_eq!(committed(), "10", "clamped to the end");
    let plan = reset(&["--to-datetime", "2026-11-23T11:00:00+01:00", "--dry-run"]);
    assert!(plan.contains("plan only"), "{plan}");
    assert_eq!(committed(), "10", "a dry run changes nothing");
    assert!(reset(&["--by-duration", "90m", "--dry-run"]).contains("plan only"));
    let out = kflow_on(
        &b,
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "shift",
            "--to-datetime",
            "2026-11-23 11:00",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}

#[test]
fn shell_completions_are_printed() {
    let bash = ok(&["completions", "bash"], "");
    assert!(
        bash.contains("complete") && bash.contains("reset-offsets"),
        "{}",
        &bash[..bash.len().min(300)]
    );
    assert!(ok(&["completions", "zsh"], "").contains("#compdef kflow"));
    assert_eq!(
        kflow(&["completions", "tcsh"], "").status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn profiles_and_the_apps_environment_configure_the_cli() {
    let dir = std::env::temp_dir().join(unique("cli-profiles"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[profiles.local]\nbrokers = \"{}\"\n[profiles.local.properties]\n\"client.id\" = \"kflow-cli-test\"\n",
            broker::address()
        ),
    )
    .unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kflow"));
        cmd.args(args).env_remove("KAFKA_BROKERS").env_remove("KFLOW_PROFILE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run kflow")
    };
    let f = file.to_str().unwrap();
    let out = run(&["--config-file", f, "--profile", "local", "cluster", "info"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&broker::address()));
    let out = run(&["cluster", "info"], &[("KFLOW_CONFIG", f), ("KFLOW_PROFILE", "local")]);
    assert!(
        out.status.success(),
        "the variables name them too: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["--config-file", f, "--profile", "prod", "cluster", "info"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no profile `prod`"));
    // The same security variables as apps: a bad one is an error naming its key.
    let out = run(
        &["--brokers", &broker::address(), "cluster", "info"],
        &[("KAFKA_SECURITY_PROTOCOL", "carrier-pigeon")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("security.protocol"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn every_admin_command_prints_json_for_scripts() {
    let topic = unique("cli-json");
    let json = |args: &[&str]| -> Value {
        let mut all = vec!["--json"];
        all.extend(args);
        serde_json::from_str(ok(&all, "").trim()).expect("one JSON document")
    };
    assert_eq!(json(&["topics", "create", &topic, "-p", "2"])["created"], true);
    let list = json(&["topics", "list"]);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["topic"] == topic.as_str() && t["partitions"] == 2));
    let described = json(&["topics", "describe", &topic]);
    assert_eq!(described["partitions"].as_array().map(Vec::len), Some(2));
    let group = unique("cli-json-group");
    ok(&["produce", &topic], "1\n2\n");
    let plan = json(&[
        "groups",
        "reset-offsets",
        &group,
        "--topic",
        &topic,
        "--to-earliest",
        "--execute",
    ]);
    assert_eq!(plan["executed"], true);
    assert_eq!(plan["changes"].as_array().map(Vec::len), Some(2));
    let lag = json(&["groups", "lag", &group, "--topic", &topic]);
    assert_eq!(lag["group"], group.as_str());
    assert!(json(&["groups", "list"])
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["group"] == group.as_str()));
    assert_eq!(
        json(&["groups", "delete", &group, "--yes"])["deleted"][0],
        group.as_str()
    );
    assert_eq!(json(&["cluster", "health", "--topic", &topic])["partitions"], 2);
    assert_eq!(
        json(&["topics", "delete", &topic, "--yes"])["deleted"][0],
        topic.as_str()
    );
}
