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
    /// `isr[p]`: partition p's in-sync replicas. Every replica starts in sync; no record
    /// shrinks an ISR yet (single-node build), but readers take it from here.
    pub isr: Vec<Vec<i32>>,
    /// Topic-level configuration overrides (Kafka names).
    pub configs: BTreeMap<String, String>,
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
            replicas,
            configs,
        }
    }

    /// Partition `p`'s in-sync replicas (empty for a partition the topic does not have).
    pub fn isr(&self, p: usize) -> &[i32] {
        self.isr.get(p).map_or(&[], Vec::as_slice)
    }

    /// Whether partition `p` has fewer in-sync replicas than replicas.
    pub fn is_under_replicated(&self, p: usize) -> bool {
        let replicas = self.replicas.get(p).map_or(0, Vec::len);
        self.isr(p).len() < replicas
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
        for t in self.topics.values() {
            out.push(MetadataRecord::TopicCreated {
                name: t.name.to_string(),
                id: t.id,
                replicas: t.replicas.clone(),
                configs: t.configs.clone(),
            });
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
        img.apply(MetadataRecord::TopicDeleted { id });
        assert!(img.topic("t").is_none());
        assert!(img.topic_by_id(id).is_none());
    }
}
