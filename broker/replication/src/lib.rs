//! `fjord-replication`: one partition's replication as its leader sees it (Kafka's `Partition`
//! and `DelayedProduce`, DESIGN.md §3 "Replication"), with no I/O, no clock and no async.
//!
//! The broker feeds in what happens — a follower fetched from offset N, the leader appended, the
//! controller committed a new ISR, time passed — and gets back [`Effect`]s to perform: persist
//! the advanced high watermark, send an AlterPartition, answer the `acks=all` produces whose
//! offsets are now committed.
//!
//! - [`leader`]: follower log end offsets, the high watermark (minimum over the ISR, never
//!   moving back), ISR shrink after `replica.lag.time.max.ms` and expansion once a follower has
//!   caught up, one ISR change in flight at a time (the partition epoch orders them);
//! - [`purgatory`]: `acks=all` produces waiting for the high watermark, completed in offset
//!   order, with Kafka's NOT_ENOUGH_REPLICAS(_AFTER_APPEND) rules;
//! - [`follower`]: what a follower keeps of the leader's high watermark, and where it cuts its
//!   log to agree with a new leader's (the divergence point of KIP-101/KIP-279);
//! - [`throttle`]: replication throttles (KIP-73): which replicas a topic throttles, and the
//!   byte quota of each side.
//!
//! A seeded simulation (test only) drives a leader and its followers through fetches, appends,
//! stalls and ISR changes and checks after every step that the high watermark never goes back,
//! never passes a log end offset of the ISR, and that every completed produce is below it.

pub mod follower;
pub mod leader;
pub mod purgatory;
pub mod throttle;

#[cfg(test)]
mod sim;

pub use follower::{follower_high_watermark, truncation_point, Truncation};
pub use leader::{Effect, FollowerLag, IsrChange, LeaderConfig, LeaderState};
pub use purgatory::{AcksAllOutcome, Purgatory, WaiterId};
pub use throttle::{Quota, ThrottledReplicas};
