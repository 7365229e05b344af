//! The capacity of the filesystem holding `log.dirs`, read with statvfs(2) at scrape time,
//! so dashboards and the disk alert compare log growth with the real volume instead of a
//! guessed size.

use std::fmt::Write;
use std::path::Path;

/// Total and available bytes of the filesystem holding `dir` (available: what an
/// unprivileged writer such as the broker may still use, statvfs' `f_bavail`).
pub fn capacity(dir: &Path) -> Option<(u64, u64)> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    let block = s.fragment_size() as u64;
    let total = (s.blocks() as u64).saturating_mul(block);
    let available = (s.blocks_available() as u64).saturating_mul(block);
    Some((total, available))
}

/// `fjord_log_dir_size_bytes` and `fjord_log_dir_available_bytes` for `dir` (no samples
/// when statvfs fails: an absent series, not a false zero).
pub fn render(dir: &Path, out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP fjord_log_dir_size_bytes Size of the filesystem holding log.dirs.\n# TYPE fjord_log_dir_size_bytes gauge"
    );
    let cap = capacity(dir);
    let label = dir
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    if let Some((total, _)) = cap {
        let _ = writeln!(out, "fjord_log_dir_size_bytes{{dir=\"{label}\"}} {total}");
    }
    let _ = writeln!(
        out,
        "# HELP fjord_log_dir_available_bytes Bytes the broker may still write on the filesystem holding log.dirs.\n# TYPE fjord_log_dir_available_bytes gauge"
    );
    if let Some((_, available)) = cap {
        let _ = writeln!(
            out,
            "fjord_log_dir_available_bytes{{dir=\"{label}\"}} {available}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_directory_has_a_capacity_and_a_missing_one_none() {
        let dir = tempfile::tempdir().unwrap();
        let (total, available) = capacity(dir.path()).unwrap();
        assert!(total > 0 && available <= total, "{total} {available}");
        assert!(capacity(&dir.path().join("missing")).is_none());
        let mut out = String::new();
        render(dir.path(), &mut out);
        assert!(out.contains("fjord_log_dir_size_bytes{dir="), "{out}");
        assert!(out.contains("fjord_log_dir_available_bytes{dir="), "{out}");
    }
}
