//! Leader election on a `coordination.k8s.io/v1` Lease, so two operator replicas never reconcile
//! at once.
//!
//! The holder renews `renewTime` every `lease_duration / 3`. A candidate takes the Lease only
//! when it is unheld or its `renewTime` is older than `leaseDurationSeconds`. Every write is a
//! replace carrying the resourceVersion that was read, so two candidates cannot both win: the
//! second write fails with a conflict. A leader that cannot renew within the lease duration, or
//! finds another holder, has lost and must stop (the binary exits).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::error::Result;

/// One candidate for a Lease.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    lease: String,
    identity: String,
    duration: Duration,
}

impl LeaderElector {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        lease: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            lease: lease.into(),
            identity: identity.into(),
            duration,
        }
    }

    /// How often the holder renews.
    pub fn renew_interval(&self) -> Duration {
        self.duration / 3
    }

    /// How long the Lease is valid after a renewal.
    pub fn lease_duration(&self) -> Duration {
        self.duration
    }

    /// Acquires or renews the Lease at time `now`; true when this candidate holds it afterwards.
    /// A lost race (conflict) is `Ok(false)`.
    pub async fn try_acquire_or_renew(&self, now: jiff::Timestamp) -> Result<bool> {
        let Some(current) = self.api.get_opt(&self.lease).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.lease.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, Some(now), 0)),
            };
            return conflict_is_false(self.api.create(&PostParams::default(), &lease).await);
        };
        let spec = current.spec.clone().unwrap_or_default();
        let held_by_us = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !held_by_us && !expired(&spec, now) {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!held_by_us);
        let acquired = if held_by_us {
            spec.acquire_time.map(|t| t.0)
        } else {
            Some(now)
        };
        let mut next = current.clone();
        next.spec = Some(self.spec(now, acquired, transitions));
        conflict_is_false(
            self.api
                .replace(&self.lease, &PostParams::default(), &next)
                .await,
        )
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

    fn spec(
        &self,
        now: jiff::Timestamp,
        acquired: Option<jiff::Timestamp>,
        transitions: i32,
    ) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs().max(1) as i32),
            acquire_time: acquired.map(MicroTime),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

fn expired(spec: &LeaseSpec, now: jiff::Timestamp) -> bool {
    if spec.holder_identity.as_deref().unwrap_or("").is_empty() {
        return true;
    }
    let (Some(renewed), Some(secs)) = (&spec.renew_time, spec.lease_duration_seconds) else {
        return true;
    };
    let until = renewed.0 + jiff::SignedDuration::from_secs(i64::from(secs));
    until < now
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

    fn ts(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(secs).unwrap()
    }

    fn spec(holder: Option<&str>, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(String::from),
            renew_time: Some(MicroTime(ts(renewed))),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_lease_is_taken_over_only_after_its_duration() {
        assert!(!expired(&spec(Some("a"), 100), ts(110)));
        assert!(!expired(&spec(Some("a"), 100), ts(115)));
        assert!(expired(&spec(Some("a"), 100), ts(116)));
        assert!(
            expired(&spec(None, 100), ts(101)),
            "a released lease is free"
        );
    }
}
