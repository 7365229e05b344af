//! ConsumerGroupDescribe (key 69): a KIP-848 group's epochs, assignor and members
//! with their current and target assignments. A classic or unknown group gets
//! GROUP_ID_NOT_FOUND, as in Kafka. v1 adds the member type (KIP-1099): classic for a
//! member that joined with JoinGroup, consumer for one that heartbeats.

use super::{str_bytes, topic_name};
use crate::router::RequestContext;
use crate::security::acl::{op, resource};
use crate::security::authorizer::Authz;
use fjord_group::{Assignment, ConsumerGroup, Topics};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment as WireAssignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 1;

/// KIP-1099's member types: a member using the classic protocol inside a consumer
/// group, and one using the consumer protocol.
const MEMBER_TYPE_CLASSIC: i8 = 0;
const MEMBER_TYPE_CONSUMER: i8 = 1;

pub async fn handle(
    ctx: &RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> Option<ConsumerGroupDescribeResponse> {
    let groups = &ctx.broker.groups;
    let ready = groups.ready(&ctx.broker);
    let topics = super::consumer_group_heartbeat::topics(&ctx.broker);
    let authz = Authz::new(ctx);
    let described = req
        .group_ids
        .iter()
        .map(|id| {
            let base = DescribedGroup::default().with_group_id(id.clone());
            if !authz.group(op::DESCRIBE, &id.0) {
                return base.with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            // Kafka's authorized operations, for the groups the principal may describe.
            let base = base.with_authorized_operations(if req.include_authorized_operations {
                authz.operations(resource::GROUP, &id.0)
            } else {
                i32::MIN
            });
            if let Err(e) = ready {
                return base.with_error_code(e.code());
            }
            if id.0.is_empty() {
                return base.with_error_code(ResponseError::InvalidGroupId.code());
            }
            let config = groups.consumer_config();
            let found = groups.read(&id.0, |c| {
                c.consumer_group(&id.0)
                    .map(|g| describe(base.clone(), g, &topics, &config))
            });
            match found {
                Err(e) => base.with_error_code(e.code()),
                Ok(Err(e)) => base
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(str_bytes(e.to_string()))),
                Ok(Ok(d)) => d,
            }
        })
        .collect();
    Some(ConsumerGroupDescribeResponse::default().with_groups(described))
}

fn describe(
    base: DescribedGroup,
    g: &ConsumerGroup,
    topics: &Topics,
    config: &fjord_group::GroupConfig,
) -> DescribedGroup {
    let empty = Assignment::new();
    let members = g
        .members
        .values()
        .map(|m| {
            Member::default()
                .with_member_id(str_bytes(m.id.clone()))
                .with_instance_id(m.instance_id.clone().map(str_bytes))
                .with_rack_id(m.rack_id.clone().map(str_bytes))
                .with_member_epoch(m.epoch)
                .with_client_id(str_bytes(m.client_id.clone()))
                .with_client_host(str_bytes(m.client_host.clone()))
                .with_subscribed_topic_names(
                    m.subscribed_topic_names
                        .iter()
                        .map(|n| topic_name(n))
                        .collect(),
                )
                .with_subscribed_topic_regex(m.regex().map(str_bytes))
                .with_assignment(wire(&m.assigned, topics))
                .with_target_assignment(wire(g.target.get(&m.id).unwrap_or(&empty), topics))
                .with_member_type(if m.classic.is_some() {
                    MEMBER_TYPE_CLASSIC
                } else {
                    MEMBER_TYPE_CONSUMER
                })
        })
        .collect();
    base.with_group_state(str_bytes(g.state().name()))
        .with_group_epoch(g.epoch)
        .with_assignment_epoch(g.assignment_epoch)
        .with_assignor_name(str_bytes(g.assignor(config).name()))
        .with_members(members)
}

fn wire(a: &Assignment, topics: &Topics) -> WireAssignment {
    WireAssignment::default().with_topic_partitions(
        a.iter()
            .map(|(t, ps)| {
                TopicPartitions::default()
                    .with_topic_id(*t)
                    .with_topic_name(topic_name(topics.name_of(t).unwrap_or_default()))
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect(),
    )
}
