//! The controller's decision: `(config, image, command) -> records or a Kafka error`.
//! Deterministic and without I/O, so the same command against the same image always
//! gives the same records.

use super::controller::{Command, Done, Refusal};
use super::decisions;
use crate::config::BrokerConfig;
use crate::topics::{self, TopicError};
use fjord_controller::{FenceReason, LivenessEvent};
use fjord_metadata::{MetadataImage, MetadataRecord, TopicImage};
use kafka_protocol::error::ResponseError;
use std::sync::Arc;

/// What a command decided.
pub struct Decision {
    pub records: Vec<MetadataRecord>,
    pub done: Done,
    /// A topic with partitions from `first_new_partition` on that brokers must create.
    pub hosted: Option<TopicImage>,
    pub first_new_partition: i32,
}

impl Decision {
    fn records(records: Vec<MetadataRecord>) -> Decision {
        Decision {
            records,
            done: Done::default(),
            hosted: None,
            first_new_partition: 0,
        }
    }
}

impl From<TopicError> for Refusal {
    fn from(e: TopicError) -> Refusal {
        Refusal::new(e.code, e.message)
    }
}

impl From<fjord_controller::ControllerError> for Refusal {
    fn from(e: fjord_controller::ControllerError) -> Refusal {
        Refusal {
            code: e.code(),
            message: e.message().unwrap_or_else(|| e.to_string()),
        }
    }
}

pub fn decide(
    cfg: &BrokerConfig,
    image: &MetadataImage,
    cmd: &Command,
) -> Result<Decision, Refusal> {
    match cmd {
        Command::CreateTopic { topic, id, .. } => {
            if image.topic(&topic.name).is_some() {
                return Err(Refusal::new(
                    ResponseError::TopicAlreadyExists,
                    format!("topic `{}` already exists", topic.name),
                ));
            }
            let replicas = topics::plan_topic(cfg, image, topic)?;
            let hosted = TopicImage::new(
                Arc::from(topic.name.as_str()),
                *id,
                replicas.clone(),
                topic.configs.clone(),
            );
            Ok(Decision {
                records: vec![MetadataRecord::TopicCreated {
                    name: topic.name.clone(),
                    id: *id,
                    replicas: replicas.clone(),
                    configs: topic.configs.clone(),
                }],
                done: Done {
                    replicas,
                    ..Done::default()
                },
                hosted: Some(hosted),
                first_new_partition: 0,
            })
        }
        Command::DeleteTopic { id } => match image.topic_by_id(*id) {
            Some(_) => Ok(Decision::records(vec![MetadataRecord::TopicDeleted {
                id: *id,
            }])),
            None => Err(Refusal::new(
                ResponseError::UnknownTopicId,
                format!("no topic with id {id}"),
            )),
        },
        Command::CreatePartitions {
            name,
            total,
            assignment,
            ..
        } => {
            let (topic, new) =
                topics::plan_partitions(cfg, image, name, *total, assignment.clone())?;
            let mut grown = topic.clone();
            grown.replicas.extend(new.iter().cloned());
            grown.isr.extend(new.iter().cloned());
            grown
                .leadership
                .extend(new.iter().map(|r| fjord_metadata::Leadership::initial(r)));
            Ok(Decision {
                records: vec![MetadataRecord::PartitionsAdded {
                    id: topic.id,
                    replicas: new.clone(),
                }],
                done: Done {
                    replicas: new,
                    ..Done::default()
                },
                first_new_partition: topic.partition_count(),
                hosted: Some(grown),
            })
        }
        Command::SetTopicConfigs { name, configs, .. } => {
            let topic = topics::check_configs(cfg, image, name, configs)?;
            if topic.configs == *configs {
                return Ok(Decision::records(Vec::new()));
            }
            Ok(Decision::records(vec![
                MetadataRecord::TopicConfigChanged {
                    id: topic.id,
                    configs: configs.clone(),
                },
            ]))
        }
        Command::SetBrokerConfigs {
            broker, configs, ..
        } => broker_configs(image, *broker, configs),
        Command::AllocateProducerIds { block } => {
            let start = image.next_producer_id_block;
            let mut d = Decision::records(vec![MetadataRecord::ProducerIdsAllocated {
                next: start + block,
            }]);
            d.done.producer_id_start = start;
            Ok(d)
        }
        Command::Heartbeat { id, .. } => {
            let mut records = heartbeat(image, cmd);
            // Back (unfenced or registered again): leaderless partitions it is in sync for
            // get it as leader, after the record that makes it live.
            if let Some(epoch) = records.iter().find_map(|r| match r {
                MetadataRecord::BrokerUnfenced { epoch, .. }
                | MetadataRecord::BrokerRegistered { epoch, .. } => Some(*epoch),
                _ => None,
            }) {
                let back = LivenessEvent::Unfenced {
                    broker_id: *id,
                    epoch,
                };
                records.extend(decisions::leadership_records(
                    image,
                    &back,
                    cfg.unclean_leader_election,
                ));
            }
            Ok(Decision::records(records))
        }
        Command::Fence { id, epoch } => Ok(Decision::records(match image.brokers.get(id) {
            Some(b) if b.epoch == *epoch && !b.fenced => {
                // Kafka's order: its leaderships and ISR places go first, then the fence.
                let fenced = LivenessEvent::Fenced {
                    broker_id: *id,
                    epoch: *epoch,
                    reason: FenceReason::SessionExpired,
                };
                let mut records =
                    decisions::leadership_records(image, &fenced, cfg.unclean_leader_election);
                records.push(MetadataRecord::BrokerFenced {
                    id: *id,
                    epoch: *epoch,
                });
                records
            }
            _ => Vec::new(),
        })),
        Command::ControlledShutdown { id, epoch } => {
            let event = LivenessEvent::ControlledShutdown {
                broker_id: *id,
                epoch: *epoch,
            };
            Ok(Decision::records(decisions::leadership_records(
                image,
                &event,
                cfg.unclean_leader_election,
            )))
        }
        Command::AlterPartition { .. } => {
            decisions::alter_partition(image, cmd, cfg.unclean_leader_election)
                .map(Decision::records)
        }
        Command::Reassign {
            topic,
            partition,
            target,
        } => decisions::reassign(
            image,
            topic,
            *partition,
            target.as_deref(),
            cfg.unclean_leader_election,
        )
        .map(Decision::records),
        Command::Format { cluster_id } => Ok(Decision::records(match image.cluster_id {
            None => vec![MetadataRecord::ClusterFormatted {
                cluster_id: cluster_id.clone(),
            }],
            Some(_) => Vec::new(),
        })),
        Command::ElectLeaders {
            election_type,
            partitions,
        } => {
            let election_type = fjord_controller::ElectionType::from_value(*election_type)?;
            let (records, elections) =
                super::elect::elect_leaders(image, election_type, partitions.as_deref())?;
            let mut d = Decision::records(records);
            d.done.elections = elections;
            Ok(d)
        }
        Command::RebalanceLeaders => {
            let (records, incomplete) = super::elect::rebalance(image);
            let mut d = Decision::records(records);
            d.done.rebalance_incomplete = incomplete;
            Ok(d)
        }
        Command::Security(c) => {
            let (records, acls_deleted) = crate::security::commands::decide(image, c)
                .map_err(|(code, message)| Refusal::new(code, message))?;
            Ok(Decision {
                records,
                done: Done {
                    acls_deleted,
                    ..Done::default()
                },
                hosted: None,
                first_new_partition: 0,
            })
        }
    }
}

/// Replacing one BROKER resource's dynamic configs: every key must be a broker key that
/// may change at run time, with a valid value.
fn broker_configs(
    image: &MetadataImage,
    broker: Option<i32>,
    configs: &std::collections::BTreeMap<String, String>,
) -> Result<Decision, Refusal> {
    use crate::config::dynamic::{check, Refused};
    check(configs).map_err(|r| match r {
        Refused::Unknown(m) => Refusal::new(ResponseError::InvalidConfig, m),
        Refused::ReadOnly(m) | Refused::BadValue(m) => {
            Refusal::new(ResponseError::InvalidRequest, m)
        }
    })?;
    if image.broker_configs(broker) == configs {
        return Ok(Decision::records(Vec::new()));
    }
    Ok(Decision::records(vec![
        MetadataRecord::BrokerConfigChanged {
            broker,
            configs: configs.clone(),
        },
    ]))
}

/// The records a heartbeat needs: a registration for a new or restarted broker (or one
/// whose listeners or rack changed), an unfencing for a fenced one, else none.
pub fn heartbeat(image: &MetadataImage, cmd: &Command) -> Vec<MetadataRecord> {
    let Command::Heartbeat {
        id,
        incarnation,
        endpoints,
        rack,
    } = cmd
    else {
        return Vec::new();
    };
    match image.brokers.get(id) {
        Some(b)
            if b.incarnation == *incarnation && b.endpoints == *endpoints && b.rack == *rack =>
        {
            if b.fenced {
                vec![MetadataRecord::BrokerUnfenced {
                    id: *id,
                    epoch: b.epoch,
                }]
            } else {
                Vec::new()
            }
        }
        _ => vec![MetadataRecord::BrokerRegistered {
            id: *id,
            epoch: image.next_broker_epoch,
            incarnation: *incarnation,
            endpoints: endpoints.clone(),
            rack: rack.clone(),
        }],
    }
}
