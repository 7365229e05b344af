//! `group.consumer.migration.policy`: which way a live group may change protocol
//! (Kafka 4's `ConsumerGroupMigrationPolicy`, KIP-848's online migration).

/// Whether a live classic group may become a consumer group (upgrade) and a live
/// consumer group with classic members may become classic again (downgrade).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationPolicy {
    /// Both ways (Kafka's default).
    #[default]
    Bidirectional,
    Upgrade,
    Downgrade,
    Disabled,
}

impl MigrationPolicy {
    /// Parses a config value; Kafka matches case-insensitively.
    pub fn parse(v: &str) -> Option<MigrationPolicy> {
        match v.trim().to_ascii_lowercase().as_str() {
            "bidirectional" => Some(MigrationPolicy::Bidirectional),
            "upgrade" => Some(MigrationPolicy::Upgrade),
            "downgrade" => Some(MigrationPolicy::Downgrade),
            "disabled" => Some(MigrationPolicy::Disabled),
            _ => None,
        }
    }

    pub fn upgrade_enabled(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Bidirectional | MigrationPolicy::Upgrade
        )
    }

    pub fn downgrade_enabled(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Bidirectional | MigrationPolicy::Downgrade
        )
    }
}

/// One member of a live classic group being upgraded: its JoinGroup data (subscription
/// decoded from the group's protocol) and the partitions its last SyncGroup gave it.
#[derive(Debug, Clone, Default)]
pub struct ClassicImport {
    pub join: crate::ClassicJoin,
    pub assigned: Vec<(String, i32)>,
}

impl crate::ConsumerGroup {
    /// Kafka's `ConsumerGroup.fromClassicGroup`, the online upgrade: every member keeps
    /// what it owns at the classic generation, which becomes the group's epoch and its
    /// assignment epoch, so the target is what the members hold. The consumer-protocol
    /// member whose heartbeat triggered the upgrade then joins as any new member does,
    /// and the classic members learn of the new epoch in their next heartbeat.
    /// A partition named twice, or one the cluster does not have, is not kept.
    pub fn from_classic(
        id: &str,
        generation: i32,
        members: Vec<ClassicImport>,
        topics: &crate::Topics,
        now: i64,
    ) -> crate::ConsumerGroup {
        let mut g = crate::ConsumerGroup::new(id);
        g.epoch = generation;
        g.assignment_epoch = generation;
        for import in members {
            let join = import.join;
            let mut m = crate::ConsumerMember::new(&join.member_id);
            m.take_classic_join(&join);
            m.epoch = generation;
            m.previous_epoch = generation;
            for (name, p) in &import.assigned {
                let Some((topic, count)) = topics.get(name) else {
                    continue;
                };
                if (0..count).contains(p) && g.owner(topic, *p).is_none() {
                    crate::assignment::insert(&mut m.assigned, topic, *p);
                }
            }
            g.target.insert(m.id.clone(), m.assigned.clone());
            g.put_member(m);
            g.restart_classic_session(now, &join.member_id);
        }
        g.subscription_metadata = g.compute_subscription_metadata(topics);
        g.dirty = true;
        g
    }

    /// Whether every member speaks the classic protocol (and there is one): the
    /// condition for Kafka's online downgrade once a consumer-protocol member is gone.
    pub fn only_classic_members(&self) -> bool {
        !self.members.is_empty() && self.members.values().all(|m| m.classic.is_some())
    }
}
