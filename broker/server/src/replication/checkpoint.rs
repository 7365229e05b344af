//! Kafka's `replication-offset-checkpoint`: the high watermark of every partition in a data
//! directory, so a restarted replica knows what was committed (a follower truncates to it only when
//! its leader cannot name the divergence point, see `fetcher`).
//!
//! Format (Kafka's): a version line `0`, a count line, then one `<topic> <partition> <offset>`
//! line per partition. Written to `<name>.tmp`, fsynced and renamed over the old file.
//! Reading and writing block on the disk: callers run them on the blocking pool (checked by
//! `fjord_storage`'s debug-build guard).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

pub const FILE: &str = "replication-offset-checkpoint";

/// Most entries read back: a damaged count cannot make us allocate without bound.
const MAX_ENTRIES: usize = 1 << 20;

/// Reads the checkpoint; a missing file is empty, a malformed line is skipped with a warning.
pub fn read(dir: &Path) -> BTreeMap<(String, i32), i64> {
    fjord_storage::blocking::check("read replication-offset-checkpoint");
    let mut out = BTreeMap::new();
    let text = match std::fs::read_to_string(dir.join(FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read {FILE}; high watermarks start at 0");
            return out;
        }
    };
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        tracing::warn!("{FILE} has an unknown version; high watermarks start at 0");
        return out;
    }
    let _count = lines.next();
    for line in lines.take(MAX_ENTRIES) {
        let mut f = line.split(' ');
        match (f.next(), f.next().map(str::parse), f.next().map(str::parse)) {
            (Some(t), Some(Ok(p)), Some(Ok(o))) => {
                out.insert((t.to_string(), p), o);
            }
            _ => tracing::warn!(line, "skipping a malformed {FILE} line"),
        }
    }
    out
}

/// Replaces the checkpoint with `entries`.
pub fn write(dir: &Path, entries: &BTreeMap<(String, i32), i64>) -> std::io::Result<()> {
    fjord_storage::blocking::check("write replication-offset-checkpoint");
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut body = format!("0\n{}\n", entries.len());
    for ((t, p), o) in entries {
        body.push_str(&format!("{t} {p} {o}\n"));
    }
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(body.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(FILE))?;
    crate::metadata::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_watermarks_survive_a_write_and_read() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).is_empty());
        let entries: BTreeMap<_, _> =
            [(("a".to_string(), 0), 5), (("b-c".to_string(), 3), 9)].into();
        write(dir.path(), &entries).unwrap();
        assert_eq!(read(dir.path()), entries);
        std::fs::write(dir.path().join(FILE), "0\n2\na 0 5\ngarbage\n").unwrap();
        assert_eq!(read(dir.path()).len(), 1, "a bad line is skipped");
    }
}
