//! Deterministic simulation of a consumer group: seeded clients join, heartbeat,
//! lose responses, leave, crash, restart as static members, topics appear for regex
//! subscribers, and the coordinator itself restarts from its snapshot. After every
//! step: no partition is owned by two live clients, the coordinator's ownership map
//! agrees with its members, epochs never go back. After the churn stops, every
//! subscribed partition ends up owned by exactly one live client.

use fjord_group::{
    assignment, validate, Assignment, ConsumerGroup, ConsumerGroupState, GroupConfig, GroupError,
    HeartbeatRequest, Topics,
};
use std::collections::{BTreeMap, BTreeSet};

/// xorshift64*: enough randomness, no dependency, reproducible by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug, Clone)]
struct Client {
    id: String,
    instance: Option<String>,
    regex: bool,
    epoch: i32,
    joined: bool,
    owned: Assignment,
    crashed: bool,
    last_heartbeat: i64,
    /// After a lost response a client sends a full heartbeat, as Kafka's do.
    full: bool,
}

struct World {
    rng: Rng,
    now: i64,
    topics: Vec<(String, uuid::Uuid, i32)>,
    group: ConsumerGroup,
    config: GroupConfig,
    clients: Vec<Client>,
    next_client: u32,
    member_epochs: BTreeMap<String, i32>,
    group_epoch: i32,
}

impl World {
    fn new(seed: u64) -> World {
        let topics = vec![
            ("t0".to_string(), uuid::Uuid::from_u128(1), 4),
            ("t1".to_string(), uuid::Uuid::from_u128(2), 3),
        ];
        let mut config = GroupConfig::default();
        if seed % 2 == 1 {
            config.assignors.reverse(); // range by default on odd seeds
        }
        World {
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            now: 1_000_000,
            topics,
            group: ConsumerGroup::new("g"),
            config,
            clients: Vec::new(),
            next_client: 0,
            member_epochs: BTreeMap::new(),
            group_epoch: 0,
        }
    }

    fn topics(&self) -> Topics {
        Topics::new(self.topics.iter().cloned())
    }

    fn add_client(&mut self, instance: Option<String>) {
        self.next_client += 1;
        let regex = self.rng.chance(30);
        self.clients.push(Client {
            id: format!("member-{}", self.next_client),
            instance,
            regex,
            epoch: 0,
            joined: false,
            owned: Assignment::new(),
            crashed: false,
            last_heartbeat: self.now,
            full: false,
        });
    }

    fn heartbeat(&mut self, i: usize, lose_response: bool) {
        let c = self.clients[i].clone();
        let req = if c.joined && c.full {
            HeartbeatRequest {
                version: 1,
                group_id: "g".into(),
                member_id: c.id.clone(),
                member_epoch: c.epoch,
                instance_id: c.instance.clone(),
                rebalance_timeout_ms: 30_000,
                subscribed_topic_names: (!c.regex).then(|| vec!["t0".into(), "t1".into()]),
                subscribed_topic_regex: c.regex.then(|| "t1|events-.*".into()),
                owned: Some(c.owned.clone()),
                ..HeartbeatRequest::default()
            }
        } else if c.joined {
            HeartbeatRequest {
                version: 1,
                group_id: "g".into(),
                member_id: c.id.clone(),
                member_epoch: c.epoch,
                instance_id: c.instance.clone(),
                rebalance_timeout_ms: -1,
                owned: Some(c.owned.clone()),
                ..HeartbeatRequest::default()
            }
        } else {
            HeartbeatRequest {
                version: 1,
                group_id: "g".into(),
                member_id: c.id.clone(),
                member_epoch: 0,
                instance_id: c.instance.clone(),
                rebalance_timeout_ms: 30_000,
                subscribed_topic_names: (!c.regex).then(|| vec!["t0".into(), "t1".into()]),
                subscribed_topic_regex: c.regex.then(|| "t1|events-.*".into()),
                owned: Some(Assignment::new()),
                ..HeartbeatRequest::default()
            }
        };
        let topics = self.topics();
        let result = validate(&req, &self.config)
            .and_then(|()| self.group.heartbeat(self.now, req, &topics, &self.config));
        self.clients[i].last_heartbeat = self.now;
        let c = &mut self.clients[i];
        c.full = lose_response;
        if lose_response {
            return;
        }
        match result {
            Ok(resp) => {
                c.epoch = resp.member_epoch;
                c.joined = true;
                if let Some(a) = resp.assignment {
                    c.owned = a;
                }
            }
            Err(GroupError::FencedMemberEpoch(_) | GroupError::UnknownMemberId(_)) => {
                c.owned.clear();
                c.joined = false;
                c.epoch = 0;
            }
            Err(GroupError::UnreleasedInstanceId(_)) => {}
            Err(e) => panic!("unexpected heartbeat error: {e}"),
        }
    }

    fn leave(&mut self, i: usize, epoch: i32) {
        let c = self.clients[i].clone();
        if c.joined {
            let req = HeartbeatRequest {
                version: 1,
                group_id: "g".into(),
                member_id: c.id,
                member_epoch: epoch,
                instance_id: c.instance,
                ..HeartbeatRequest::default()
            };
            let topics = self.topics();
            let _ = self.group.heartbeat(self.now, req, &topics, &self.config);
        }
        self.clients.remove(i);
    }

    fn tick(&mut self) {
        self.group.tick(self.now);
    }

    /// One random step of churn.
    fn step(&mut self) {
        let roll = self.rng.below(100);
        let live: Vec<usize> = (0..self.clients.len())
            .filter(|&i| !self.clients[i].crashed)
            .collect();
        match roll {
            0..=5 if self.clients.len() < 8 => {
                let instance = self
                    .rng
                    .chance(30)
                    .then(|| format!("instance-{}", self.next_client));
                self.add_client(instance);
            }
            6..=7 if !live.is_empty() => {
                let i = live[self.rng.below(live.len() as u64) as usize];
                self.leave(i, fjord_group::LEAVE_EPOCH);
            }
            8 if !live.is_empty() => {
                let i = live[self.rng.below(live.len() as u64) as usize];
                self.clients[i].crashed = true;
            }
            9 => {
                // A static member restarts: temporary leave, then a new incarnation.
                let statics: Vec<usize> = live
                    .iter()
                    .copied()
                    .filter(|&i| self.clients[i].instance.is_some() && self.clients[i].joined)
                    .collect();
                if let Some(&i) = statics.first() {
                    let instance = self.clients[i].instance.clone();
                    let regex = self.clients[i].regex;
                    self.leave(i, fjord_group::LEAVE_STATIC_EPOCH);
                    self.add_client(instance);
                    // The same instance runs the same code: the same subscription.
                    if let Some(c) = self.clients.last_mut() {
                        c.regex = regex;
                    }
                }
            }
            10 if self.topics.len() < 5 => {
                let n = self.topics.len();
                self.topics.push((
                    format!("events-{n}"),
                    uuid::Uuid::from_u128(100 + n as u128),
                    1 + (self.rng.below(3) as i32),
                ));
            }
            11 => {
                // The coordinator restarts from its persisted snapshot.
                let snap = self.group.snapshot();
                let restored =
                    ConsumerGroup::restore("g", snap, self.now, self.config.session_timeout_ms)
                        .unwrap_or_else(|e| panic!("restore: {e}"));
                assert_eq!(restored.members, self.group.members);
                assert_eq!(restored.target, self.group.target);
                assert_eq!(restored.epoch, self.group.epoch);
                self.group = restored;
            }
            12..=30 => {
                self.now += 1_000;
                self.tick();
            }
            _ if !live.is_empty() => {
                let i = live[self.rng.below(live.len() as u64) as usize];
                let lose = self.rng.chance(5);
                self.heartbeat(i, lose);
            }
            _ => {}
        }
        // Live clients never go silent long enough to be fenced by the session timer.
        for i in 0..self.clients.len() {
            if !self.clients[i].crashed && self.now - self.clients[i].last_heartbeat > 10_000 {
                self.heartbeat(i, false);
            }
        }
    }

    fn check(&mut self) {
        // No partition owned by two live clients.
        let mut seen: BTreeMap<(uuid::Uuid, i32), &str> = BTreeMap::new();
        for c in self.clients.iter().filter(|c| !c.crashed) {
            for tp in assignment::partitions(&c.owned) {
                if let Some(other) = seen.insert(tp, &c.id) {
                    panic!("{tp:?} owned by {other} and {}", c.id);
                }
            }
        }
        // The coordinator's ownership agrees with its members, one owner each.
        let mut owners: BTreeMap<(uuid::Uuid, i32), &str> = BTreeMap::new();
        for m in self.group.members.values() {
            for tp in assignment::partitions(&m.assigned)
                .chain(assignment::partitions(&m.pending_revocation))
            {
                assert!(
                    owners.insert(tp, &m.id).is_none(),
                    "{tp:?} owned twice by members"
                );
                assert_eq!(self.group.owner(tp.0, tp.1), Some(m.id.as_str()));
            }
        }
        // Epochs never go back.
        assert!(self.group.epoch >= self.group_epoch);
        assert!(self.group.assignment_epoch <= self.group.epoch);
        self.group_epoch = self.group.epoch;
        for m in self.group.members.values() {
            if m.epoch >= 0 {
                let before = self.member_epochs.get(&m.id).copied().unwrap_or(0);
                assert!(
                    m.epoch >= before,
                    "{} went from {before} to {}",
                    m.id,
                    m.epoch
                );
                self.member_epochs.insert(m.id.clone(), m.epoch);
            }
        }
    }

    /// Stops churn: crashed clients are left to expire, live ones heartbeat each second.
    fn settle(&mut self) {
        for _ in 0..400 {
            self.now += 1_000;
            self.tick();
            for i in 0..self.clients.len() {
                if !self.clients[i].crashed {
                    self.heartbeat(i, false);
                }
            }
            self.check();
            if self.settled() {
                return;
            }
        }
        panic!(
            "did not settle: state {:?}, members {:#?}, clients {:#?}",
            self.group.state(),
            self.group.members,
            self.clients
        );
    }

    fn settled(&self) -> bool {
        let live: Vec<&Client> = self.clients.iter().filter(|c| !c.crashed).collect();
        if self.group.members.len() != live.len() {
            return false;
        }
        if live.is_empty() {
            return self.group.state() == ConsumerGroupState::Empty;
        }
        if self.group.state() != ConsumerGroupState::Stable {
            return false;
        }
        // Every partition someone subscribes to is owned by exactly one live client.
        let mut wanted: BTreeSet<(uuid::Uuid, i32)> = BTreeSet::new();
        for c in &live {
            for (name, id, n) in &self.topics {
                let subscribed = if c.regex {
                    name == "t1" || name.starts_with("events-")
                } else {
                    name == "t0" || name == "t1"
                };
                if subscribed {
                    wanted.extend((0..*n).map(|p| (*id, p)));
                }
            }
        }
        let owned: Vec<(uuid::Uuid, i32)> = live
            .iter()
            .flat_map(|c| assignment::partitions(&c.owned).collect::<Vec<_>>())
            .collect();
        let owned_set: BTreeSet<_> = owned.iter().copied().collect();
        owned.len() == owned_set.len() && owned_set == wanted
    }
}

fn run(seed: u64) {
    let mut w = World::new(seed);
    for _ in 0..3 {
        w.add_client(None);
    }
    for _ in 0..400 {
        w.step();
        w.check();
    }
    w.settle();
}

#[test]
fn seeded_churn_never_double_assigns_and_always_settles() {
    // FJORD_SIM_SEEDS=5000 explores further; a failing seed reproduces with run(seed).
    let seeds: u64 = std::env::var("FJORD_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    for seed in 0..seeds {
        let result = std::panic::catch_unwind(|| run(seed));
        assert!(
            result.is_ok(),
            "seed {seed} failed (rerun with run({seed}))"
        );
    }
}

#[test]
fn a_static_member_restart_keeps_its_partitions() {
    let mut w = World::new(0);
    w.add_client(Some("a".into()));
    w.add_client(None);
    w.clients[0].regex = false;
    w.clients[1].regex = false;
    w.settle();
    let before = w.clients[0].owned.clone();
    let epoch = w.group.epoch;
    assert!(!before.is_empty());
    w.leave(0, fjord_group::LEAVE_STATIC_EPOCH);
    w.add_client(Some("a".into()));
    let i = w.clients.len() - 1;
    w.clients[i].regex = false;
    w.heartbeat(i, false);
    assert_eq!(
        w.clients[i].owned, before,
        "the new incarnation got the same partitions"
    );
    assert_eq!(w.group.epoch, epoch, "no rebalance");
}
