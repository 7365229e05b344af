//! The open-file limit. Every connection and every open segment file costs a descriptor, and
//! the soft `RLIMIT_NOFILE` many systems hand a process (1024) is far below what a broker needs
//! while the hard limit is usually much higher; so, like other servers, the broker raises its
//! soft limit to the hard one at start.

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

/// The descriptor limit before and after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    pub soft_before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (to the kernel's `fs.nr_open` when the
/// hard limit is unlimited, since the soft limit for descriptors cannot be infinite).
pub fn raise_nofile() -> Result<NofileLimit, nix::Error> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let target = if hard == RLIM_INFINITY {
        nr_open().unwrap_or(soft.max(1 << 20))
    } else {
        hard
    };
    if target > soft {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard)?;
    }
    let (now, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(NofileLimit {
        soft_before: soft,
        soft: now,
        hard,
    })
}

fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}
