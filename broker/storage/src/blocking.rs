//! A debug-build guard that storage I/O never runs on an async runtime's worker threads.
//!
//! Every call into this crate reads, writes or fsyncs files synchronously. On a worker thread
//! of an async runtime that stalls every connection the thread serves for as long as the disk
//! takes (an fsync can take seconds). The embedding program says how to recognise such a
//! thread with [`set_async_probe`] (the broker passes "inside a tokio runtime") and marks the
//! code that may block with [`allow_blocking`] (its `spawn_blocking` closures and dedicated
//! threads). In debug builds the crate's I/O entry points then panic when called from a thread
//! the probe recognises outside such a section, so the end-to-end tests catch a handler that
//! forgot to move its storage calls off the runtime. Release builds check nothing.
//!
//! Thread-safety: the probe is set once per process; the section marker is thread-local.

use std::cell::Cell;
use std::sync::OnceLock;

static ASYNC_PROBE: OnceLock<fn() -> bool> = OnceLock::new();

thread_local! {
    static ALLOWED: Cell<u32> = const { Cell::new(0) };
}

/// Tells the crate how to recognise a thread that must not block (e.g. "a tokio runtime is
/// current"). The first call wins.
pub fn set_async_probe(probe: fn() -> bool) {
    let _ = ASYNC_PROBE.set(probe);
}

/// Runs `f` marked as allowed to do blocking storage I/O (a blocking pool thread or a
/// dedicated I/O thread). Nests.
pub fn allow_blocking<R>(f: impl FnOnce() -> R) -> R {
    struct Section;
    impl Drop for Section {
        fn drop(&mut self) {
            ALLOWED.with(|a| a.set(a.get().saturating_sub(1)));
        }
    }
    ALLOWED.with(|a| a.set(a.get().saturating_add(1)));
    let _section = Section;
    f()
}

/// Whether this thread may block on storage I/O now: it is inside [`allow_blocking`], or the
/// probe does not recognise it as an async worker.
pub fn blocking_allowed() -> bool {
    ALLOWED.with(Cell::get) > 0 || !ASYNC_PROBE.get().is_some_and(|probe| probe())
}

/// Called by the crate's I/O entry points (and by the embedding program's own file I/O, so
/// one guard covers both); panics in debug builds on an async worker thread.
#[track_caller]
pub fn check(what: &str) {
    if cfg!(debug_assertions) && !blocking_allowed() {
        panic!("blocking storage I/O ({what}) on an async worker thread: run it in spawn_blocking / allow_blocking");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static PRETEND_ASYNC: Cell<bool> = const { Cell::new(false) };
    }

    fn probe() -> bool {
        PRETEND_ASYNC.with(Cell::get)
    }

    #[test]
    fn io_outside_a_blocking_section_on_an_async_thread_panics_and_inside_it_does_not() {
        set_async_probe(probe);
        PRETEND_ASYNC.with(|p| p.set(true));
        assert!(std::panic::catch_unwind(|| check("test")).is_err());
        allow_blocking(|| allow_blocking(|| check("nested")));
        assert!(std::panic::catch_unwind(|| check("after")).is_err());
        PRETEND_ASYNC.with(|p| p.set(false));
        check("plain thread");
    }
}
