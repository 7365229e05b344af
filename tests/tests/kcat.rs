//! Debian's kcat (1.7.1 on librdkafka 2.0.2, installed by scripts/test.sh): metadata, produce,
//! consume. An old client that must parse every response the broker sends.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use fjord_tests::*;

fn kcat(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kcat (scripts/test.sh installs Debian's kcat)");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().expect("wait for kcat");
    assert!(
        out.status.success(),
        "kcat {args:?} failed with {}:\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn debian_kcat_lists_metadata_produces_and_consumes() {
    let broker = Broker::start();
    broker.create_topic("kcat-topic", 3, &[]);
    let b = broker.bootstrap.as_str();

    let md = kcat(&["-b", b, "-L", "-J", "-m", "30"], None);
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.contains("\"topic\":\"kcat-topic\""), "metadata: {md}");
    assert!(
        md.contains(&format!("\"name\":\"{b}\"")),
        "broker listed: {md}"
    );
    let md_text = kcat(&["-b", b, "-L", "-t", "kcat-topic", "-m", "30"], None);
    let md_text = String::from_utf8_lossy(&md_text.stdout);
    assert!(
        md_text.contains("topic \"kcat-topic\" with 3 partitions"),
        "{md_text}"
    );

    // Produce 300 keyed lines to partition 1, then a few gzip-compressed ones.
    let input: String = (0..300).map(|i| format!("k{i}:line {i}\n")).collect();
    kcat(
        &[
            "-b",
            b,
            "-P",
            "-t",
            "kcat-topic",
            "-p",
            "1",
            "-K",
            ":",
            "-X",
            "acks=all",
            "-m",
            "30",
        ],
        Some(&input),
    );
    kcat(
        &[
            "-b",
            b,
            "-P",
            "-t",
            "kcat-topic",
            "-p",
            "1",
            "-z",
            "gzip",
            "-m",
            "30",
        ],
        Some("gz-a\ngz-b\n"),
    );

    let out = kcat(
        &[
            "-b",
            b,
            "-C",
            "-t",
            "kcat-topic",
            "-p",
            "1",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%o %k %s\\n",
            "-m",
            "30",
        ],
        None,
    );
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let mut expected: Vec<String> = (0..300).map(|i| format!("{i} k{i} line {i}")).collect();
    expected.push("300  gz-a".into());
    expected.push("301  gz-b".into());
    assert_eq!(lines, expected);

    // What kcat produced, rdkafka 2.12 reads too.
    let consumed = consume_all(&broker.bootstrap, "kcat-topic");
    assert_eq!(consumed[&1].len(), 302);
    assert_eq!(consumed[&1][7].payload.as_deref(), Some(&b"line 7"[..]));
    assert!(consumed[&0].is_empty() && consumed[&2].is_empty());

    // And kcat reads what rdkafka produced.
    produce_ok(
        &producer_config(&broker.bootstrap, "zstd"),
        "kcat-topic",
        &[Outgoing::new(2, "zk", "zstd from rdkafka")],
    );
    let out = kcat(
        &[
            "-b",
            b,
            "-C",
            "-t",
            "kcat-topic",
            "-p",
            "2",
            "-o",
            "beginning",
            "-e",
            "-f",
            "%k=%s\\n",
            "-m",
            "30",
        ],
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "zk=zstd from rdkafka\n"
    );
}
