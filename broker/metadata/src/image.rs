//! The metadata image: what the cluster looks like after every record so far.

use crate::record::{BrokerEndpoint, MetadataRecord};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// One topic as the image knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicImage {
    pub name: Arc<str>,
    pub id: Uuid,
    /// `replicas[p]`: partition p's replica node ids, preferred leader first.
    pub replicas: Vec<Vec<i32>>,
    /// `isr[p]`: partition p's in-sync replicas. Every replica starts in sync;
    /// [`MetadataRecord::PartitionChanged`] shrinks and expands it.
    pub isr: Vec<Vec<i32>>,
    /// `leadership[p]`: partition p's leader and epochs (the first replica at epoch 0 until a
    /// [`MetadataRecord::PartitionChanged`] says otherwise).
    pub leadership: Vec<Leadership>,
    /// Topic-level configuration overrides (Kafka names).
    pub configs: BTreeMap<String, String>,
    /// The partitions being reassigned, by index (none for most topics).
    pub reassigning: BTreeMap<i32, Reassigning>,
}

/// An ongoing reassignment of one partition (Kafka's `addingReplicas` / `removingReplicas`):
/// its replica set is the target plus `removing` until every `adding` replica is in sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reassigning {
    /// Replicas of the target that were not replicas before: they catch up as followers.
    pub adding: Vec<i32>,
    /// Replicas outside the target: dropped once the adding ones are in sync.
    pub removing: Vec<i32>,
}

impl Reassigning {
    /// The replicas the partition had before the reassignment (Kafka's
    /// `PartitionReassignmentRevert`): the current ones without the adding ones.
    pub fn original(&self, replicas: &[i32]) -> Vec<i32> {
        replicas
            .iter()
            .copied()
            .filter(|r| !self.adding.contains(r))
            .collect()
    }

    /// The replicas the partition will have (the current ones without the removing ones).
    pub fn target(&self, replicas: &[i32]) -> Vec<i32> {
        replicas
            .iter()
            .copied()
            .filter(|r| !self.removing.contains(r))
            .collect()
    }
}

/// Who leads one partition, and the epochs that order its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leadership {
    /// The leader's node id, -1 without one.
    pub leader: i32,
    /// Bumped on every leader change; stamped on every batch the leader appends.
    pub leader_epoch: i32,
    /// Bumped on every change; guards AlterPartition against stale requests.
    pub partition_epoch: i32,
}

impl Leadership {
    /// A new partition's: its first replica leads at epoch 0.
    pub fn initial(replicas: &[i32]) -> Leadership {
        Leadership {
            leader: replicas.first().copied().unwrap_or(-1),
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }
}

impl TopicImage {
    pub fn partition_count(&self) -> i32 {
        self.replicas.len() as i32
    }

    /// A topic as TopicCreated describes it: every replica in sync.
    pub fn new(
        name: Arc<str>,
        id: Uuid,
        replicas: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
    ) -> TopicImage {
        TopicImage {
            name,
            id,
            isr: replicas.clone(),
            leadership: replicas.iter().map(|r| Leadership::initial(r)).collect(),
            replicas,
            configs,
            reassigning: BTreeMap::new(),
        }
    }

    /// Partition `p`'s ongoing reassignment, if any.
    pub fn reassigning(&self, p: usize) -> Option<&Reassigning> {
        self.reassigning.get(&i32::try_from(p).ok()?)
    }

    /// Partition `p`'s leadership (`None` for a partition the topic does not have).
    pub fn leadership(&self, p: usize) -> Option<Leadership> {
        self.leadership.get(p).copied()
    }

    /// Partition `p`'s leader, -1 for none or an unknown partition.
    pub fn leader(&self, p: usize) -> i32 {
        self.leadership(p).map_or(-1, |l| l.leader)
    }

    /// Whether partition `p` differs from how it was created (it needs a
    /// [`MetadataRecord::PartitionChanged`] in a snapshot).
    fn changed(&self, p: usize) -> bool {
        let replicas = self.replicas.get(p).map_or(&[][..], Vec::as_slice);
        self.leadership(p) != Some(Leadership::initial(replicas))
            || self.isr(p) != replicas
            || self.reassigning(p).is_some()
    }

    /// Partition `p`'s in-sync replicas (empty for a partition the topic does not have).
    pub fn isr(&self, p: usize) -> &[i32] {
        self.isr.get(p).map_or(&[], Vec::as_slice)
    }

    /// Whether partition `p` has fewer in-sync replicas than replicas. Replicas a
    /// reassignment is still adding do not count (Kafka's `isUnderReplicated`).
    pub fn is_under_replicated(&self, p: usize) -> bool {
        let replicas = self.replicas.get(p).map_or(0, Vec::len);
        let adding = self.reassigning(p).map_or(0, |r| r.adding.len());
        self.isr(p).len() < replicas.saturating_sub(adding)
    }
}

/// The folded state of the metadata log. Cheap to clone per change (topics are few).
#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    pub cluster_id: Option<String>,
    pub topics: BTreeMap<Arc<str>, TopicImage>,
    pub topic_names_by_id: BTreeMap<Uuid, Arc<str>>,
    /// The first producer id not yet handed out by any allocation.
    pub next_producer_id_block: i64,
    /// Registered brokers by id, fenced or not.
    pub brokers: BTreeMap<i32, BrokerImage>,
    /// The epoch the next broker registration gets.
    pub next_broker_epoch: i64,
    /// Dynamic broker configs: `None` is the cluster-wide default, `Some(id)` one
    /// broker's own (which wins over the default on that broker). Empty maps are dropped.
    pub broker_configs: BTreeMap<Option<i32>, BTreeMap<String, String>>,
    /// SCRAM credentials by (user, Kafka mechanism id).
    pub scram: BTreeMap<(String, i8), crate::security::ScramCredential>,
    /// Every ACL.
    pub acls: std::collections::BTreeSet<crate::security::AclBinding>,
}

/// One registered broker.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerImage {
    pub id: i32,
    pub epoch: i64,
    /// Which process registered: a restart registers again with a new one.
    pub incarnation: Uuid,
    pub endpoints: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
    /// Fenced: it stopped heartbeating; it is not live and not listed to clients.
    pub fenced: bool,
}

impl BrokerImage {
    /// The endpoint named `listener`, or the first one.
    pub fn endpoint(&self, listener: &str) -> Option<&BrokerEndpoint> {
        self.endpoints
            .iter()
            .find(|e| e.name == listener)
            .or(self.endpoints.first())
    }
}

impl MetadataImage {
    /// Folds one record in. Records referring to unknown topics are ignored: the log
    /// is written only after checks against the image, so they cannot occur.
    pub fn apply(&mut self, record: MetadataRecord) {
        match record {
            MetadataRecord::ClusterFormatted { cluster_id } => self.cluster_id = Some(cluster_id),
            MetadataRecord::TopicCreated {
                name,
                id,
                replicas,
                configs,
            } => {
                let name: Arc<str> = Arc::from(name);
                self.topic_names_by_id.insert(id, name.clone());
                self.topics
                    .insert(name.clone(), TopicImage::new(name, id, replicas, configs));
            }
            MetadataRecord::PartitionsAdded { id, replicas } => {
                if let Some(t) = self.topic_by_id_mut(id) {
                    t.isr.extend(replicas.iter().cloned());
                    t.leadership
                        .extend(replicas.iter().map(|r| Leadership::initial(r)));
                    t.replicas.extend(replicas);
                }
            }
            MetadataRecord::TopicConfigChanged { id, configs } => {
                if let Some(t) = self.topic_by_id_mut(id) {
                    t.configs = configs;
                }
            }
            MetadataRecord::TopicDeleted { id } => {
                if let Some(name) = self.topic_names_by_id.remove(&id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::ProducerIdsAllocated { next } => {
                self.next_producer_id_block = self.next_producer_id_block.max(next);
            }
            MetadataRecord::BrokerRegistered {
                id,
                epoch,
                incarnation,
                endpoints,
                rack,
            } => {
                self.next_broker_epoch = self.next_broker_epoch.max(epoch + 1);
                self.brokers.insert(
                    id,
                    BrokerImage {
                        id,
                        epoch,
                        incarnation,
                        endpoints,
                        rack,
                        fenced: false,
                    },
                );
            }
            MetadataRecord::BrokerFenced { id, epoch } => {
                if let Some(b) = self.brokers.get_mut(&id).filter(|b| b.epoch == epoch) {
                    b.fenced = true;
                }
            }
            MetadataRecord::BrokerUnfenced { id, epoch } => {
                if let Some(b) = self.brokers.get_mut(&id).filter(|b| b.epoch == epoch) {
                    b.fenced = false;
                }
            }
            MetadataRecord::PartitionChanged {
                id,
                partition,
                leader,
                leader_epoch,
                isr,
                partition_epoch,
                replicas,
                adding,
                removing,
            } => {
                let Some(t) = self.topic_by_id_mut(id) else {
                    return;
                };
                let p = usize::try_from(partition).ok();
                if let (Some(l), Some(i)) = (
                    p.and_then(|p| t.leadership.get_mut(p)),
                    p.and_then(|p| t.isr.get_mut(p)),
                ) {
                    *l = Leadership {
                        leader,
                        leader_epoch,
                        partition_epoch,
                    };
                    *i = isr;
                }
                if let (Some(r), Some(replicas)) = (p.and_then(|p| t.replicas.get_mut(p)), replicas)
                {
                    *r = replicas;
                }
                if adding.is_empty() && removing.is_empty() {
                    t.reassigning.remove(&partition);
                } else if p.is_some_and(|p| p < t.replicas.len()) {
                    t.reassigning
                        .insert(partition, Reassigning { adding, removing });
                }
            }
            MetadataRecord::BrokerConfigChanged { broker, configs } => {
                if configs.is_empty() {
                    self.broker_configs.remove(&broker);
                } else {
                    self.broker_configs.insert(broker, configs);
                }
            }
            MetadataRecord::ScramCredentialSet {
                user,
                mechanism,
                credential,
            } => {
                self.scram.insert((user, mechanism), credential);
            }
            MetadataRecord::ScramCredentialDeleted { user, mechanism } => {
                self.scram.remove(&(user, mechanism));
            }
            MetadataRecord::AclCreated { acl } => {
                self.acls.insert(acl);
            }
            MetadataRecord::AclDeleted { acl } => {
                self.acls.remove(&acl);
            }
        }
    }

    /// The dynamic configs of one broker resource (`None`: the cluster-wide default).
    pub fn broker_configs(&self, broker: Option<i32>) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.broker_configs.get(&broker).unwrap_or(&EMPTY)
    }

    /// Live (registered, unfenced) brokers, by id.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// Whether broker `id` is registered and not fenced.
    pub fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    /// Records that rebuild this image from nothing: the content of a snapshot.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        if let Some(id) = &self.cluster_id {
            out.push(MetadataRecord::ClusterFormatted {
                cluster_id: id.clone(),
            });
        }
        if self.next_producer_id_block > 0 {
            out.push(MetadataRecord::ProducerIdsAllocated {
                next: self.next_producer_id_block,
            });
        }
        for b in self.brokers.values() {
            out.push(MetadataRecord::BrokerRegistered {
                id: b.id,
                epoch: b.epoch,
                incarnation: b.incarnation,
                endpoints: b.endpoints.clone(),
                rack: b.rack.clone(),
            });
            if b.fenced {
                out.push(MetadataRecord::BrokerFenced {
                    id: b.id,
                    epoch: b.epoch,
                });
            }
        }
        for (broker, configs) in &self.broker_configs {
            out.push(MetadataRecord::BrokerConfigChanged {
                broker: *broker,
                configs: configs.clone(),
            });
        }
        for t in self.topics.values() {
            out.push(MetadataRecord::TopicCreated {
                name: t.name.to_string(),
                id: t.id,
                replicas: t.replicas.clone(),
                configs: t.configs.clone(),
            });
            for p in (0..t.replicas.len()).filter(|&p| t.changed(p)) {
                let Some(l) = t.leadership(p) else { continue };
                let ongoing = t.reassigning(p).cloned().unwrap_or_default();
                out.push(MetadataRecord::PartitionChanged {
                    id: t.id,
                    partition: p as i32,
                    leader: l.leader,
                    leader_epoch: l.leader_epoch,
                    isr: t.isr(p).to_vec(),
                    partition_epoch: l.partition_epoch,
                    replicas: None,
                    adding: ongoing.adding,
                    removing: ongoing.removing,
                });
            }
        }
        for ((user, mechanism), credential) in &self.scram {
            out.push(MetadataRecord::ScramCredentialSet {
                user: user.clone(),
                mechanism: *mechanism,
                credential: credential.clone(),
            });
        }
        for acl in &self.acls {
            out.push(MetadataRecord::AclCreated { acl: acl.clone() });
        }
        out
    }

    /// Folds records into a fresh image.
    pub fn from_records(records: impl IntoIterator<Item = MetadataRecord>) -> MetadataImage {
        let mut image = MetadataImage::default();
        for r in records {
            image.apply(r);
        }
        image
    }

    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicImage> {
        self.topic_names_by_id
            .get(&id)
            .and_then(|n| self.topics.get(n))
    }

    fn topic_by_id_mut(&mut self, id: Uuid) -> Option<&mut TopicImage> {
        let name = self.topic_names_by_id.get(&id)?.clone();
        self.topics.get_mut(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_register_fence_and_survive_a_snapshot() {
        let mut img = MetadataImage::default();
        img.apply(MetadataRecord::BrokerRegistered {
            id: 1,
            epoch: 0,
            incarnation: Uuid::new_v4(),
            endpoints: vec![],
            rack: Some("r1".into()),
        });
        assert!(img.is_live(1));
        img.apply(MetadataRecord::BrokerFenced { id: 1, epoch: 5 });
        assert!(img.is_live(1), "a stale epoch fences nothing");
        img.apply(MetadataRecord::BrokerFenced { id: 1, epoch: 0 });
        assert!(!img.is_live(1));
        let rebuilt = MetadataImage::from_records(img.to_records());
        assert_eq!(rebuilt.brokers, img.brokers);
        assert_eq!(rebuilt.next_broker_epoch, 1);
    }

    #[test]
    fn dynamic_broker_configs_replace_per_resource_and_survive_a_snapshot() {
        let mut img = MetadataImage::default();
        let set = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        img.apply(MetadataRecord::BrokerConfigChanged {
            broker: None,
            configs: set(&[("log.retention.ms", "1000")]),
        });
        img.apply(MetadataRecord::BrokerConfigChanged {
            broker: Some(2),
            configs: set(&[("log.retention.ms", "5")]),
        });
        assert_eq!(img.broker_configs(None)["log.retention.ms"], "1000");
        assert_eq!(img.broker_configs(Some(2))["log.retention.ms"], "5");
        assert!(img.broker_configs(Some(1)).is_empty());
        let rebuilt = MetadataImage::from_records(img.to_records());
        assert_eq!(rebuilt.broker_configs, img.broker_configs);
        img.apply(MetadataRecord::BrokerConfigChanged {
            broker: Some(2),
            configs: BTreeMap::new(),
        });
        assert!(!img.broker_configs.contains_key(&Some(2)));
    }

    #[test]
    fn folding_create_grow_configure_delete() {
        let id = Uuid::new_v4();
        let mut img = MetadataImage::default();
        img.apply(MetadataRecord::TopicCreated {
            name: "t".into(),
            id,
            replicas: vec![vec![0]],
            configs: BTreeMap::new(),
        });
        img.apply(MetadataRecord::PartitionsAdded {
            id,
            replicas: vec![vec![0], vec![0]],
        });
        img.apply(MetadataRecord::TopicConfigChanged {
            id,
            configs: [("retention.ms".to_string(), "1".to_string())].into(),
        });
        let t = img.topic("t").unwrap();
        assert_eq!(t.partition_count(), 3);
        assert_eq!(t.configs["retention.ms"], "1");
        assert_eq!(t.isr(2), &[0]);
        assert!(!t.is_under_replicated(2));
        let mut shrunk = t.clone();
        shrunk.replicas[0] = vec![0, 1];
        assert!(shrunk.is_under_replicated(0), "ISR [0] < replicas [0, 1]");
        let rebuilt = MetadataImage::from_records(img.to_records());
        assert_eq!(rebuilt.topic("t"), img.topic("t"));
        img.apply(MetadataRecord::PartitionChanged {
            id,
            partition: 1,
            leader: -1,
            leader_epoch: 3,
            isr: vec![],
            partition_epoch: 4,
            replicas: None,
            adding: vec![],
            removing: vec![],
        });
        let t = img.topic("t").unwrap();
        assert_eq!(t.leader(1), -1);
        assert_eq!(t.leadership(1).unwrap().leader_epoch, 3);
        assert_eq!(t.leader(0), 0, "other partitions keep their leader");
        let rebuilt = MetadataImage::from_records(img.to_records());
        assert_eq!(
            rebuilt.topic("t"),
            img.topic("t"),
            "a snapshot keeps leadership changes"
        );
        img.apply(MetadataRecord::TopicDeleted { id });
        assert!(img.topic("t").is_none());
        assert!(img.topic_by_id(id).is_none());
    }

    #[test]
    fn a_reassignment_changes_replicas_and_survives_a_snapshot() {
        let id = Uuid::new_v4();
        let mut img = MetadataImage::default();
        img.apply(MetadataRecord::TopicCreated {
            name: "t".into(),
            id,
            replicas: vec![vec![1, 2]],
            configs: BTreeMap::new(),
        });
        img.apply(MetadataRecord::PartitionChanged {
            id,
            partition: 0,
            leader: 1,
            leader_epoch: 0,
            isr: vec![1, 2],
            partition_epoch: 1,
            replicas: Some(vec![3, 2, 1]),
            adding: vec![3],
            removing: vec![1],
        });
        let t = img.topic("t").unwrap();
        assert_eq!(t.replicas[0], vec![3, 2, 1]);
        let ongoing = t.reassigning(0).unwrap();
        assert_eq!(ongoing.original(&t.replicas[0]), vec![2, 1]);
        assert_eq!(ongoing.target(&t.replicas[0]), vec![3, 2]);
        let rebuilt = MetadataImage::from_records(img.to_records());
        assert_eq!(rebuilt.topic("t"), img.topic("t"));
        img.apply(MetadataRecord::PartitionChanged {
            id,
            partition: 0,
            leader: 2,
            leader_epoch: 1,
            isr: vec![2, 3],
            partition_epoch: 2,
            replicas: Some(vec![3, 2]),
            adding: vec![],
            removing: vec![],
        });
        let t = img.topic("t").unwrap();
        assert!(t.reassigning.is_empty());
        let rebuilt = MetadataImage::from_records(img.to_records());
        assert_eq!(rebuilt.topic("t"), img.topic("t"));
    }

    #[test]
    fn a_partition_change_written_before_reassignment_still_decodes() {
        let old = r#"{"type":"partition_changed","id":"00000000-0000-0000-0000-000000000007","partition":0,"leader":2,"leader_epoch":3,"isr":[2],"partition_epoch":4}"#;
        let record: MetadataRecord = serde_json::from_str(old).unwrap();
        assert!(matches!(
            record,
            MetadataRecord::PartitionChanged { replicas: None, ref adding, .. } if adding.is_empty()
        ));
    }
}
