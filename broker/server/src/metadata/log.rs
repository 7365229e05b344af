//! The metadata log file.
//!
//! On-disk format: `<dir>/metadata.log`, one record per line:
//! `<crc32c of the JSON, 8 hex digits> <JSON record>\n`. Every append is fsynced
//! before the change is visible. On open, the first line that is torn or fails its
//! checksum ends the log: it and everything after it are truncated (and logged),
//! since a record is acknowledged only after its fsync completed.
//!
//! Not shared between threads by itself; [`super::MetadataStore`] serialises writers.

use super::{MetadataError, MetadataRecord};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

pub struct MetadataLog {
    file: File,
}

impl MetadataLog {
    /// Opens the log in `dir`, returning it and the records it holds.
    pub fn open(dir: &Path) -> Result<(MetadataLog, Vec<MetadataRecord>), MetadataError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("metadata.log");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut records = Vec::new();
        let mut valid_len: u64 = 0;
        let mut reader = BufReader::new(&file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            match decode_line(&line) {
                Some(r) => {
                    records.push(r);
                    valid_len += n as u64;
                }
                None => {
                    tracing::warn!(path = %path.display(), offset = valid_len, "metadata log has a torn or corrupt record; truncating it and what follows");
                    break;
                }
            }
        }
        if valid_len != file.metadata()?.len() {
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        Ok((MetadataLog { file }, records))
    }

    /// Appends records and fsyncs them.
    pub fn append(&mut self, records: &[MetadataRecord]) -> Result<(), MetadataError> {
        let mut buf = Vec::new();
        for r in records {
            let json = serde_json::to_vec(r)?;
            write!(buf, "{:08x} ", crc32c::crc32c(&json))?;
            buf.extend_from_slice(&json);
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        Ok(())
    }
}

fn decode_line(line: &[u8]) -> Option<MetadataRecord> {
    let line = line.strip_suffix(b"\n")?;
    if line.len() < 10 || line[8] != b' ' {
        return None;
    }
    let crc = u32::from_str_radix(std::str::from_utf8(&line[..8]).ok()?, 16).ok()?;
    let json = &line[9..];
    if crc32c::crc32c(json) != crc {
        return None;
    }
    serde_json::from_slice(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_truncated_and_earlier_records_survive() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, recs) = MetadataLog::open(dir.path()).unwrap();
        assert!(recs.is_empty());
        let r = MetadataRecord::ClusterFormatted {
            cluster_id: "abc".into(),
        };
        log.append(std::slice::from_ref(&r)).unwrap();
        drop(log);
        let path = dir.path().join("metadata.log");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"deadbeef {\"type\":\"clus").unwrap();
        drop(f);
        let (_log, recs) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(recs, vec![r]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = MetadataLog::open(dir.path()).unwrap();
        log.append(&[MetadataRecord::ProducerIdsAllocated { next: 1000 }])
            .unwrap();
        drop(log);
        let path = dir.path().join("metadata.log");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("1000", "9000");
        std::fs::write(&path, text).unwrap();
        let (_log, recs) = MetadataLog::open(dir.path()).unwrap();
        assert!(recs.is_empty());
    }
}
