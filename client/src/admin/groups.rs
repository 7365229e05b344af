//! Consumer groups: FindCoordinator, ListGroups, DescribeGroups, OffsetFetch, OffsetCommit and
//! DeleteGroups. Everything but ListGroups goes to the group's coordinator, as Kafka requires.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Buf;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest,
    GroupId, ListGroupsRequest, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Message, StrBytes, VersionRange};

use super::nodes::kafka_error;
use super::{from_version, AdminClient, Retry};
use crate::codes::code;
use crate::ClientError;

/// Kafka's `FindCoordinatorRequest.CoordinatorType.GROUP`.
const KEY_TYPE_GROUP: i8 = 0;

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// `consumer` for Kafka consumers; empty for groups that only commit offsets.
    pub protocol_type: String,
    /// Group state (`Stable`, `Empty`, ...); empty when the broker is older than ListGroups v4.
    pub state: String,
}

/// A group and its members as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// Group state: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`, `Dead`.
    pub state: String,
    /// `consumer` for Kafka consumers.
    pub protocol_type: String,
    /// The chosen assignor, e.g. `range` or `cooperative-sticky`.
    pub protocol: String,
    /// Current members.
    pub members: Vec<MemberDescription>,
    /// Node id of the coordinator that answered.
    pub coordinator: i32,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id` for static members.
    pub group_instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address as the coordinator saw it.
    pub client_host: String,
    /// Partitions assigned to it, by topic (empty if the assignment is not the consumer
    /// protocol's or cannot be read).
    pub assignment: BTreeMap<String, Vec<i32>>,
}

impl AdminClient {
    /// The address (`host:port`) and node id of `group`'s coordinator.
    pub async fn find_coordinator(&self, group: &str) -> Result<(String, i32), ClientError> {
        let key = StrBytes::from_string(group.to_owned());
        let (response, version) = self
            .call(
                from_version(1, FindCoordinatorRequest::VERSIONS),
                Retry::Once,
                |version| {
                    let request = FindCoordinatorRequest::default().with_key_type(KEY_TYPE_GROUP);
                    // v4 replaced the single key with a list of keys.
                    if version >= 4 {
                        request.with_coordinator_keys(vec![key.clone()])
                    } else {
                        request.with_key(key.clone())
                    }
                },
            )
            .await?;
        if version >= 4 {
            let c = response
                .coordinators
                .iter()
                .find(|c| c.key.as_str() == group)
                .ok_or_else(|| {
                    ClientError::Protocol("FindCoordinator response names no coordinator".into())
                })?;
            ClientError::check("FindCoordinator", c.error_code, c.error_message.as_deref())?;
            return Ok((format!("{}:{}", c.host.as_str(), c.port), c.node_id.0));
        }
        ClientError::check(
            "FindCoordinator",
            response.error_code,
            response.error_message.as_deref(),
        )?;
        Ok((
            format!("{}:{}", response.host.as_str(), response.port),
            response.node_id.0,
        ))
    }

    /// Every group of every broker (ListGroups is answered by each broker for the groups it
    /// coordinates), sorted by id.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, ClientError> {
        let mut groups = BTreeMap::new();
        for addr in self.broker_addresses().await?.values() {
            let (response, _) = self
                .call_at(addr, ListGroupsRequest::VERSIONS, Retry::Once, |_| {
                    ListGroupsRequest::default()
                })
                .await?;
            ClientError::check("ListGroups", response.error_code, None)?;
            for g in response.groups {
                let listing = GroupListing {
                    group_id: g.group_id.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    state: g.group_state.to_string(),
                };
                groups.insert(listing.group_id.clone(), listing);
            }
        }
        Ok(groups.into_values().collect())
    }

    /// The group's state and members. A group the coordinator does not know is reported by
    /// Kafka as state `Dead` with no members; that is returned as GROUP_ID_NOT_FOUND.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription, ClientError> {
        let (addr, coordinator) = self.find_coordinator(group).await?;
        let id = GroupId(StrBytes::from_string(group.to_owned()));
        let (response, _) = self
            .call_at(&addr, DescribeGroupsRequest::VERSIONS, Retry::Once, |_| {
                DescribeGroupsRequest::default().with_groups(vec![id.clone()])
            })
            .await?;
        let g = response
            .groups
            .into_iter()
            .find(|g| g.group_id.as_str() == group)
            .ok_or_else(|| ClientError::Protocol("DescribeGroups response is empty".into()))?;
        ClientError::check("DescribeGroups", g.error_code, g.error_message.as_deref())?;
        if g.group_state.as_str() == "Dead" {
            return Err(group_not_found("DescribeGroups", group));
        }
        let consumer = g.protocol_type.as_str() == "consumer";
        let members = g
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                client_id: m.client_id.to_string(),
                client_host: m.client_host.to_string(),
                assignment: if consumer {
                    decode_assignment(m.member_assignment.clone())
                } else {
                    BTreeMap::new()
                },
            })
            .collect();
        Ok(GroupDescription {
            group_id: group.to_owned(),
            state: g.group_state.to_string(),
            protocol_type: g.protocol_type.to_string(),
            protocol: g.protocol_data.to_string(),
            members,
            coordinator,
        })
    }

    /// The group's committed offsets, by (topic, partition). Partitions without a committed
    /// offset are left out.
    pub async fn committed_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
        let (addr, _) = self.find_coordinator(group).await?;
        let id = GroupId(StrBytes::from_string(group.to_owned()));
        // v2..v7: one group, `topics: null` for all of them (v8 moved to a list of groups).
        let versions = VersionRange { min: 2, max: 7 };
        let (response, _) = self
            .call_at(&addr, versions, Retry::Once, |_| {
                OffsetFetchRequest::default()
                    .with_group_id(id.clone())
                    .with_topics(None)
            })
            .await?;
        ClientError::check("OffsetFetch", response.error_code, None)?;
        let mut offsets = BTreeMap::new();
        for t in &response.topics {
            for p in &t.partitions {
                ClientError::check("OffsetFetch", p.error_code, None)?;
                if p.committed_offset >= 0 {
                    offsets.insert((t.name.to_string(), p.partition_index), p.committed_offset);
                }
            }
        }
        Ok(offsets)
    }

    /// Commits `offsets` for `group` as an admin would: no member id, generation -1, which the
    /// coordinator accepts only while the group has no active members (UNKNOWN_MEMBER_ID or
    /// a rebalance error otherwise).
    pub async fn commit_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<(String, i32), i64>,
    ) -> Result<(), ClientError> {
        let (addr, _) = self.find_coordinator(group).await?;
        let id = GroupId(StrBytes::from_string(group.to_owned()));
        let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for ((topic, partition), offset) in offsets {
            by_topic.entry(topic).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*partition)
                    .with_committed_offset(*offset)
                    .with_committed_leader_epoch(-1),
            );
        }
        let topics: Vec<OffsetCommitRequestTopic> = by_topic
            .into_iter()
            .map(|(t, partitions)| {
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_owned())))
                    .with_partitions(partitions)
            })
            .collect();
        // v2..v9 name topics by name (v10 by id).
        let versions = VersionRange { min: 2, max: 9 };
        let (response, _) = self
            .call_at(&addr, versions, Retry::Never, |_| {
                OffsetCommitRequest::default()
                    .with_group_id(id.clone())
                    .with_generation_id_or_member_epoch(-1)
                    .with_member_id(StrBytes::default())
                    .with_retention_time_ms(-1)
                    .with_topics(topics.clone())
            })
            .await?;
        for t in &response.topics {
            for p in &t.partitions {
                ClientError::check("OffsetCommit", p.error_code, None)?;
            }
        }
        Ok(())
    }

    /// Deletes a group and its offsets. NON_EMPTY_GROUP while it has members,
    /// GROUP_ID_NOT_FOUND when there is no such group.
    pub async fn delete_group(&self, group: &str) -> Result<(), ClientError> {
        let (addr, _) = self.find_coordinator(group).await?;
        let id = GroupId(StrBytes::from_string(group.to_owned()));
        let (response, _) = self
            .call_at(&addr, DeleteGroupsRequest::VERSIONS, Retry::Never, |_| {
                DeleteGroupsRequest::default().with_groups_names(vec![id.clone()])
            })
            .await?;
        let result = response
            .results
            .iter()
            .find(|r| r.group_id.as_str() == group)
            .ok_or_else(|| ClientError::Protocol("DeleteGroups response is empty".into()))?;
        ClientError::check("DeleteGroups", result.error_code, None)
    }
}

fn group_not_found(api: &'static str, group: &str) -> ClientError {
    kafka_error(
        api,
        code::GROUP_ID_NOT_FOUND,
        &format!("group {group:?} does not exist"),
    )
}

/// Reads a consumer-protocol assignment (`version: i16` then the versioned body). Anything
/// unreadable yields an empty assignment: it is informative, not something to fail on.
fn decode_assignment(mut bytes: bytes::Bytes) -> BTreeMap<String, Vec<i32>> {
    let mut out = BTreeMap::new();
    if bytes.remaining() < 2 {
        return out;
    }
    let version = bytes.get_i16().clamp(0, 3);
    let Ok(assignment) = ConsumerProtocolAssignment::decode(&mut bytes, version) else {
        return out;
    };
    for tp in assignment.assigned_partitions {
        let partitions: &mut Vec<i32> = out.entry(tp.topic.to_string()).or_default();
        let set: BTreeSet<i32> = partitions.iter().chain(&tp.partitions).copied().collect();
        *partitions = set.into_iter().collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn consumer_assignments_are_read_by_topic() {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("orders")))
                .with_partitions(vec![2, 0]),
        ]);
        let mut buf = bytes::BytesMut::new();
        buf.put_i16(1);
        assignment.encode(&mut buf, 1).unwrap();
        let decoded = decode_assignment(buf.freeze());
        assert_eq!(decoded, BTreeMap::from([("orders".to_owned(), vec![0, 2])]));
    }

    #[test]
    fn unreadable_assignments_are_empty() {
        assert!(decode_assignment(bytes::Bytes::from_static(&[0, 1, 0xff])).is_empty());
        assert!(decode_assignment(bytes::Bytes::new()).is_empty());
    }
}
