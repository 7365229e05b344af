//! Running storage I/O off the async worker threads.
//!
//! Every `fjord_storage` call reads, writes or fsyncs files synchronously; on a worker thread
//! it would stall every connection that thread serves. Handlers move such calls to the blocking
//! pool with [`spawn`]; synchronous code that may find itself on a worker (the group
//! coordinator's commits) uses [`block_in_place`]. Both mark the section for the storage
//! crate's debug-build guard, which [`install_guard`] arms: from then on a storage call made
//! on a worker thread outside them panics in debug builds, so the end-to-end tests find it.

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::task::JoinHandle;

/// Arms `fjord_storage`'s guard: "on a runtime thread" is "a tokio runtime is current".
pub fn install_guard() {
    fjord_storage::blocking::set_async_probe(|| Handle::try_current().is_ok());
}

/// `tokio::task::spawn_blocking` for storage work (await the handle for the result, or drop
/// it to let the work finish on its own).
pub fn spawn<R, F>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(move || fjord_storage::blocking::allow_blocking(f))
}

/// Runs blocking storage work from synchronous code: on a multi-threaded runtime's worker the
/// worker hands its other tasks to another thread first (`tokio::task::block_in_place`);
/// elsewhere (a blocking-pool or dedicated thread, a single-threaded test runtime) it just runs.
pub fn block_in_place<R>(f: impl FnOnce() -> R) -> R {
    // On a blocking-pool thread `block_in_place` only runs `f`: no need to tell them apart.
    let multi_thread =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(|| fjord_storage::blocking::allow_blocking(f))
    } else {
        fjord_storage::blocking::allow_blocking(f)
    }
}
