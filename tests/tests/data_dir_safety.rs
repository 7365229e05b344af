//! A data directory is never formatted over, deleted from or served for the wrong node:
//! `meta.properties`, the metadata log's own directory (and its migration), stray
//! partition directories, and a corrupt metadata log all keep the data and say why.

use fjord_tests::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file under `dir` with its size, by path relative to `dir`.
fn files(dir: &Path) -> BTreeMap<PathBuf, u64> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, u64>) {
        for e in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.insert(path.strip_prefix(root).unwrap_or(&path).to_path_buf(), len);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn count_messages(bootstrap: &str, topic: &str) -> usize {
    consume_all(bootstrap, topic).values().map(Vec::len).sum()
}

#[test]
fn meta_properties_is_written_in_kafkas_format_at_format_time() {
    let broker = Broker::start_with(&[("node.id", "7")]);
    let text = std::fs::read_to_string(broker.data_dir.join("meta.properties"))
        .expect("meta.properties exists after the first start");
    let props: BTreeMap<&str, &str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    assert_eq!(props.get("node.id"), Some(&"7"), "{text}");
    assert_eq!(props.get("version"), Some(&"1"), "{text}");
    assert_eq!(props.get("cluster.id").map(|c| c.len()), Some(22), "{text}");
    assert_eq!(
        props.get("directory.id").map(|c| c.len()),
        Some(22),
        "{text}"
    );
    assert!(!broker.data_dir.join("meta.properties.tmp").exists());
}

#[test]
fn another_node_id_refuses_to_start_and_keeps_the_data() {
    let mut broker = Broker::start();
    broker.create_topic("keep", 1, &[]);
    produce_n(&broker.bootstrap, "keep", 5, 1);
    broker.stop();
    let before = files(&broker.data_dir);
    let printed = start_must_fail(&broker.data_dir, &[("node.id", "5")]);
    assert!(
        printed.contains("node.id=0") && printed.contains("node.id=5"),
        "{printed}"
    );
    assert_eq!(files(&broker.data_dir), before);
}

#[test]
fn a_lost_metadata_log_is_not_formatted_over_and_nothing_is_deleted() {
    let mut broker = Broker::start();
    broker.create_topic("keep", 2, &[]);
    produce_n(&broker.bootstrap, "keep", 10, 2);
    broker.stop();
    std::fs::remove_dir_all(broker.data_dir.join("cluster-metadata")).expect("remove");
    let before = files(&broker.data_dir);
    let printed = start_must_fail(&broker.data_dir, &[]);
    assert!(printed.contains("refusing"), "{printed}");
    // Only an empty metadata log may have appeared; every partition file is untouched.
    let mut after = files(&broker.data_dir);
    after.retain(|p, len| !(p.starts_with("cluster-metadata") && *len == 0));
    assert_eq!(after, before, "files changed:\n{printed}");

    // Without meta.properties either: partition data alone also refuses.
    std::fs::remove_file(broker.data_dir.join("meta.properties")).expect("remove");
    let printed = start_must_fail(&broker.data_dir, &[]);
    assert!(
        printed.contains("partition data") && printed.contains("refusing"),
        "{printed}"
    );
    assert!(broker.data_dir.join("keep-0").is_dir());
    assert!(broker.data_dir.join("keep-1").is_dir());
}

#[test]
fn a_corrupt_metadata_record_before_the_last_refuses_to_start_naming_file_and_position() {
    let mut broker = Broker::start();
    for t in ["a", "b", "c"] {
        broker.create_topic(t, 1, &[]);
    }
    broker.stop();
    let path = broker.data_dir.join("cluster-metadata/metadata.log");
    let text = std::fs::read_to_string(&path).expect("read metadata log");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 4, "{text}");
    // Flip one character inside the second record's JSON.
    let position: usize = lines[0].len() + 1;
    let mut bytes = text.clone().into_bytes();
    let target = position + 20;
    bytes[target] = if bytes[target] == b'x' { b'y' } else { b'x' };
    std::fs::write(&path, &bytes).expect("write");
    let before = files(&broker.data_dir);
    let printed = start_must_fail(&broker.data_dir, &[]);
    assert!(
        printed.contains(&path.display().to_string())
            && printed.contains(&format!("byte {position}")),
        "{printed}"
    );
    assert_eq!(files(&broker.data_dir), before);
}

#[test]
fn a_torn_final_metadata_record_is_truncated_and_the_broker_starts() {
    let mut broker = Broker::start();
    broker.create_topic("keep", 1, &[]);
    produce_n(&broker.bootstrap, "keep", 3, 1);
    broker.stop();
    let path = broker.data_dir.join("cluster-metadata/metadata.log");
    let mut text = std::fs::read(&path).expect("read");
    text.extend_from_slice(b"0badc0de {\"type\":\"topic_cre");
    std::fs::write(&path, &text).expect("write");
    broker.start_again();
    assert_eq!(count_messages(&broker.bootstrap, "keep"), 3);
}

#[test]
fn unknown_partition_directories_are_renamed_stray_not_deleted() {
    let mut broker = Broker::start();
    broker.create_topic("keep", 1, &[]);
    broker.stop();
    let ghost = broker.data_dir.join("ghost-0");
    std::fs::create_dir(&ghost).expect("mkdir");
    std::fs::write(ghost.join("00000000000000000000.log"), b"precious").expect("write");
    broker.start_again();
    let stray = broker.data_dir.join("ghost-0-stray");
    assert_eq!(
        std::fs::read(stray.join("00000000000000000000.log")).expect("stray data kept"),
        b"precious"
    );
    assert!(!ghost.exists());
    assert!(broker.log().contains("stray"), "{}", broker.log());
    assert!(broker.data_dir.join("keep-0").is_dir());
    // And it stays put on the next start (a stray name is not a partition name).
    broker.restart();
    assert!(stray.is_dir());
}

#[test]
fn a_metadata_log_in_the_legacy_directory_is_moved_and_its_topics_kept() {
    let mut broker = Broker::start();
    broker.create_topic("keep", 1, &[]);
    produce_n(&broker.bootstrap, "keep", 4, 1);
    broker.stop();
    // Lay the directory out as versions before this one did.
    let legacy = broker.data_dir.join("__cluster_metadata-0");
    std::fs::create_dir(&legacy).expect("mkdir");
    std::fs::rename(
        broker.data_dir.join("cluster-metadata/metadata.log"),
        legacy.join("metadata.log"),
    )
    .expect("move back");
    std::fs::remove_dir(broker.data_dir.join("cluster-metadata")).expect("rmdir");
    std::fs::remove_file(broker.data_dir.join("meta.properties")).expect("rm");

    broker.start_again();
    assert_eq!(count_messages(&broker.bootstrap, "keep"), 4);
    assert!(broker
        .data_dir
        .join("cluster-metadata/metadata.log")
        .is_file());
    assert!(!legacy.exists(), "the emptied legacy directory is gone");
    assert!(broker.data_dir.join("meta.properties").is_file());
    let log = broker.log();
    let this_start = &log[log.rfind("=== fjord-test: start").unwrap_or(0)..];
    assert!(
        !this_start.contains("formatted a new cluster"),
        "{this_start}"
    );
}
