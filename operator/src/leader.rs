//! Leader election on a `coordination.k8s.io/v1` Lease with client-go's semantics, so two
//! operator replicas never reconcile at once.
//!
//! - A candidate never compares the holder's `renewTime` with its own clock (clocks of two
//!   machines disagree). It remembers the last Lease record it saw and *when it saw it change*,
//!   by its own monotonic clock (client-go's `observedTime`), and takes the Lease only when the
//!   record has not changed for `leaseDurationSeconds` of its own time.
//! - The holder renews every `retry_period`. If it has not renewed successfully for
//!   `renew_deadline` (shorter than the lease duration), it steps down. A candidate starts
//!   counting only after it saw the holder's last renewal, so the holder has stopped before any
//!   candidate can acquire.
//! - Every write is a replace carrying the resourceVersion that was read, so two candidates
//!   cannot both win: the second write fails with a conflict.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::time::Instant;

use crate::error::Result;

/// Timing of an election, client-go's three durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long a Lease record stays valid after a candidate saw it change.
    pub lease_duration: Duration,
    /// How long the holder keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// Pause between two acquire or renew attempts.
    pub retry_period: Duration,
}

impl Default for Timing {
    /// client-go's defaults: 15 s, 10 s, 2 s.
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl Timing {
    /// Refuses timings under which a holder could still lead when another acquires.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.renew_deadline >= self.lease_duration {
            return Err(format!(
                "the renew deadline ({:?}) must be shorter than the lease duration ({:?})",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return Err(format!(
                "the retry period ({:?}) must be positive and shorter than the renew deadline ({:?})",
                self.retry_period, self.renew_deadline
            ));
        }
        Ok(())
    }
}

/// The last Lease record seen and when (by the local monotonic clock) it was seen to change.
#[derive(Default)]
struct Observed {
    record: Option<LeaseSpec>,
    at: Option<Instant>,
}

/// One candidate for a Lease. Clones share what was observed.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    lease: String,
    identity: String,
    timing: Timing,
    observed: Arc<Mutex<Observed>>,
}

impl LeaderElector {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        lease: &str,
        identity: &str,
        timing: Timing,
    ) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            lease: lease.into(),
            identity: identity.into(),
            timing,
            observed: Arc::default(),
        }
    }

    /// The election's durations.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// Acquires or renews the Lease; true when this candidate holds it afterwards. A lost race
    /// (conflict) is `Ok(false)`.
    pub async fn try_acquire_or_renew(&self) -> Result<bool> {
        let Some(current) = self.api.get_opt(&self.lease).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.lease.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(None)),
            };
            let won = conflict_is_false(self.api.create(&PostParams::default(), &lease).await)?;
            if won {
                self.observe(lease.spec.unwrap_or_default());
            }
            return Ok(won);
        };
        let spec = current.spec.clone().unwrap_or_default();
        let observed_at = self.observe(spec.clone());
        let held_by_us = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !held_by_us && !free(&spec, observed_at, Instant::now()) {
            return Ok(false);
        }
        let mut next = current.clone();
        next.spec = Some(self.spec(Some(&spec)));
        let won = conflict_is_false(
            self.api
                .replace(&self.lease, &PostParams::default(), &next)
                .await,
        )?;
        if won {
            self.observe(next.spec.unwrap_or_default());
        }
        Ok(won)
    }

    /// Keeps renewing every retry period; returns once this replica must stop leading: another
    /// holder was found, or no renewal succeeded for the renew deadline (a slow API call counts
    /// against it). Call only while holding the Lease.
    pub async fn keep_leading(&self) {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            // Measured from before the request: the Lease's validity starts no earlier than that.
            let attempt = Instant::now();
            let left = self
                .timing
                .renew_deadline
                .saturating_sub(attempt.duration_since(last_renewal));
            match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => last_renewal = attempt,
                Ok(Ok(false)) => {
                    tracing::error!("another replica holds the leader Lease");
                    return;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "renewing the leader Lease failed"),
                Err(_) => tracing::warn!("renewing the leader Lease timed out"),
            }
            if last_renewal.elapsed() >= self.timing.renew_deadline {
                tracing::error!(
                    deadline = ?self.timing.renew_deadline,
                    "no renewal of the leader Lease within the renew deadline"
                );
                return;
            }
        }
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election failed; retrying"),
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Gives the Lease up (if held) so another replica can take over without waiting.
    pub async fn release(&self) -> Result<()> {
        if let Some(mut current) = self.api.get_opt(&self.lease).await? {
            if let Some(spec) = current.spec.as_mut() {
                if spec.holder_identity.as_deref() == Some(self.identity.as_str()) {
                    spec.holder_identity = None;
                    self.api
                        .replace(&self.lease, &PostParams::default(), &current)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Records `record` as seen now unless it equals the last one seen; returns when the
    /// current record was first seen.
    fn observe(&self, record: LeaseSpec) -> Instant {
        // A poisoned lock only means another task panicked mid-update of plain data.
        let mut o = self
            .observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (o.at, &o.record) {
            (Some(at), Some(r)) if *r == record => at,
            _ => {
                let now = Instant::now();
                o.record = Some(record);
                o.at = Some(now);
                now
            }
        }
    }

    /// The record this candidate writes, given the current one (None when creating).
    fn spec(&self, current: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(jiff::Timestamp::now());
        let held_by_us =
            current.is_some_and(|c| c.holder_identity.as_deref() == Some(self.identity.as_str()));
        let transitions = current
            .and_then(|c| c.lease_transitions)
            .map_or(0, |t| t + i32::from(!held_by_us));
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.timing.lease_duration.as_secs().max(1) as i32),
            acquire_time: match current {
                Some(c) if held_by_us => c.acquire_time.clone(),
                _ => Some(now.clone()),
            },
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

/// Whether a candidate may take a Lease whose record it has seen unchanged since `observed_at`.
fn free(spec: &LeaseSpec, observed_at: Instant, now: Instant) -> bool {
    if spec.holder_identity.as_deref().unwrap_or("").is_empty() {
        return true;
    }
    let secs = spec.lease_duration_seconds.unwrap_or(0).max(0);
    let valid_for = Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    now.duration_since(observed_at) > valid_for
}

fn conflict_is_false<T>(r: Result<T, kube::Error>) -> Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(String::from),
            // The holder's clock is irrelevant: a renew time far in the past or future changes
            // nothing about when the Lease is free.
            renew_time: Some(MicroTime(jiff::Timestamp::from_second(0).unwrap())),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_lease_is_free_only_a_lease_duration_after_its_record_was_seen_to_change() {
        let seen = Instant::now();
        let s = spec(Some("a"));
        assert!(!free(&s, seen, seen + Duration::from_secs(10)));
        assert!(!free(&s, seen, seen + Duration::from_secs(15)));
        assert!(free(&s, seen, seen + Duration::from_millis(15_001)));
    }

    #[test]
    fn a_released_lease_is_free_at_once() {
        let seen = Instant::now();
        assert!(free(&spec(None), seen, seen));
        assert!(free(&spec(Some("")), seen, seen));
    }

    #[test]
    fn timings_where_the_holder_could_outlive_its_lease_are_refused() {
        assert!(Timing::default().validate().is_ok());
        let t = Timing {
            renew_deadline: Duration::from_secs(15),
            ..Timing::default()
        };
        assert!(t.validate().is_err());
        let t = Timing {
            retry_period: Duration::from_secs(10),
            ..Timing::default()
        };
        assert!(t.validate().is_err());
    }
}
