//! A consumer group's persisted form: one record per group in `__consumer_offsets`.
//!
//! Kafka writes a record per member, per target assignment and per epoch change
//! (`ConsumerGroupMetadata`, `ConsumerGroupMemberMetadata`,
//! `ConsumerGroupTargetAssignmentMember`, `ConsumerGroupCurrentMemberAssignment`, ...).
//! Fjord writes the whole group as one compact value under one key instead, so a
//! restart restores it with one read and compaction keeps exactly one record per
//! group. Big-endian; strings are `i16` length + UTF-8 (`-1`: null); the value:
//!
//! ```text
//! version: i16 = 1 (0: the same without the classic section)
//! epoch: i32, assignment_epoch: i32
//! subscription_metadata: i32 count, { name: str, topic_id: 16 bytes, partitions: i32 }
//! members: i32 count, {
//!   id: str, instance_id: nullable str, rack_id: nullable str, client_id: str,
//!   client_host: str, epoch: i32, previous_epoch: i32, state: i8,
//!   rebalance_timeout_ms: i32, subscribed_topic_names: i32 count { str },
//!   subscribed_topic_regex: nullable str, server_assignor: nullable str,
//!   assigned: assignment, pending_revocation: assignment, target: assignment,
//!   v1: classic: i8 (0: a consumer member; 1: followed by session_timeout_ms: i32,
//!       protocols: i32 count { name: str, metadata: i32 length + bytes }) }
//! assignment = i32 topic count, { topic_id: 16 bytes, i32 count, { partition: i32 } }
//! ```
//!
//! Reads never allocate by a count from the record: collections grow as entries decode.

use crate::assignment::{self, Assignment};
use crate::group::ConsumerGroup;
use crate::member::{ConsumerMember, MemberState};
use bytes::{Buf, BufMut, Bytes, BytesMut};

const VERSION: i16 = 1;

/// Why a stored consumer group could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable consumer group record: {0}")]
pub struct SnapshotError(&'static str);

impl ConsumerGroup {
    /// The group's persisted form (see the module comment).
    pub fn snapshot(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(VERSION);
        b.put_i32(self.epoch);
        b.put_i32(self.assignment_epoch);
        b.put_i32(self.subscription_metadata.len() as i32);
        for (name, (id, n)) in &self.subscription_metadata {
            put_str(&mut b, name);
            b.put_slice(id.as_bytes());
            b.put_i32(*n);
        }
        b.put_i32(self.members.len() as i32);
        let empty = Assignment::new();
        for m in self.members.values() {
            put_str(&mut b, &m.id);
            put_opt(&mut b, m.instance_id.as_deref());
            put_opt(&mut b, m.rack_id.as_deref());
            put_str(&mut b, &m.client_id);
            put_str(&mut b, &m.client_host);
            b.put_i32(m.epoch);
            b.put_i32(m.previous_epoch);
            b.put_i8(m.state.code());
            b.put_i32(m.rebalance_timeout_ms);
            b.put_i32(m.subscribed_topic_names.len() as i32);
            for n in &m.subscribed_topic_names {
                put_str(&mut b, n);
            }
            put_opt(&mut b, m.subscribed_topic_regex.as_deref());
            put_opt(&mut b, m.server_assignor.as_deref());
            put_assignment(&mut b, &m.assigned);
            put_assignment(&mut b, &m.pending_revocation);
            put_assignment(&mut b, self.target.get(&m.id).unwrap_or(&empty));
            match &m.classic {
                None => b.put_i8(0),
                Some(c) => {
                    b.put_i8(1);
                    b.put_i32(c.session_timeout_ms);
                    b.put_i32(c.protocols.len() as i32);
                    for (name, meta) in &c.protocols {
                        put_str(&mut b, name);
                        b.put_i32(meta.len() as i32);
                        b.put_slice(meta);
                    }
                }
            }
        }
        b.freeze()
    }

    /// Rebuilds a group from [`ConsumerGroup::snapshot`]. Members get a fresh session
    /// (and revocation deadline) from `now` to find the coordinator again.
    pub fn restore(
        id: &str,
        mut buf: Bytes,
        now: i64,
        session_timeout_ms: i32,
    ) -> Result<ConsumerGroup, SnapshotError> {
        let b = &mut buf;
        let version = get_i16(b)?;
        if !(0..=VERSION).contains(&version) {
            return Err(SnapshotError("unknown version"));
        }
        let mut g = ConsumerGroup::new(id);
        g.epoch = get_i32(b)?;
        g.assignment_epoch = get_i32(b)?;
        for _ in 0..get_count(b)? {
            let name = get_str(b)?;
            let id = get_uuid(b)?;
            let n = get_i32(b)?;
            g.subscription_metadata.insert(name, (id, n));
        }
        for _ in 0..get_count(b)? {
            let mut m = ConsumerMember::new(&get_str(b)?);
            m.instance_id = get_opt(b)?;
            m.rack_id = get_opt(b)?;
            m.client_id = get_str(b)?;
            m.client_host = get_str(b)?;
            m.epoch = get_i32(b)?;
            m.previous_epoch = get_i32(b)?;
            m.state = MemberState::from_code(get_i8(b)?).ok_or(SnapshotError("member state"))?;
            m.rebalance_timeout_ms = get_i32(b)?;
            for _ in 0..get_count(b)? {
                m.subscribed_topic_names.push(get_str(b)?);
            }
            m.subscribed_topic_regex = get_opt(b)?;
            m.server_assignor = get_opt(b)?;
            m.assigned = get_assignment(b)?;
            m.pending_revocation = get_assignment(b)?;
            let target = get_assignment(b)?;
            g.target.insert(m.id.clone(), target);
            if version >= 1 && get_i8(b)? == 1 {
                m.classic = Some(get_classic(b)?);
            }
            let session = m
                .classic
                .as_ref()
                .map_or(session_timeout_ms, |c| c.session_timeout_ms);
            g.sessions.insert(m.id.clone(), now + i64::from(session));
            if m.state == MemberState::UnrevokedPartitions {
                // The revocation clock restarts too: a member that never revokes is
                // still fenced, one rebalance timeout after the restart.
                let deadline = now + i64::from(m.rebalance_timeout_ms.max(0));
                g.rebalance_deadlines
                    .insert(m.id.clone(), (deadline, m.epoch));
            }
            g.put_member(m);
        }
        g.dirty = false;
        Ok(g)
    }
}

fn put_str(b: &mut BytesMut, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    b.put_i16(bytes.len() as i16);
    b.put_slice(bytes);
}

fn put_opt(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => b.put_i16(-1),
    }
}

fn put_assignment(b: &mut BytesMut, a: &Assignment) {
    b.put_i32(a.len() as i32);
    for (t, ps) in a {
        b.put_slice(t.as_bytes());
        b.put_i32(ps.len() as i32);
        for p in ps {
            b.put_i32(*p);
        }
    }
}

fn need(b: &Bytes, n: usize) -> Result<(), SnapshotError> {
    if b.remaining() < n {
        return Err(SnapshotError("truncated"));
    }
    Ok(())
}

fn get_i8(b: &mut Bytes) -> Result<i8, SnapshotError> {
    need(b, 1)?;
    Ok(b.get_i8())
}

fn get_i16(b: &mut Bytes) -> Result<i16, SnapshotError> {
    need(b, 2)?;
    Ok(b.get_i16())
}

fn get_i32(b: &mut Bytes) -> Result<i32, SnapshotError> {
    need(b, 4)?;
    Ok(b.get_i32())
}

fn get_count(b: &mut Bytes) -> Result<u32, SnapshotError> {
    u32::try_from(get_i32(b)?).map_err(|_| SnapshotError("negative count"))
}

fn get_uuid(b: &mut Bytes) -> Result<uuid::Uuid, SnapshotError> {
    need(b, 16)?;
    let mut raw = [0u8; 16];
    b.copy_to_slice(&mut raw);
    Ok(uuid::Uuid::from_bytes(raw))
}

fn get_opt(b: &mut Bytes) -> Result<Option<String>, SnapshotError> {
    let len = get_i16(b)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    need(b, len)?;
    let raw = b.split_to(len);
    String::from_utf8(raw.to_vec())
        .map(Some)
        .map_err(|_| SnapshotError("string is not UTF-8"))
}

fn get_str(b: &mut Bytes) -> Result<String, SnapshotError> {
    get_opt(b)?.ok_or(SnapshotError("null string"))
}

fn get_classic(b: &mut Bytes) -> Result<crate::ClassicMember, SnapshotError> {
    let session_timeout_ms = get_i32(b)?;
    let mut protocols = Vec::new();
    for _ in 0..get_count(b)? {
        let name = get_str(b)?;
        let len = get_count(b)? as usize;
        need(b, len)?;
        protocols.push((name, b.split_to(len)));
    }
    Ok(crate::ClassicMember {
        session_timeout_ms,
        protocols,
    })
}

fn get_assignment(b: &mut Bytes) -> Result<Assignment, SnapshotError> {
    let mut a = Assignment::new();
    for _ in 0..get_count(b)? {
        let t = get_uuid(b)?;
        for _ in 0..get_count(b)? {
            assignment::insert(&mut a, t, get_i32(b)?);
        }
    }
    Ok(a)
}
