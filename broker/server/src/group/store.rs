//! Persistence of offsets and group metadata in the compacted `__consumer_offsets` topic.
//!
//! Keys and values use Kafka's own schemas (big-endian, `i16` string lengths), so the
//! topic reads like Kafka's:
//! - key v1 `OffsetCommitKey { group, topic, partition: i32 }` -> value v3
//!   `{ offset: i64, leader_epoch: i32, metadata, commit_timestamp: i64 }`, or v1
//!   `{ offset, metadata, commit_timestamp, expire_timestamp: i64 }` when an explicit
//!   retention was asked for;
//! - key v2 `GroupMetadataKey { group }` -> value v3 `{ protocol_type, generation: i32,
//!   protocol: nullable, leader: nullable, current_state_timestamp: i64, members: [
//!   { member_id, group_instance_id: nullable, client_id, client_host,
//!   rebalance_timeout: i32, session_timeout: i32, subscription: bytes, assignment: bytes } ] }`.
//!
//! - key v32000 (Fjord's own) `ConsumerGroupKey { group }` -> a KIP-848 consumer
//!   group's whole state in one value (`fjord_group::snapshot` documents the layout).
//!   Kafka spreads that state over key versions 3-8 (one record per member, target
//!   assignment and epoch); Fjord keeps one record per group so compaction keeps one
//!   and a restart reads one. Kafka's tools skip key versions they do not know.
//!
//! A null value is a tombstone. Records are written as uncompressed v2 batches.

use super::classic::ClassicGroup;
use super::coordinator::StoreRecord;
use super::member::Member;
use super::offsets::CommittedOffset;
use super::state::GroupState;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A group's persisted metadata (Kafka's `GroupMetadataValue`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupSnapshot {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp_ms: i64,
    pub members: Vec<MemberSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

impl GroupSnapshot {
    /// Members are recorded only for a Stable group, whose assignment is settled.
    pub fn of(g: &ClassicGroup) -> GroupSnapshot {
        let protocol = g.protocol_name.clone().unwrap_or_default();
        let members = if g.is(GroupState::Stable) {
            g.members
                .values()
                .map(|m| MemberSnapshot {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        GroupSnapshot {
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            generation: g.generation,
            protocol: g.protocol_name.clone(),
            leader: g.leader.clone(),
            state_timestamp_ms: g.state_timestamp_ms,
            members,
        }
    }

    /// Rebuilds a group after a restart: Stable with its members (who get a fresh
    /// session to find the coordinator again), or Empty.
    pub fn restore_into(self, g: &mut ClassicGroup, now: i64) {
        g.generation = self.generation;
        g.protocol_type = (!self.protocol_type.is_empty()).then_some(self.protocol_type);
        g.protocol_name = self.protocol.clone();
        g.leader = self.leader;
        g.state_timestamp_ms = self.state_timestamp_ms;
        g.members.clear();
        g.static_members.clear();
        let protocol = self.protocol.unwrap_or_default();
        for m in self.members {
            if let Some(i) = &m.instance_id {
                g.static_members.insert(i.clone(), m.member_id.clone());
            }
            let member = Member {
                id: m.member_id.clone(),
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                protocols: vec![(protocol.clone(), m.subscription)],
                assignment: m.assignment,
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
                deadline_ms: now + i64::from(m.session_timeout_ms),
            };
            g.members.insert(m.member_id, member);
        }
        g.state = if g.members.is_empty() {
            g.leader = None;
            GroupState::Empty
        } else {
            GroupState::Stable
        };
    }
}

/// The key version of Fjord's consumer group record (see the module comment).
pub const CONSUMER_GROUP_KEY_VERSION: i16 = 32000;

/// Why a stored record could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable __consumer_offsets record: {0}")]
pub struct DecodeError(&'static str);

fn put_str(buf: &mut BytesMut, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    buf.put_i16(bytes.len() as i16);
    buf.put_slice(bytes);
}

fn put_nullable_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

fn need(buf: &Bytes, n: usize) -> Result<(), DecodeError> {
    if buf.remaining() < n {
        Err(DecodeError("truncated"))
    } else {
        Ok(())
    }
}

fn get_i16(buf: &mut Bytes) -> Result<i16, DecodeError> {
    need(buf, 2)?;
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut Bytes) -> Result<i32, DecodeError> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

fn get_i64(buf: &mut Bytes) -> Result<i64, DecodeError> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}

fn get_nullable_str(buf: &mut Bytes) -> Result<Option<String>, DecodeError> {
    let len = get_i16(buf)?;
    if len < 0 {
        return Ok(None);
    }
    need(buf, len as usize)?;
    let b = buf.split_to(len as usize);
    String::from_utf8(b.to_vec())
        .map(Some)
        .map_err(|_| DecodeError("string is not UTF-8"))
}

fn get_str(buf: &mut Bytes) -> Result<String, DecodeError> {
    get_nullable_str(buf).map(Option::unwrap_or_default)
}

fn get_bytes(buf: &mut Bytes) -> Result<Bytes, DecodeError> {
    let len = get_i32(buf)?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    need(buf, len as usize)?;
    Ok(buf.split_to(len as usize))
}

/// The record's (key, value) bytes.
pub fn encode(record: &StoreRecord) -> (Bytes, Option<Bytes>) {
    let mut key = BytesMut::new();
    match record {
        StoreRecord::Offset {
            group,
            topic,
            partition,
            value,
        } => {
            key.put_i16(1);
            put_str(&mut key, group);
            put_str(&mut key, topic);
            key.put_i32(*partition);
            (key.freeze(), value.as_ref().map(encode_offset))
        }
        StoreRecord::Group { group, value } => {
            key.put_i16(2);
            put_str(&mut key, group);
            (key.freeze(), value.as_ref().map(encode_group))
        }
        StoreRecord::Consumer { group, value } => {
            key.put_i16(CONSUMER_GROUP_KEY_VERSION);
            put_str(&mut key, group);
            (key.freeze(), value.clone())
        }
    }
}

fn encode_offset(v: &CommittedOffset) -> Bytes {
    let mut buf = BytesMut::new();
    match v.expire_timestamp_ms {
        Some(expire) => {
            buf.put_i16(1);
            buf.put_i64(v.offset);
            put_str(&mut buf, &v.metadata);
            buf.put_i64(v.commit_timestamp_ms);
            buf.put_i64(expire);
        }
        None => {
            buf.put_i16(3);
            buf.put_i64(v.offset);
            buf.put_i32(v.leader_epoch);
            put_str(&mut buf, &v.metadata);
            buf.put_i64(v.commit_timestamp_ms);
        }
    }
    buf.freeze()
}

fn encode_group(v: &GroupSnapshot) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(3);
    put_str(&mut buf, &v.protocol_type);
    buf.put_i32(v.generation);
    put_nullable_str(&mut buf, v.protocol.as_deref());
    put_nullable_str(&mut buf, v.leader.as_deref());
    buf.put_i64(v.state_timestamp_ms);
    buf.put_i32(v.members.len() as i32);
    for m in &v.members {
        put_str(&mut buf, &m.member_id);
        put_nullable_str(&mut buf, m.instance_id.as_deref());
        put_str(&mut buf, &m.client_id);
        put_str(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout_ms);
        buf.put_i32(m.session_timeout_ms);
        put_bytes(&mut buf, &m.subscription);
        put_bytes(&mut buf, &m.assignment);
    }
    buf.freeze()
}

/// Reads a record back; `Ok(None)` for key versions this coordinator does not know.
pub fn decode(mut key: Bytes, value: Option<Bytes>) -> Result<Option<StoreRecord>, DecodeError> {
    match get_i16(&mut key)? {
        0 | 1 => {
            let group = get_str(&mut key)?;
            let topic = get_str(&mut key)?;
            let partition = get_i32(&mut key)?;
            let value = value.map(decode_offset).transpose()?;
            Ok(Some(StoreRecord::Offset {
                group,
                topic,
                partition,
                value,
            }))
        }
        2 => {
            let group = get_str(&mut key)?;
            let value = value.map(decode_group).transpose()?;
            Ok(Some(StoreRecord::Group { group, value }))
        }
        CONSUMER_GROUP_KEY_VERSION => {
            let group = get_str(&mut key)?;
            Ok(Some(StoreRecord::Consumer { group, value }))
        }
        _ => Ok(None),
    }
}

fn decode_offset(mut buf: Bytes) -> Result<CommittedOffset, DecodeError> {
    let version = get_i16(&mut buf)?;
    let offset = get_i64(&mut buf)?;
    let leader_epoch = if version >= 3 { get_i32(&mut buf)? } else { -1 };
    let metadata = get_str(&mut buf)?;
    let commit_timestamp_ms = get_i64(&mut buf)?;
    let expire_timestamp_ms = if version == 1 {
        Some(get_i64(&mut buf)?)
    } else {
        None
    };
    Ok(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
        expire_timestamp_ms,
    })
}

fn decode_group(mut buf: Bytes) -> Result<GroupSnapshot, DecodeError> {
    let version = get_i16(&mut buf)?;
    let protocol_type = get_str(&mut buf)?;
    let generation = get_i32(&mut buf)?;
    let protocol = get_nullable_str(&mut buf)?;
    let leader = get_nullable_str(&mut buf)?;
    let state_timestamp_ms = if version >= 2 { get_i64(&mut buf)? } else { -1 };
    let count = get_i32(&mut buf)?.max(0) as usize;
    let mut members = Vec::with_capacity(count.min(buf.remaining() / 16));
    for _ in 0..count {
        let member_id = get_str(&mut buf)?;
        let instance_id = if version >= 3 {
            get_nullable_str(&mut buf)?
        } else {
            None
        };
        let client_id = get_str(&mut buf)?;
        let client_host = get_str(&mut buf)?;
        let rebalance_timeout_ms = if version >= 1 { get_i32(&mut buf)? } else { 0 };
        let session_timeout_ms = get_i32(&mut buf)?;
        let rebalance_timeout_ms = if version >= 1 {
            rebalance_timeout_ms
        } else {
            session_timeout_ms
        };
        members.push(MemberSnapshot {
            member_id,
            instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription: get_bytes(&mut buf)?,
            assignment: get_bytes(&mut buf)?,
        });
    }
    Ok(GroupSnapshot {
        protocol_type,
        generation,
        protocol,
        leader,
        state_timestamp_ms,
        members,
    })
}

/// Kafka's partition for a group: `abs(groupId.hashCode) % partitions`, with Java's
/// `String.hashCode` over UTF-16 code units.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let hash = group
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    // Kafka's Utils.abs maps i32::MIN to 0 rather than overflowing.
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

/// One uncompressed record batch v2 (CRC-32C) holding `records`, for `Log::append`.
pub fn batch(records: &[&StoreRecord], now: i64) -> Result<BytesMut, String> {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let encoded: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (key, value) = encode(r);
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder starts a new batch whenever `offset - sequence` changes;
                // keeping it constant puts every record in one (atomic) batch whose
                // base sequence is -1, as for a non-idempotent producer.
                sequence: i as i32 - 1,
                timestamp: now,
                key: Some(key),
                value,
                headers: Default::default(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &encoded,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_partition_matches_kafkas_java_hash() {
        // "my-group".hashCode() == -1906497762 in Java; 1906497762 % 50 == 12.
        assert_eq!(partition_for("my-group", 50), 12);
        assert_eq!(partition_for("", 50), 0);
    }

    #[test]
    fn records_round_trip_through_kafkas_schemas() {
        let offset = StoreRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(CommittedOffset {
                offset: 42,
                leader_epoch: 7,
                metadata: "meta".into(),
                commit_timestamp_ms: 1000,
                expire_timestamp_ms: None,
            }),
        };
        let group = StoreRecord::Group {
            group: "g".into(),
            value: Some(GroupSnapshot {
                protocol_type: "consumer".into(),
                generation: 4,
                protocol: Some("range".into()),
                leader: Some("m1".into()),
                state_timestamp_ms: 5,
                members: vec![MemberSnapshot {
                    member_id: "m1".into(),
                    instance_id: Some("i1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 10_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            }),
        };
        let tombstone = StoreRecord::Group {
            group: "g".into(),
            value: None,
        };
        for r in [offset, group, tombstone] {
            let (k, v) = encode(&r);
            assert_eq!(decode(k, v).unwrap(), Some(r));
        }
    }

    #[test]
    fn batches_are_valid_v2_with_crc32c() {
        let r = StoreRecord::Group {
            group: "g".into(),
            value: None,
        };
        let buf = batch(&[&r, &r], 1).unwrap();
        let header = fjord_storage::BatchHeader::parse(&buf).unwrap();
        assert_eq!(header.record_count, 2);
        assert_eq!(header.magic, 2);
        assert_eq!(header.crc, crc32c::crc32c(&buf[21..]));
    }
}
