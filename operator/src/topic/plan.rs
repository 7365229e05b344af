//! What a Topic reconcile must do on the brokers, decided from the spec and what the brokers
//! report. Pure: the reconcile performs the plan, the tests check the decisions.

use std::collections::BTreeMap;

use fjord_client::{BrokerInfo, ConfigEntry, ConfigSource, NewTopic, TopicInfo};
use fjord_crds::topic::ConfigDrift;
use fjord_crds::TopicSpec;

use crate::assignment::{assign, AssignmentError, Broker};

/// A spec change the operator will not carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Kafka cannot remove partitions without losing their data.
    PartitionDecrease { current: i32, requested: i32 },
}

impl Refusal {
    /// Condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::PartitionDecrease { .. } => "PartitionDecreaseRefused",
        }
    }

    /// Condition message.
    pub fn message(&self) -> String {
        match self {
            Refusal::PartitionDecrease { current, requested } => format!(
                "the topic has {current} partitions; Kafka cannot reduce them to {requested} \
                 without losing data (set spec.partitions back to at least {current})"
            ),
        }
    }
}

/// Actions bringing one topic to its spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicPlan {
    /// The topic does not exist: create it.
    pub create: Option<NewTopic>,
    /// Grow to `.0` partitions with replicas `.1` for the new ones.
    pub grow: Option<(i32, Vec<Vec<i32>>)>,
    /// A replication-factor change: the new replicas of each partition whose count differs
    /// (existing replicas kept first, so the preferred leader stays), carried out by
    /// AlterPartitionReassignments.
    pub reassign: Vec<(i32, Vec<i32>)>,
    /// Configs to set.
    pub set_configs: BTreeMap<String, String>,
    /// Configs to reset to the broker default.
    pub delete_configs: Vec<String>,
    /// Configs found different from the spec.
    pub drift: Vec<ConfigDrift>,
    /// Spec changes refused.
    pub refusals: Vec<Refusal>,
}

/// Decides what to do for topic `name`. `observed` and `configs` are what the brokers report
/// (None / empty when the topic does not exist).
pub fn plan_topic(
    name: &str,
    spec: &TopicSpec,
    brokers: &[BrokerInfo],
    observed: Option<&TopicInfo>,
    configs: &[ConfigEntry],
) -> Result<TopicPlan, AssignmentError> {
    let brokers: Vec<Broker> = brokers
        .iter()
        .map(|b| Broker {
            id: b.node_id,
            rack: b.rack.clone(),
        })
        .collect();
    let mut plan = TopicPlan::default();
    let Some(topic) = observed else {
        let assignment = assign(name, &brokers, 0, spec.partitions, spec.replication_factor)?;
        plan.create = Some(NewTopic {
            name: name.into(),
            partitions: spec.partitions,
            replication_factor: i16::try_from(spec.replication_factor).unwrap_or(i16::MAX),
            assignment: Some(assignment),
            configs: spec.config.clone(),
        });
        return Ok(plan);
    };

    let current = topic.partitions.len() as i32;
    let current_rf = replication_factor(topic);
    if spec.partitions < current {
        plan.refusals.push(Refusal::PartitionDecrease {
            current,
            requested: spec.partitions,
        });
    } else if spec.partitions > current {
        let rf = current_rf.unwrap_or(spec.replication_factor);
        let new = assign(name, &brokers, current, spec.partitions, rf)?;
        plan.grow = Some((spec.partitions, new));
    }
    if current_rf.is_some_and(|rf| rf != spec.replication_factor) {
        plan.reassign = replication_factor_moves(&brokers, topic, spec.replication_factor)?;
    }
    plan_configs(&mut plan, &spec.config, configs);
    Ok(plan)
}

/// The new replica lists that give every partition of `topic` `rf` replicas: a partition
/// keeps its first `rf` replicas when it shrinks; when it grows it keeps all of them and
/// gains, one at a time, a broker in a rack the partition does not use yet when there is
/// one, then the one holding fewest of the topic's replicas (counting those just planned),
/// then the lowest id.
fn replication_factor_moves(
    brokers: &[Broker],
    topic: &TopicInfo,
    rf: i32,
) -> Result<Vec<(i32, Vec<i32>)>, AssignmentError> {
    if rf < 1 {
        return Err(AssignmentError::InvalidReplicationFactor(rf));
    }
    let want = usize::try_from(rf).unwrap_or(usize::MAX);
    if want > brokers.len() {
        return Err(AssignmentError::ReplicationFactorTooLarge {
            replication_factor: rf,
            brokers: brokers.len(),
        });
    }
    let rack = |id: i32| {
        brokers
            .iter()
            .find(|b| b.id == id)
            .and_then(|b| b.rack.clone())
    };
    let mut load: BTreeMap<i32, usize> = brokers.iter().map(|b| (b.id, 0)).collect();
    for p in &topic.partitions {
        for r in p.replicas.iter().take(want) {
            *load.entry(*r).or_default() += 1;
        }
    }
    let mut moves = Vec::new();
    for p in &topic.partitions {
        if p.replicas.len() == want {
            continue;
        }
        let mut target: Vec<i32> = p.replicas.iter().copied().take(want).collect();
        while target.len() < want {
            let used: Vec<Option<String>> = target.iter().map(|r| rack(*r)).collect();
            let Some(next) = brokers
                .iter()
                .filter(|b| !target.contains(&b.id))
                .min_by_key(|b| {
                    let rack_used = b.rack.is_some() && used.contains(&b.rack);
                    (rack_used, load.get(&b.id).copied().unwrap_or(0), b.id)
                })
                .map(|b| b.id)
            else {
                break;
            };
            target.push(next);
            *load.entry(next).or_default() += 1;
        }
        moves.push((p.partition, target));
    }
    Ok(moves)
}

/// Replicas of the lowest partition, the topic's replication factor.
pub fn replication_factor(topic: &TopicInfo) -> Option<i32> {
    topic
        .partitions
        .iter()
        .min_by_key(|p| p.partition)
        .map(|p| p.replicas.len() as i32)
}

/// Only configs set on the topic itself count: defaults and broker-wide values are not the
/// topic's to reset.
fn plan_configs(plan: &mut TopicPlan, desired: &BTreeMap<String, String>, configs: &[ConfigEntry]) {
    let actual: BTreeMap<&str, Option<&str>> = configs
        .iter()
        .filter(|c| c.source == ConfigSource::DynamicTopic && !c.sensitive)
        .map(|c| (c.name.as_str(), c.value.as_deref()))
        .collect();
    for (k, v) in desired {
        match actual.get(k.as_str()) {
            Some(Some(a)) if a == v => {}
            found => {
                plan.set_configs.insert(k.clone(), v.clone());
                if let Some(found) = found {
                    plan.drift.push(ConfigDrift {
                        name: k.clone(),
                        desired: Some(v.clone()),
                        actual: found.map(String::from),
                    });
                } else if configs.iter().any(|c| c.name == *k) {
                    // Set in the spec but not on the topic: it runs on the default instead.
                    plan.drift.push(ConfigDrift {
                        name: k.clone(),
                        desired: Some(v.clone()),
                        actual: None,
                    });
                }
            }
        }
    }
    for (k, v) in actual {
        if !desired.contains_key(k) {
            plan.delete_configs.push(k.to_string());
            plan.drift.push(ConfigDrift {
                name: k.to_string(),
                desired: None,
                actual: v.map(String::from),
            });
        }
    }
    plan.drift.sort_by(|a, b| a.name.cmp(&b.name));
}

#[cfg(test)]
mod tests {
    use super::*;
    use fjord_client::PartitionInfo;

    fn spec(partitions: i32, rf: i32, config: &[(&str, &str)]) -> TopicSpec {
        TopicSpec {
            cluster: "events".into(),
            topic_name: None,
            partitions,
            replication_factor: rf,
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            deletion_policy: Default::default(),
        }
    }

    fn brokers(n: i32) -> Vec<BrokerInfo> {
        (0..n)
            .map(|id| BrokerInfo {
                node_id: id,
                host: format!("b{id}"),
                port: 9092,
                rack: None,
            })
            .collect()
    }

    fn topic(partitions: i32, rf: i32) -> TopicInfo {
        TopicInfo {
            name: "orders".into(),
            topic_id: uuid::Uuid::nil(),
            partitions: (0..partitions)
                .map(|p| PartitionInfo {
                    partition: p,
                    leader: 0,
                    replicas: (0..rf).collect(),
                    isr: (0..rf).collect(),
                })
                .collect(),
        }
    }

    fn entry(name: &str, value: &str, source: ConfigSource) -> ConfigEntry {
        ConfigEntry {
            name: name.into(),
            value: Some(value.into()),
            source,
            read_only: false,
            sensitive: false,
        }
    }

    #[test]
    fn a_missing_topic_is_created_with_an_explicit_assignment() {
        let p = plan_topic(
            "orders",
            &spec(6, 2, &[("retention.ms", "1000")]),
            &brokers(3),
            None,
            &[],
        )
        .unwrap();
        let create = p.create.unwrap();
        assert_eq!(create.partitions, 6);
        assert_eq!(create.replication_factor, 2);
        let a = create.assignment.unwrap();
        assert_eq!(a.len(), 6);
        assert!(a.iter().all(|r| r.len() == 2));
        assert_eq!(create.configs["retention.ms"], "1000");
    }

    #[test]
    fn creating_with_more_replicas_than_brokers_is_refused() {
        let err = plan_topic("orders", &spec(1, 3, &[]), &brokers(1), None, &[]).unwrap_err();
        assert_eq!(
            err,
            AssignmentError::ReplicationFactorTooLarge {
                replication_factor: 3,
                brokers: 1
            }
        );
    }

    #[test]
    fn more_partitions_grow_the_topic_with_replicas_for_the_new_ones_only() {
        let p = plan_topic(
            "orders",
            &spec(5, 1, &[]),
            &brokers(3),
            Some(&topic(3, 1)),
            &[],
        )
        .unwrap();
        let (total, new) = p.grow.unwrap();
        assert_eq!(total, 5);
        assert_eq!(new.len(), 2);
        assert!(p.create.is_none() && p.refusals.is_empty());
    }

    #[test]
    fn fewer_partitions_are_refused_not_applied() {
        let p = plan_topic(
            "orders",
            &spec(2, 1, &[]),
            &brokers(3),
            Some(&topic(4, 1)),
            &[],
        )
        .unwrap();
        assert!(p.grow.is_none());
        assert_eq!(
            p.refusals,
            [Refusal::PartitionDecrease {
                current: 4,
                requested: 2
            }]
        );
    }

    #[test]
    fn a_replication_factor_change_is_a_reassignment_keeping_the_preferred_leaders() {
        let grow = plan_topic(
            "orders",
            &spec(3, 3, &[]),
            &brokers(4),
            Some(&topic(3, 1)),
            &[],
        )
        .unwrap();
        assert!(grow.refusals.is_empty());
        assert_eq!(grow.reassign.len(), 3);
        let before = topic(3, 1);
        let mut load = BTreeMap::new();
        for ((p, target), old) in grow.reassign.iter().zip(&before.partitions) {
            assert_eq!(*p, old.partition);
            assert_eq!(target.len(), 3);
            assert_eq!(
                target[0], old.replicas[0],
                "the preferred leader stays first"
            );
            let distinct: std::collections::BTreeSet<_> = target.iter().collect();
            assert_eq!(distinct.len(), 3, "{target:?}");
            for b in target {
                *load.entry(*b).or_insert(0) += 1;
            }
        }
        assert!(
            load.values().max().unwrap() - load.values().min().unwrap() <= 1,
            "balanced over the brokers: {load:?}"
        );
        let shrink = plan_topic(
            "orders",
            &spec(3, 1, &[]),
            &brokers(4),
            Some(&topic(3, 2)),
            &[],
        )
        .unwrap();
        let kept: Vec<_> = topic(3, 2)
            .partitions
            .iter()
            .map(|p| (p.partition, vec![p.replicas[0]]))
            .collect();
        assert_eq!(shrink.reassign, kept, "shrinking keeps the first replicas");
        let same = plan_topic(
            "orders",
            &spec(3, 2, &[]),
            &brokers(4),
            Some(&topic(3, 2)),
            &[],
        )
        .unwrap();
        assert!(same.reassign.is_empty());
        assert!(
            plan_topic(
                "orders",
                &spec(3, 5, &[]),
                &brokers(4),
                Some(&topic(3, 1)),
                &[],
            )
            .is_err(),
            "more replicas than brokers"
        );
    }

    #[test]
    fn configs_are_brought_to_the_spec_and_drift_reported() {
        let configs = [
            entry("retention.ms", "5", ConfigSource::DynamicTopic),
            entry("cleanup.policy", "compact", ConfigSource::DynamicTopic),
            entry("segment.bytes", "1024", ConfigSource::DynamicTopic),
            entry("max.message.bytes", "1048588", ConfigSource::Default),
        ];
        let s = spec(
            3,
            1,
            &[
                ("retention.ms", "1000"),
                ("segment.bytes", "1024"),
                ("max.message.bytes", "2000"),
            ],
        );
        let p = plan_topic("orders", &s, &brokers(1), Some(&topic(3, 1)), &configs).unwrap();
        assert_eq!(
            p.set_configs,
            BTreeMap::from([
                ("max.message.bytes".into(), "2000".into()),
                ("retention.ms".into(), "1000".into())
            ])
        );
        assert_eq!(p.delete_configs, ["cleanup.policy"]);
        let drifted: Vec<_> = p
            .drift
            .iter()
            .map(|d| (d.name.as_str(), d.actual.as_deref()))
            .collect();
        assert_eq!(
            drifted,
            [
                ("cleanup.policy", Some("compact")),
                ("max.message.bytes", None),
                ("retention.ms", Some("5"))
            ]
        );
    }

    #[test]
    fn a_topic_matching_its_spec_needs_nothing() {
        let configs = [entry("retention.ms", "1000", ConfigSource::DynamicTopic)];
        let p = plan_topic(
            "orders",
            &spec(3, 1, &[("retention.ms", "1000")]),
            &brokers(1),
            Some(&topic(3, 1)),
            &configs,
        )
        .unwrap();
        assert_eq!(p, TopicPlan::default());
    }
}
