//! Seeded simulation: a leader (node 0) and two followers under random appends, fetches,
//! stalls, clock jumps and a controller that commits, refuses or delays ISR changes. After
//! every step: the high watermark never goes back and never passes what any committed ISR
//! member really holds; every produce acknowledged as committed is below it and was
//! acknowledged with at least `min.insync.replicas` in sync. At the end, with every follower
//! running, the ISR grows back to all replicas. `FJORD_SIM_SEED=<n>` replays one seed.

use crate::leader::{Effect, IsrChange, LeaderConfig, LeaderState};
use crate::purgatory::{before_append, AcksAllOutcome, Purgatory};

const LAG: u64 = 500;
const MIN_ISR: usize = 2;
const REPLICAS: [i32; 3] = [0, 1, 2];

/// xorshift64*: enough randomness, no dependency, reproducible per seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

struct World {
    rng: Rng,
    now: u64,
    leader: LeaderState,
    purgatory: Purgatory,
    /// Each follower's real log end offset (it copies the leader's log up to where it fetched).
    follower_leo: [i64; 3],
    stalled: [bool; 3],
    /// The ISR change sent to the controller and not answered yet.
    in_flight: Option<IsrChange>,
    committed_isr: Vec<i32>,
    partition_epoch: i32,
    /// Offsets acknowledged to producers.
    acked: Vec<i64>,
}

impl World {
    fn new(seed: u64) -> Self {
        let leader = LeaderState::new(
            LeaderConfig {
                replica_lag_time_max_ms: LAG,
            },
            0,
            0,
            0,
            &REPLICAS,
            &REPLICAS,
            0,
            0,
            0,
        );
        World {
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            now: 0,
            leader,
            purgatory: Purgatory::default(),
            follower_leo: [0; 3],
            stalled: [false; 3],
            in_flight: None,
            committed_isr: REPLICAS.to_vec(),
            partition_epoch: 0,
            acked: Vec::new(),
        }
    }

    fn perform(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::HighWatermark(hw) => {
                    let isr = self.leader.isr().len();
                    for (id, outcome) in self.purgatory.complete(hw, isr, MIN_ISR) {
                        if outcome == AcksAllOutcome::Committed {
                            self.acked.push(id.required);
                        }
                    }
                }
                Effect::AlterIsr(change) => {
                    assert!(self.in_flight.is_none(), "two ISR changes in flight");
                    self.in_flight = Some(change);
                }
            }
        }
    }

    fn step(&mut self) {
        self.now += self.rng.below(200);
        match self.rng.below(7) {
            0 | 1 => {
                let leo = self.leader.log_end_offset();
                if before_append(self.leader.isr().len(), MIN_ISR).is_ok() {
                    let end = leo + 1 + self.rng.below(3) as i64;
                    let effects = self.leader.appended(end);
                    self.purgatory.park(end);
                    self.perform(effects);
                }
            }
            2..=4 => {
                let f = 1 + self.rng.below(2) as usize;
                if !self.stalled[f] {
                    // The fetch reports what it holds, then copies up to the leader's end.
                    let effects = self
                        .leader
                        .follower_fetched(f as i32, self.follower_leo[f], self.now)
                        .unwrap_or_default();
                    self.follower_leo[f] = self.leader.log_end_offset();
                    self.perform(effects);
                }
            }
            5 => {
                let f = 1 + self.rng.below(2) as usize;
                self.stalled[f] = !self.stalled[f];
            }
            _ => {
                if let Some(change) = self.in_flight.take() {
                    match self.rng.below(3) {
                        // Committed (the controller's check: the epoch it was based on).
                        0 | 1 if change.partition_epoch == self.partition_epoch => {
                            self.partition_epoch += 1;
                            self.committed_isr = change.new_isr;
                            let effects = self
                                .leader
                                .isr_committed(&self.committed_isr, self.partition_epoch);
                            self.perform(effects);
                        }
                        0 | 1 => self.leader.isr_change_failed(),
                        _ => self.in_flight = Some(change),
                    }
                }
            }
        }
        let effects = self.leader.tick(self.now);
        self.perform(effects);
    }

    fn check(&self, hw_before: i64) -> Result<(), String> {
        let hw = self.leader.high_watermark();
        if hw < hw_before {
            return Err(format!("high watermark went back {hw_before} -> {hw}"));
        }
        for &r in &self.committed_isr {
            let holds = if r == 0 {
                self.leader.log_end_offset()
            } else {
                self.follower_leo[r as usize]
            };
            if holds < hw {
                return Err(format!(
                    "ISR member {r} holds {holds} < high watermark {hw}"
                ));
            }
        }
        if let Some(&o) = self.acked.iter().find(|&&o| o > hw) {
            return Err(format!("acknowledged {o} above the high watermark {hw}"));
        }
        Ok(())
    }
}

fn run(seed: u64) -> Result<usize, String> {
    let mut w = World::new(seed);
    for step in 0..400 {
        let before = w.leader.high_watermark();
        w.step();
        w.check(before)
            .map_err(|e| format!("seed {seed} step {step}: {e}"))?;
    }
    // Everyone runs again: fetch rounds until both followers are back in the ISR.
    w.stalled = [false; 3];
    for _ in 0..20 {
        for f in 1..3 {
            let effects = w
                .leader
                .follower_fetched(f as i32, w.follower_leo[f], w.now)
                .unwrap_or_default();
            w.follower_leo[f] = w.leader.log_end_offset();
            w.perform(effects);
        }
        if let Some(change) = w.in_flight.take() {
            if change.partition_epoch == w.partition_epoch {
                w.partition_epoch += 1;
                w.committed_isr = change.new_isr;
                let effects = w.leader.isr_committed(&w.committed_isr, w.partition_epoch);
                w.perform(effects);
            } else {
                w.leader.isr_change_failed();
            }
        }
        w.now += 10;
    }
    let mut isr = w.leader.isr().to_vec();
    isr.sort_unstable();
    if isr != REPLICAS {
        return Err(format!("seed {seed}: ISR {isr:?} did not grow back"));
    }
    Ok(w.acked.len())
}

#[test]
fn replication_invariants_hold_over_many_seeds() {
    let seeds: Vec<u64> = match std::env::var("FJORD_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (0..1_000).collect(),
    };
    let mut acked = 0;
    for seed in seeds {
        acked += run(seed).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        acked > 0,
        "the simulation acknowledged nothing: it tests nothing"
    );
}
