//! Deterministic simulation of the controller's state machines together: brokers register,
//! heartbeat, pause, die, restart and shut down; the active controller fails over; topics and partitions are created; leaders
//! shrink and expand ISRs; admins elect leaders. Every step is checked against the invariants in
//! `sim/invariants.rs`. Each seed is one reproducible history: a failure prints the seed and
//! the last actions, and `FJORD_SIM_SEED=<seed>` replays just that one.
//! `FJORD_SIM_SEEDS=<count>` and `FJORD_SIM_FIRST_SEED=<seed>` run other seeds (1,000 from 0 by
//! default).

mod actions;
mod invariants;
mod rng;
mod world;

use std::collections::BTreeMap;

use world::World;

const STEPS: usize = 200;

/// Runs one seed; the error names the broken rule, the step and (with `trace`) the history.
/// Returns what happened, by kind.
fn run(seed: u64, trace: bool) -> Result<BTreeMap<&'static str, u64>, String> {
    let mut world = World::new(seed);
    if trace {
        world.trace = Some(Vec::new());
    }
    for step in 0..STEPS {
        let before = world.epochs();
        world.now += world.rng.range(50, 1_500);
        let outcome = world
            .pulse()
            .and_then(|()| world.act())
            .and_then(|()| world.check(&before));
        if let Err(e) = outcome {
            let history = world.trace.unwrap_or_default().join("\n  ");
            return Err(format!(
                "seed {seed} step {step}: {e}\nlast actions:\n  {history}"
            ));
        }
    }
    Ok(world.stats)
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("FJORD_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("FJORD_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    let first: u64 = std::env::var("FJORD_SIM_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (first..first.saturating_add(count)).collect()
}

#[test]
fn controller_invariants_hold_over_thousands_of_seeded_histories() {
    let seeds = seeds();
    let mut total: BTreeMap<&'static str, u64> = BTreeMap::new();
    for &seed in &seeds {
        match run(seed, false) {
            Ok(stats) => {
                for (what, n) in stats {
                    *total.entry(what).or_default() += n;
                }
            }
            Err(_) => {
                // Same seed, same history: replay it with the trace on for the report.
                let report = run(seed, true).err().unwrap_or_default();
                panic!("{report}\nreplay with FJORD_SIM_SEED={seed}");
            }
        }
    }
    // A simulation that stopped exercising a rule would pass vacuously: over the default
    // seeds, every kind of event must have happened.
    if seeds.len() >= 500 {
        for what in EXERCISED {
            let n = total.get(what).copied().unwrap_or(0);
            assert!(
                n >= 10,
                "only {n} x {what:?} over {} seeds: {total:?}",
                seeds.len()
            );
        }
    }
}

const EXERCISED: [&str; 24] = [
    "registered",
    "fenced: session expired",
    "fenced: shutdown now",
    "fenced: re-registered",
    "unfenced",
    "controlled shutdown",
    "unregistered",
    "duplicate registration refused",
    "partition taken offline",
    "unclean election",
    "last ISR member back",
    "leadership moved",
    "AlterPartition accepted",
    "AlterPartition stale",
    "AlterPartition ineligible",
    "ElectLeaders changed a leader",
    "rebalance moved a leader",
    "controller failover",
    "unclean election after a config change",
    "CreateTopics refused",
    "reassignment",
    "reassignment cancelled",
    "reassignment finished",
    "reassignment completed by AlterPartition",
];

#[test]
fn a_seed_replays_the_same_history() {
    let a = World::new(42);
    let b = World::new(42);
    assert_eq!(a.nodes.len(), b.nodes.len());
    let mut a = a;
    let mut b = b;
    for _ in 0..50 {
        a.now += 1_000;
        b.now += 1_000;
        assert_eq!(
            a.pulse().and_then(|()| a.act()),
            b.pulse().and_then(|()| b.act())
        );
    }
    assert_eq!(a.partitions, b.partitions);
    assert_eq!(a.offset, b.offset);
    assert_eq!(a.now, b.now);
}
