//! The classic group protocol in raw requests, for cases a client library does not
//! produce on demand: old JoinGroup versions for a static leader, OffsetCommit's order
//! of checks, and the group's state right after its last member leaves.

use fjord_tests::*;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, GroupId, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, SyncGroupRequest,
    SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A broker whose groups complete their first rebalance without the initial delay.
fn broker() -> Broker {
    let broker = Broker::start_with(&[("group.initial.rebalance.delay.ms", "0")]);
    wait_for_group_coordinator(&broker.bootstrap);
    broker
}

fn join_request(group: &str, member: &str, instance: Option<&str>) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(bytes::Bytes::from_static(b"subscription"))])
}

fn join(conn: &mut RawConn, version: i16, req: &JoinGroupRequest) -> JoinGroupResponse {
    conn.request(ApiKey::JoinGroup, version, req)
}

fn sync(
    conn: &mut RawConn,
    group: &str,
    member: &str,
    instance: Option<&str>,
    generation: i32,
    assign: bool,
) -> SyncGroupResponse {
    let assignments = if assign {
        vec![SyncGroupRequestAssignment::default()
            .with_member_id(s(member))
            .with_assignment(bytes::Bytes::from_static(b"all of it"))]
    } else {
        Vec::new()
    };
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s))
        .with_assignments(assignments);
    conn.request(ApiKey::SyncGroup, 3, &req)
}

/// One dynamic member through MEMBER_ID_REQUIRED and JoinGroup v5; returns its
/// (member id, generation). The group is then CompletingRebalance.
fn join_dynamic(conn: &mut RawConn, group: &str) -> (String, i32) {
    let first = join(conn, 5, &join_request(group, "", None));
    assert_eq!(first.error_code, E::MemberIdRequired.code(), "{first:?}");
    let member = first.member_id.to_string();
    let joined = join(conn, 5, &join_request(group, &member, None));
    assert_eq!(joined.error_code, 0, "{joined:?}");
    assert_eq!(joined.leader.to_string(), member, "the only member leads");
    (member, joined.generation_id)
}

fn commit(
    conn: &mut RawConn,
    group: &str,
    member: &str,
    generation: i32,
    topic: &str,
) -> OffsetCommitResponse {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(3)])]);
    conn.request(ApiKey::OffsetCommit, 7, &req)
}

fn commit_error(resp: &OffsetCommitResponse) -> i16 {
    resp.topics[0].partitions[0].error_code
}

fn static_leader_rejoins(version: i16) -> (JoinGroupResponse, String) {
    let broker = broker();
    let mut conn = RawConn::connect(&broker.bootstrap);
    let group = "static-rejoin";
    let first = join(
        &mut conn,
        version,
        &join_request(group, "", Some("instance-1")),
    );
    assert_eq!(first.error_code, 0, "{first:?}");
    let leader = first.member_id.to_string();
    assert_eq!(first.leader.to_string(), leader);
    let synced = sync(
        &mut conn,
        group,
        &leader,
        Some("instance-1"),
        first.generation_id,
        true,
    );
    assert_eq!(synced.error_code, 0, "{synced:?}");
    // The same instance restarts: a JoinGroup with no member id. Before the fix the
    // broker could not encode its answer below v9 and closed the connection.
    let again = join(
        &mut conn,
        version,
        &join_request(group, "", Some("instance-1")),
    );
    assert_eq!(again.error_code, 0, "{again:?}");
    assert_eq!(again.generation_id, first.generation_id, "no rebalance");
    assert_ne!(again.member_id.to_string(), leader, "a new member id");
    let synced = sync(
        &mut conn,
        group,
        &again.member_id,
        Some("instance-1"),
        again.generation_id,
        false,
    );
    assert_eq!(synced.error_code, 0, "{synced:?}");
    assert_eq!(
        &synced.assignment[..],
        b"all of it",
        "it keeps its assignment"
    );
    (again, leader)
}

#[test]
fn a_static_leader_rejoining_with_join_group_v5_gets_a_well_formed_answer() {
    let (again, old_leader) = static_leader_rejoins(5);
    // Kafka below v9: the previous leader id and no members, so it does not assign.
    assert_eq!(again.leader.to_string(), old_leader);
    assert!(again.members.is_empty(), "{again:?}");
}

#[test]
fn a_static_leader_rejoining_with_join_group_v9_is_told_to_skip_the_assignment() {
    let (again, _) = static_leader_rejoins(9);
    assert!(again.skip_assignment, "{again:?}");
    assert_eq!(again.leader, again.member_id);
    assert_eq!(again.members.len(), 1);
}

#[test]
fn offset_commit_with_an_empty_member_id_is_an_unknown_member() {
    let broker = broker();
    broker.create_topic("commits", 1, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let (member, generation) = join_dynamic(&mut conn, "empty-member");
    assert_eq!(
        sync(&mut conn, "empty-member", &member, None, generation, true).error_code,
        0
    );
    let resp = commit(&mut conn, "empty-member", "", generation, "commits");
    assert_eq!(commit_error(&resp), E::UnknownMemberId.code(), "{resp:?}");
    let resp = commit(&mut conn, "empty-member", &member, generation, "commits");
    assert_eq!(commit_error(&resp), 0, "{resp:?}");
}

#[test]
fn offset_commit_during_completing_rebalance_checks_the_generation_before_the_state() {
    let broker = broker();
    broker.create_topic("rebalancing", 1, &[]);
    let mut conn = RawConn::connect(&broker.bootstrap);
    let group = "completing";
    let (member, generation) = join_dynamic(&mut conn, group);
    // The group waits for the leader's SyncGroup. A commit from an older generation is
    // ILLEGAL_GENERATION (the consumer rejoins); before the fix the state check came
    // first and answered REBALANCE_IN_PROGRESS.
    let resp = commit(&mut conn, group, &member, generation - 1, "rebalancing");
    assert_eq!(commit_error(&resp), E::IllegalGeneration.code(), "{resp:?}");
    // A current member without its assignment yet: Kafka's REBALANCE_IN_PROGRESS.
    let resp = commit(&mut conn, group, &member, generation, "rebalancing");
    assert_eq!(
        commit_error(&resp),
        E::RebalanceInProgress.code(),
        "{resp:?}"
    );
    assert_eq!(
        sync(&mut conn, group, &member, None, generation, true).error_code,
        0
    );
    let resp = commit(&mut conn, group, &member, generation, "rebalancing");
    assert_eq!(commit_error(&resp), 0, "{resp:?}");
}

#[test]
fn the_last_leave_group_empties_the_group_at_once_and_delete_groups_succeeds() {
    let broker = broker();
    let mut conn = RawConn::connect(&broker.bootstrap);
    let group = "leaving";
    let (member, generation) = join_dynamic(&mut conn, group);
    assert_eq!(
        sync(&mut conn, group, &member, None, generation, true).error_code,
        0
    );
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_members(vec![MemberIdentity::default().with_member_id(s(&member))]);
    let left: LeaveGroupResponse = conn.request(ApiKey::LeaveGroup, 3, &leave);
    assert_eq!(left.error_code, 0, "{left:?}");
    assert_eq!(left.members[0].error_code, 0, "{left:?}");
    // Immediately: no timer has run in between.
    let listed: ListGroupsResponse =
        conn.request(ApiKey::ListGroups, 4, &ListGroupsRequest::default());
    let state = listed
        .groups
        .iter()
        .find(|g| &*g.group_id.0 == group)
        .map(|g| g.group_state.to_string());
    assert_eq!(state.as_deref(), Some("Empty"), "{listed:?}");
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(group))]);
    let deleted: DeleteGroupsResponse = conn.request(ApiKey::DeleteGroups, 2, &delete);
    assert_eq!(deleted.results[0].error_code, 0, "{deleted:?}");
}
