//! A checksummed line file: the on-disk framing of the metadata log and its snapshot.
//!
//! On-disk format: one item per line, `<crc32c of the JSON, 8 hex digits> <JSON>\n`.
//! Appends are fsynced when asked to be, so a crash can only leave the *final* line torn
//! (or, on a filesystem that extends the file before the data lands, garbage in it).
//! On open, that final line is truncated (and logged). A bad line with more lines after
//! it cannot come from a crash: it is corruption, and opening refuses with the file and
//! byte position, rather than dropping every line after it.
//!
//! An append that fails part way is cut back off, so a later append never lands behind a
//! half-written line; if even that fails the file refuses further appends.
//!
//! Not shared between threads by itself; its owner serialises writers.

use crate::MetadataError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub struct LineFile {
    file: File,
    path: PathBuf,
    /// Bytes of whole lines: where the next append starts.
    len: u64,
    /// A failed append could not be cut back off; appending more would follow garbage.
    poisoned: bool,
}

impl LineFile {
    /// Opens (creating) the file at `path`, returning it and the items it holds.
    pub fn open<T: DeserializeOwned>(path: &Path) -> Result<(LineFile, Vec<T>), MetadataError> {
        LineFile::open_with(path, |json| {
            serde_json::from_slice(json).map_err(|_| "record does not decode")
        })
    }

    /// Like [`LineFile::open`], decoding each line's checksummed JSON with `decode`.
    pub fn open_with<T>(
        path: &Path,
        decode: impl Fn(&[u8]) -> Result<T, &'static str>,
    ) -> Result<(LineFile, Vec<T>), MetadataError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let path = path.to_path_buf();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&path)?;
        let file_len = file.metadata()?.len();
        let mut items = Vec::new();
        let mut valid_len: u64 = 0;
        let mut reader = BufReader::new(&file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            match checked_json(&line).and_then(&decode) {
                Ok(r) => {
                    items.push(r);
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
        let f = LineFile {
            file,
            path,
            len: valid_len,
            poisoned: false,
        };
        Ok((f, items))
    }

    /// Replaces the file at `path` with `items`, atomically (temporary file, fsync,
    /// rename, directory fsync), and opens it for appending.
    pub fn replace<T: Serialize>(path: &Path, items: &[T]) -> Result<LineFile, MetadataError> {
        let tmp = path.with_extension("tmp");
        let buf = encode(items)?;
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        Ok(LineFile {
            file,
            path: path.to_path_buf(),
            len: buf.len() as u64,
            poisoned: false,
        })
    }

    /// Bytes of whole lines in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends items, fsyncing them if `sync`. On failure nothing was appended.
    pub fn append<T: Serialize>(&mut self, items: &[T], sync: bool) -> Result<(), MetadataError> {
        if self.poisoned {
            return Err(MetadataError::Poisoned {
                path: self.path.clone(),
            });
        }
        let buf = encode(items)?;
        let written =
            self.file.write_all(&buf).and_then(
                |()| {
                    if sync {
                        self.file.sync_data()
                    } else {
                        Ok(())
                    }
                },
            );
        if let Err(e) = written {
            // Cut off what part of the lines reached the file (ENOSPC part way).
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

fn encode<T: Serialize>(items: &[T]) -> Result<Vec<u8>, MetadataError> {
    let mut buf = Vec::new();
    for r in items {
        let json = serde_json::to_vec(r)?;
        write!(buf, "{:08x} ", crc32c::crc32c(&json))?;
        buf.extend_from_slice(&json);
        buf.push(b'\n');
    }
    Ok(buf)
}

/// The JSON of a line whose checksum matches.
fn checked_json(line: &[u8]) -> Result<&[u8], &'static str> {
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
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path) -> PathBuf {
        dir.join("metadata.log")
    }

    #[test]
    fn torn_tail_is_truncated_and_earlier_lines_survive() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path());
        let (mut f, _) = LineFile::open::<u64>(&path).unwrap();
        f.append(&[1u64, 2], true).unwrap();
        drop(f);
        let mut raw = OpenOptions::new().append(true).open(&path).unwrap();
        raw.write_all(b"deadbeef 12").unwrap();
        drop(raw);
        let (_f, items) = LineFile::open::<u64>(&path).unwrap();
        assert_eq!(items, vec![1, 2]);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[test]
    fn a_bad_checksum_before_the_last_line_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path());
        let (mut f, _) = LineFile::open::<u64>(&path).unwrap();
        f.append(&[1000u64, 2000, 3000], true).unwrap();
        drop(f);
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap().len() as u64 + 1;
        std::fs::write(&path, text.replace("2000", "9000")).unwrap();
        match LineFile::open::<u64>(&path) {
            Err(MetadataError::Corrupt { position, .. }) => assert_eq!(position, first),
            Err(e) => panic!("unexpected {e}"),
            Ok(_) => panic!("a corrupt line in the middle must refuse to open"),
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    #[test]
    fn replace_swaps_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path());
        let (mut f, _) = LineFile::open::<u64>(&path).unwrap();
        f.append(&[1u64, 2, 3], true).unwrap();
        let mut f = LineFile::replace(&path, &[7u64]).unwrap();
        f.append(&[8u64], true).unwrap();
        let (_f, items) = LineFile::open::<u64>(&path).unwrap();
        assert_eq!(items, vec![7, 8]);
    }
}
