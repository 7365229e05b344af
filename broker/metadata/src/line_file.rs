//! The metadata log file.
//!
//! On-disk format: `<dir>/metadata.log`, one record per line:
//! `<crc32c of the JSON, 8 hex digits> <JSON record>\n`. Every append is fsynced
//! before the change is visible, so a crash can only leave the *final* record torn
//! (or, on a filesystem that extends the file before the data lands, garbage in it).
//! On open, that final record is truncated (and logged). A bad record with more
//! records after it cannot come from a crash: it is corruption, and opening refuses
//! with the file and byte position, rather than dropping every record after it.
//!
//! An append that fails part way is cut back off, so a later append never lands
//! behind a half-written line; if even that fails the log refuses further appends.
//!
//! Not shared between threads by itself; [`super::MetadataStore`] serialises writers.

use super::{MetadataError, MetadataRecord};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The log's file name inside its directory.
pub const FILE_NAME: &str = "metadata.log";

pub struct MetadataLog {
    file: File,
    path: PathBuf,
    /// Bytes of whole, fsynced records: where the next append starts.
    len: u64,
    /// A failed append could not be cut back off; appending more would follow garbage.
    poisoned: bool,
}

impl MetadataLog {
    /// Opens the log in `dir`, returning it and the records it holds.
    pub fn open(dir: &Path) -> Result<(MetadataLog, Vec<MetadataRecord>), MetadataError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&path)?;
        let file_len = file.metadata()?.len();
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
                Ok(r) => {
                    records.push(r);
                    valid_len += n as u64;
                }
                Err(reason) if valid_len + n as u64 >= file_len => {
                    tracing::warn!(path = %path.display(), position = valid_len, reason, "the metadata log's final record is torn; truncating it");
                    break;
                }
                Err(reason) => {
                    return Err(MetadataError::Corrupt {
                        path,
                        position: valid_len,
                        reason: reason.to_string(),
                    });
                }
            }
        }
        if valid_len != file_len {
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        let log = MetadataLog {
            file,
            path,
            len: valid_len,
            poisoned: false,
        };
        Ok((log, records))
    }

    /// Appends records and fsyncs them. On failure nothing was appended.
    pub fn append(&mut self, records: &[MetadataRecord]) -> Result<(), MetadataError> {
        if self.poisoned {
            return Err(MetadataError::Poisoned {
                path: self.path.clone(),
            });
        }
        let mut buf = Vec::new();
        for r in records {
            let json = serde_json::to_vec(r)?;
            write!(buf, "{:08x} ", crc32c::crc32c(&json))?;
            buf.extend_from_slice(&json);
            buf.push(b'\n');
        }
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Cut off what part of the records reached the file (ENOSPC part way).
            let undone = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.sync_data());
            if let Err(undo) = undone {
                tracing::error!(path = %self.path.display(), error = %undo, "cannot cut a failed metadata append back off; refusing further metadata changes");
                self.poisoned = true;
            }
            return Err(e.into());
        }
        self.len += buf.len() as u64;
        Ok(())
    }
}

fn decode_line(line: &[u8]) -> Result<MetadataRecord, &'static str> {
    let line = line.strip_suffix(b"\n").ok_or("no line end")?;
    if line.len() < 10 || line[8] != b' ' {
        return Err("malformed record");
    }
    let crc = std::str::from_utf8(&line[..8])
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or("malformed checksum")?;
    let json = &line[9..];
    if crc32c::crc32c(json) != crc {
        return Err("checksum mismatch");
    }
    serde_json::from_slice(json).map_err(|_| "record does not decode")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_records(dir: &Path, records: &[MetadataRecord]) -> PathBuf {
        let (mut log, _) = MetadataLog::open(dir).unwrap();
        log.append(records).unwrap();
        dir.join(FILE_NAME)
    }

    fn pid(next: i64) -> MetadataRecord {
        MetadataRecord::ProducerIdsAllocated { next }
    }

    #[test]
    fn torn_tail_is_truncated_and_earlier_records_survive() {
        let dir = tempfile::tempdir().unwrap();
        let r = MetadataRecord::ClusterFormatted {
            cluster_id: "abc".into(),
        };
        let path = write_records(dir.path(), std::slice::from_ref(&r));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"deadbeef {\"type\":\"clus").unwrap();
        drop(f);
        let (_log, recs) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(recs, vec![r]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn a_final_record_with_a_bad_checksum_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_records(dir.path(), &[pid(1000), pid(2000)]);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("2000", "9000");
        std::fs::write(&path, text).unwrap();
        let (mut log, recs) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(recs, vec![pid(1000)]);
        log.append(&[pid(3000)]).unwrap();
        drop(log);
        let (_log, recs) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(recs, vec![pid(1000), pid(3000)]);
    }

    #[test]
    fn a_bad_checksum_before_the_last_record_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_records(dir.path(), &[pid(1000), pid(2000), pid(3000)]);
        let original = std::fs::read_to_string(&path).unwrap();
        let first_line_len = original.lines().next().unwrap().len() as u64 + 1;
        std::fs::write(&path, original.replace("2000", "9000")).unwrap();
        let err = match MetadataLog::open(dir.path()) {
            Err(e) => e,
            Ok(_) => panic!("a corrupt record in the middle must refuse to open"),
        };
        match &err {
            MetadataError::Corrupt {
                path: p, position, ..
            } => {
                assert_eq!(p, &path);
                assert_eq!(*position, first_line_len);
            }
            other => panic!("unexpected error {other}"),
        }
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(&first_line_len.to_string()), "{message}");
        // Nothing was cut off: the records after the bad one are still on disk.
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(after.lines().count(), 3);
    }

    #[test]
    fn garbage_in_the_middle_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_records(dir.path(), &[pid(1000)]);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"not a record\n").unwrap();
        drop(f);
        let (mut log, _) = MetadataLog::open(dir.path()).unwrap();
        // The garbage was the final record, so it was truncated; now bury one.
        log.append(&[pid(2000)]).unwrap();
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.insert(1, "zzzzzzzz {}");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        assert!(matches!(
            MetadataLog::open(dir.path()),
            Err(MetadataError::Corrupt { .. })
        ));
    }
}
