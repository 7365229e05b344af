//! The state machine every voter runs: committed entries fold into the image.
//!
//! A snapshot is the list of records that rebuilds the image
//! ([`MetadataImage::to_records`]), stored as one checksummed line in
//! `<dir>/snapshot.json` together with its Raft metadata (last included entry and
//! membership). Each applied batch is published on a watch channel, so the broker can
//! create and delete partition logs and wait for its own reads to catch up.
//!
//! Owned by openraft's state machine task; the published [`Applied`] is shared.

use crate::line_file::LineFile;
use crate::log_store::LogStore;
use crate::raft::{
    Entry, LogId, Membership, NodeId, Snapshot, SnapshotData, SnapshotMeta, StorageError,
    TypeConfig,
};
use crate::{MetadataError, MetadataImage, MetadataRecord, SNAPSHOT_FILE};
use openraft::storage::RaftStateMachine;
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// What the state machine has applied so far.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Index of the last applied entry (0: none).
    pub index: u64,
    pub image: Arc<MetadataImage>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    records: Vec<MetadataRecord>,
}

type Stored = Arc<Mutex<Option<(SnapshotMeta, Vec<u8>)>>>;

pub struct StateMachine {
    dir: PathBuf,
    image: Arc<MetadataImage>,
    last_applied: Option<LogId>,
    membership: Membership,
    snapshot: Stored,
    publish: watch::Sender<Applied>,
}

fn sm_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_state_machine(AnyError::new(&e)).into()
}

/// Opens the metadata log and state machine in `dir`, importing a pre-quorum record log
/// as a snapshot of a one-voter cluster of `node` (an in-place upgrade).
pub fn open_storage(dir: &Path, node: NodeId) -> Result<(LogStore, StateMachine), MetadataError> {
    let (log, legacy) = LogStore::open(dir)?;
    let mut sm = StateMachine::open(dir)?;
    if !legacy.is_empty() {
        let count = legacy.len();
        let last = openraft::LogId::new(openraft::CommittedLeaderId::new(0, node), count as u64);
        let members = std::collections::BTreeMap::from([(node, openraft::BasicNode::default())]);
        let membership = Membership::new(
            Some(last),
            openraft::Membership::new(vec![members.keys().copied().collect()], members),
        );
        sm.image = Arc::new(MetadataImage::from_records(legacy));
        sm.last_applied = Some(last);
        sm.membership = membership;
        sm.save_snapshot()?;
        log.reset_to(last)?;
        sm.publish();
        tracing::info!(
            records = count,
            "imported the pre-quorum metadata log as a snapshot of a one-voter quorum"
        );
    }
    Ok((log, sm))
}

impl StateMachine {
    fn open(dir: &Path) -> Result<StateMachine, MetadataError> {
        let (publish, _) = watch::channel(Applied::default());
        let mut sm = StateMachine {
            dir: dir.to_path_buf(),
            image: Arc::new(MetadataImage::default()),
            last_applied: None,
            membership: Membership::default(),
            snapshot: Arc::new(Mutex::new(None)),
            publish,
        };
        let path = dir.join(SNAPSHOT_FILE);
        if path.is_file() {
            let (_, files) = LineFile::open::<SnapshotFile>(&path)?;
            if let Some(f) = files.into_iter().next_back() {
                sm.image = Arc::new(MetadataImage::from_records(f.records.clone()));
                sm.last_applied = f.meta.last_log_id;
                sm.membership = f.meta.last_membership.clone();
                let bytes = serde_json::to_vec(&f.records)?;
                *sm.snapshot.lock() = Some((f.meta, bytes));
                sm.publish();
            }
        }
        Ok(sm)
    }

    /// A receiver of every applied batch (the current state first).
    pub fn subscribe(&self) -> watch::Receiver<Applied> {
        self.publish.subscribe()
    }

    /// The image as of the last applied entry or snapshot.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.clone()
    }

    fn publish(&self) {
        self.publish.send_replace(Applied {
            index: self.last_applied.map_or(0, |l| l.index),
            image: self.image.clone(),
        });
    }

    fn snapshot_meta(&self) -> SnapshotMeta {
        let id = self.last_applied.map_or("0-0".to_string(), |l| {
            format!("{}-{}", l.leader_id.term, l.index)
        });
        SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: id,
        }
    }

    /// Writes the current image as the snapshot (file and memory).
    fn save_snapshot(&self) -> Result<(SnapshotMeta, Vec<u8>), MetadataError> {
        save(
            &self.dir,
            &self.snapshot,
            self.snapshot_meta(),
            self.image.to_records(),
        )
    }
}

fn save(
    dir: &Path,
    slot: &Stored,
    meta: SnapshotMeta,
    records: Vec<MetadataRecord>,
) -> Result<(SnapshotMeta, Vec<u8>), MetadataError> {
    let bytes = serde_json::to_vec(&records)?;
    let file = SnapshotFile {
        meta: meta.clone(),
        records,
    };
    LineFile::replace(&dir.join(SNAPSHOT_FILE), std::slice::from_ref(&file))?;
    *slot.lock() = Some((meta.clone(), bytes.clone()));
    Ok((meta, bytes))
}

/// Builds a snapshot from a copy of the image taken when asked.
pub struct SnapshotBuilder {
    dir: PathBuf,
    meta: SnapshotMeta,
    image: Arc<MetadataImage>,
    slot: Stored,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        // The file is written and fsynced on the blocking pool, not the runtime's workers.
        let (dir, slot, meta, image) = (
            self.dir.clone(),
            self.slot.clone(),
            self.meta.clone(),
            self.image.clone(),
        );
        let (meta, bytes) =
            tokio::task::spawn_blocking(move || save(&dir, &slot, meta, image.to_records()))
                .await
                .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?
                .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?;
        tracing::info!(
            last_index = meta.last_log_id.map_or(0, |l| l.index),
            bytes = bytes.len(),
            "metadata snapshot written"
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let image = Arc::make_mut(&mut self.image);
        for e in entries {
            self.last_applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(p) => {
                    for r in p.records {
                        image.apply(r);
                    }
                }
                EntryPayload::Membership(m) => {
                    self.membership = Membership::new(Some(e.log_id), m);
                }
            }
            out.push(());
        }
        self.publish();
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            dir: self.dir.clone(),
            meta: self.snapshot_meta(),
            image: self.image.clone(),
            slot: self.snapshot.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<SnapshotData>,
    ) -> Result<(), StorageError> {
        let records: Vec<MetadataRecord> =
            serde_json::from_slice(snapshot.get_ref()).map_err(sm_err)?;
        self.image = Arc::new(MetadataImage::from_records(records.clone()));
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        let (dir, slot, saved_meta) = (self.dir.clone(), self.snapshot.clone(), meta.clone());
        tokio::task::spawn_blocking(move || save(&dir, &slot, saved_meta, records))
            .await
            .map_err(sm_err)?
            .map_err(sm_err)?;
        tracing::info!(
            last_index = meta.last_log_id.map_or(0, |l| l.index),
            "installed a metadata snapshot from the leader"
        );
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        Ok(self.snapshot.lock().clone().map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_file::LineFile;

    #[test]
    fn a_pre_quorum_record_log_is_imported_as_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, _) =
            LineFile::open::<MetadataRecord>(&dir.path().join(crate::LOG_FILE)).unwrap();
        let records = vec![
            MetadataRecord::ClusterFormatted {
                cluster_id: "c".into(),
            },
            MetadataRecord::TopicCreated {
                name: "keep".into(),
                id: uuid::Uuid::new_v4(),
                replicas: vec![vec![3]],
                configs: Default::default(),
            },
        ];
        f.append(&records, true).unwrap();
        drop(f);
        let (log, sm) = open_storage(dir.path(), 3).unwrap();
        assert!(sm.image().topic("keep").is_some());
        assert_eq!(sm.image().cluster_id.as_deref(), Some("c"));
        assert_eq!(log.last_index(), 2);
        assert!(dir.path().join(SNAPSHOT_FILE).is_file());
        // Reopening finds the snapshot and an empty (purged) log: no second import.
        drop((log, sm));
        let (log, sm) = open_storage(dir.path(), 3).unwrap();
        assert!(sm.image().topic("keep").is_some());
        assert_eq!(log.last_index(), 2);
        assert!(log.records().is_empty());
    }
}
