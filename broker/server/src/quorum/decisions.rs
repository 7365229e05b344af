//! The liveness decisions the active controller makes.
//!
//! Placement comes from `fjord-controller` (see `topics::plan_replicas`), and so do the
//! leadership changes that follow a broker being fenced or coming back
//! ([`leadership_records`]: `fjord_controller::partition_changes`, Kafka's election from the
//! ISR, `unclean.leader.election.enable` respected). Fencing itself is still this plain
//! session check: `fjord_controller::Liveness` (broker epochs, unfencing only once a broker
//! has caught up with the metadata log, controlled shutdown) is not wired in yet.

use super::controller::{Command, Refusal};
use fjord_controller::{
    AlterPartitionOutcome, AlterPartitionRequest, BrokerInfo, ClusterView, IsrMember,
    LivenessEvent, Partition, PartitionChange, NO_LEADER,
};
use fjord_metadata::{MetadataImage, MetadataRecord, TopicImage};
use std::time::Duration;

/// Whether a broker silent for `quiet` has outlived its session.
pub fn session_expired(quiet: Duration, session: Duration) -> bool {
    quiet > session
}

/// The PartitionChanged records that follow `event` (a broker fenced or unfenced), decided by
/// `fjord_controller` over the image's partitions as they would be after the event.
/// `unclean_default` is the broker's `unclean.leader.election.enable`; a topic overrides it.
pub fn leadership_records(
    image: &MetadataImage,
    event: &LivenessEvent,
    unclean_default: bool,
) -> Vec<MetadataRecord> {
    let (broker, fenced) = match *event {
        // A broker shutting down is no longer a leader candidate, as a fenced one.
        LivenessEvent::Fenced { broker_id, .. }
        | LivenessEvent::ControlledShutdown { broker_id, .. } => (broker_id, true),
        LivenessEvent::Unfenced { broker_id, .. } => (broker_id, false),
        _ => return Vec::new(),
    };
    let cluster = cluster_view(image, Some((broker, fenced)));
    let mut partitions = Vec::new();
    for t in image.topics.values() {
        for p in 0..t.replicas.len() {
            if let Some(state) = partition_state(t, p) {
                partitions.push(((t.id, p as i32), state));
            }
        }
    }
    let unclean = |key: &(uuid::Uuid, i32)| {
        image
            .topic_by_id(key.0)
            .is_some_and(|t| topic_unclean(t, unclean_default))
    };
    let changes = fjord_controller::partition_changes(
        event,
        &cluster,
        partitions.iter().map(|(k, p)| (*k, p)),
        unclean,
    );
    changes
        .into_iter()
        .filter_map(|((id, partition), change)| {
            let (_, before) = partitions.iter().find(|(k, _)| *k == (id, partition))?;
            Some(changed(id, partition, before, &change))
        })
        .collect()
}

/// The record for `change` applied to `before` (Kafka's epoch rules, in `Partition::apply`).
pub(super) fn changed(
    id: uuid::Uuid,
    partition: i32,
    before: &Partition,
    change: &PartitionChange,
) -> MetadataRecord {
    let next = before.apply(change);
    MetadataRecord::PartitionChanged {
        id,
        partition,
        leader: if next.has_leader() {
            next.leader
        } else {
            NO_LEADER
        },
        leader_epoch: next.leader_epoch,
        isr: next.isr,
        partition_epoch: next.partition_epoch,
        replicas: change.replicas.is_some().then_some(next.replicas),
        adding: next.adding_replicas,
        removing: next.removing_replicas,
    }
}

/// The image's brokers as `fjord_controller` sees them; `overriding` sets one broker's fenced
/// flag (the state right after an event).
pub(super) fn cluster_view(image: &MetadataImage, overriding: Option<(i32, bool)>) -> ClusterView {
    ClusterView::from_brokers(image.brokers.values().map(|b| BrokerInfo {
        id: b.id,
        rack: b.rack.clone(),
        fenced: match overriding {
            Some((id, fenced)) if id == b.id => fenced,
            _ => b.fenced,
        },
        in_controlled_shutdown: false,
        epoch: b.epoch,
    }))
}

pub(super) fn partition_state(t: &TopicImage, p: usize) -> Option<Partition> {
    let l = t.leadership(p)?;
    let ongoing = t.reassigning(p).cloned().unwrap_or_default();
    Some(Partition {
        replicas: t.replicas.get(p)?.clone(),
        isr: t.isr(p).to_vec(),
        leader: l.leader,
        leader_epoch: l.leader_epoch,
        partition_epoch: l.partition_epoch,
        leader_recovery_state: Default::default(),
        adding_replicas: ongoing.adding,
        removing_replicas: ongoing.removing,
    })
}

/// AlterPartitionReassignments for one partition, decided by
/// `fjord_controller::alter_reassignment` (`target: None` cancels): the record to propose
/// (none when the partition is already as asked), or the refusal with Kafka's code.
pub fn reassign(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
    target: Option<&[i32]>,
    unclean_default: bool,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let t = image.topic(topic);
    let state = t.and_then(|t| partition_state(t, usize::try_from(partition).ok()?));
    let unclean = t.is_some_and(|t| topic_unclean(t, unclean_default));
    let cluster = cluster_view(image, None);
    let change = fjord_controller::alter_reassignment(state.as_ref(), &cluster, target, unclean)
        .map_err(Refusal::from)?;
    match (t, state, change) {
        (Some(t), Some(before), Some(change)) => {
            Ok(vec![changed(t.id, partition, &before, &change)])
        }
        _ => Ok(Vec::new()),
    }
}

fn topic_unclean(t: &TopicImage, default: bool) -> bool {
    t.configs
        .get("unclean.leader.election.enable")
        .map_or(default, |v| v == "true")
}

/// AlterPartition from a partition leader, validated by `fjord_controller::alter_partition`
/// (leader and partition epochs, ISR members live and assigned): the record to propose, or
/// the refusal with Kafka's code (FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION, ...).
pub fn alter_partition(
    image: &MetadataImage,
    cmd: &Command,
    unclean_default: bool,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let Command::AlterPartition {
        broker,
        topic_id,
        partition,
        leader_epoch,
        partition_epoch,
        new_isr,
    } = cmd
    else {
        return Ok(Vec::new());
    };
    let topic = image.topic_by_id(*topic_id);
    let state = topic.and_then(|t| partition_state(t, usize::try_from(*partition).ok()?));
    let request = AlterPartitionRequest {
        broker_id: *broker,
        version: 3,
        leader_epoch: *leader_epoch,
        partition_epoch: *partition_epoch,
        new_isr: new_isr
            .iter()
            .map(|&broker_id| IsrMember {
                broker_id,
                broker_epoch: -1,
            })
            .collect(),
        leader_recovery_state: 0,
    };
    let unclean = topic.is_some_and(|t| topic_unclean(t, unclean_default));
    let cluster = cluster_view(image, None);
    let outcome = fjord_controller::alter_partition(state.as_ref(), &cluster, &request, unclean)
        .map_err(Refusal::from)?;
    let Some(before) = state else {
        return Ok(Vec::new());
    };
    match outcome {
        AlterPartitionOutcome::Accepted { change: None, .. } => Ok(Vec::new()),
        AlterPartitionOutcome::Accepted {
            change: Some(change),
            ..
        }
        | AlterPartitionOutcome::LeaderChanged { change, .. } => {
            Ok(vec![changed(*topic_id, *partition, &before, &change)])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_session_expires_only_after_its_timeout() {
        let s = Duration::from_secs(2);
        assert!(!session_expired(Duration::from_secs(2), s));
        assert!(session_expired(Duration::from_millis(2001), s));
    }

    fn image() -> MetadataImage {
        let mut img = MetadataImage::default();
        for id in 1..=2 {
            img.apply(MetadataRecord::BrokerRegistered {
                id,
                epoch: id as i64,
                incarnation: uuid::Uuid::new_v4(),
                endpoints: vec![],
                rack: None,
            });
        }
        img.apply(MetadataRecord::TopicCreated {
            name: "t".into(),
            id: uuid::Uuid::nil(),
            replicas: vec![vec![1], vec![2]],
            configs: BTreeMap::new(),
        });
        img
    }

    #[test]
    fn a_fenced_leader_loses_its_partitions_and_gets_them_back_with_new_epochs() {
        let mut img = image();
        let fenced = LivenessEvent::Fenced {
            broker_id: 1,
            epoch: 1,
            reason: fjord_controller::FenceReason::SessionExpired,
        };
        let records = leadership_records(&img, &fenced, false);
        assert_eq!(records.len(), 1, "only broker 1's partition changes");
        for r in records {
            img.apply(r);
        }
        img.apply(MetadataRecord::BrokerFenced { id: 1, epoch: 1 });
        let t = img.topic("t").unwrap();
        assert_eq!(t.leader(0), -1);
        assert_eq!(t.isr(0), &[1], "the last ISR member stays");
        assert_eq!(t.leadership(0).unwrap().leader_epoch, 1);
        assert_eq!(t.leader(1), 2);
        img.apply(MetadataRecord::BrokerUnfenced { id: 1, epoch: 1 });
        let back = LivenessEvent::Unfenced {
            broker_id: 1,
            epoch: 1,
        };
        for r in leadership_records(&img, &back, false) {
            img.apply(r);
        }
        let t = img.topic("t").unwrap();
        assert_eq!(t.leader(0), 1);
        assert_eq!(t.leadership(0).unwrap().leader_epoch, 2);
    }

    #[test]
    fn alter_partition_is_checked_against_the_partition_epoch() {
        let mut img = image();
        img.apply(MetadataRecord::TopicCreated {
            name: "r".into(),
            id: uuid::Uuid::from_u128(7),
            replicas: vec![vec![1, 2]],
            configs: BTreeMap::new(),
        });
        let shrink = |partition_epoch| Command::AlterPartition {
            broker: 1,
            topic_id: uuid::Uuid::from_u128(7),
            partition: 0,
            leader_epoch: 0,
            partition_epoch,
            new_isr: vec![1],
        };
        let records = alter_partition(&img, &shrink(0), false).unwrap();
        assert!(matches!(
            &records[..],
            [MetadataRecord::PartitionChanged { isr, partition_epoch: 1, leader: 1, leader_epoch: 0, .. }] if *isr == vec![1]
        ));
        for r in records {
            img.apply(r);
        }
        let stale = alter_partition(&img, &shrink(0), false).unwrap_err();
        assert_eq!(
            stale.code, 95,
            "INVALID_UPDATE_VERSION for a stale partition epoch"
        );
        let from_follower = Command::AlterPartition {
            broker: 2,
            topic_id: uuid::Uuid::from_u128(7),
            partition: 0,
            leader_epoch: 0,
            partition_epoch: 1,
            new_isr: vec![1, 2],
        };
        assert!(alter_partition(&img, &from_follower, false).is_err());
    }

    #[test]
    fn a_reassignment_is_recorded_with_its_replicas_and_completes_through_alter_partition() {
        let mut img = image();
        img.apply(MetadataRecord::BrokerRegistered {
            id: 3,
            epoch: 3,
            incarnation: uuid::Uuid::new_v4(),
            endpoints: vec![],
            rack: None,
        });
        let records = reassign(&img, "t", 0, Some(&[3]), false).unwrap();
        for r in records {
            img.apply(r);
        }
        let t = img.topic("t").unwrap();
        assert_eq!(t.replicas[0], vec![3, 1]);
        let ongoing = t.reassigning(0).unwrap();
        assert_eq!(
            (ongoing.adding.clone(), ongoing.removing.clone()),
            (vec![3], vec![1])
        );
        assert_eq!(
            reassign(&img, "t", 5, Some(&[3]), false).unwrap_err().code,
            3,
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
        // The leader (1) adds 3 to the ISR once it caught up: the move completes.
        let expand = Command::AlterPartition {
            broker: 1,
            topic_id: uuid::Uuid::nil(),
            partition: 0,
            leader_epoch: 0,
            partition_epoch: 1,
            new_isr: vec![1, 3],
        };
        for r in alter_partition(&img, &expand, false).unwrap() {
            img.apply(r);
        }
        let t = img.topic("t").unwrap();
        assert_eq!(
            (t.replicas[0].clone(), t.isr(0).to_vec()),
            (vec![3], vec![3])
        );
        assert_eq!(t.leader(0), 3);
        assert!(t.reassigning.is_empty());
        let rebuilt = MetadataImage::from_records(img.to_records());
        assert_eq!(rebuilt.topic("t"), img.topic("t"));
        assert_eq!(
            reassign(&img, "t", 0, None, false).unwrap_err().code,
            85,
            "NO_REASSIGNMENT_IN_PROGRESS"
        );
    }
}
