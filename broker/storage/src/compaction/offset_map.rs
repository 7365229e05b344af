//! The cleaner's offset map: key -> latest offset in the dirty section, in fixed memory
//! (Kafka's `SkimpyOffsetMap`).
//!
//! Keys are not stored, only a 128-bit hash of each (two SipHash-1-3 digests under random
//! keys drawn per pass, so a producer cannot aim collisions at the map): 16 bytes of hash and
//! 8 of offset per entry, 24 bytes as in Kafka. Open addressing with triangular probing over a
//! power-of-two table. The table is sized per pass to the dirty section's record count, never
//! above the configured bytes: a small log does not pay for the whole buffer. A hash collision
//! would merge two keys (the older's records dropped): with 128 bits this is as unlikely as
//! with Kafka's MD5. Owned by one cleaner thread.

use std::hash::{BuildHasher, Hasher};

/// Bytes per entry, as Kafka counts them.
pub(crate) const ENTRY_BYTES: u64 = 24;

#[derive(Clone, Copy, Default)]
struct Slot {
    h1: u64,
    h2: u64,
    /// The offset plus one; 0 marks an empty slot.
    offset_plus_one: u64,
}

pub(crate) struct OffsetMap {
    max_bytes: u64,
    load_factor: f64,
    slots: Vec<Slot>,
    entries: usize,
    max_entries: usize,
    h1: std::collections::hash_map::RandomState,
    h2: std::collections::hash_map::RandomState,
}

impl OffsetMap {
    /// A map that will never use more than `max_bytes` (at least one entry's worth).
    pub(crate) fn new(max_bytes: u64, load_factor: f64) -> OffsetMap {
        OffsetMap {
            max_bytes: max_bytes.max(ENTRY_BYTES),
            load_factor: load_factor.clamp(0.1, 0.95),
            slots: Vec::new(),
            entries: 0,
            max_entries: 0,
            h1: Default::default(),
            h2: Default::default(),
        }
    }

    /// Empties the map and sizes it for up to `expected` keys (bounded by the memory limit).
    /// New hash keys are drawn.
    pub(crate) fn reset(&mut self, expected: u64) {
        let limit_slots = prev_power_of_two(self.max_bytes / ENTRY_BYTES);
        let wanted = ((expected as f64 / self.load_factor) as u64 + 1).next_power_of_two();
        let slots = wanted.clamp(1, limit_slots) as usize;
        if self.slots.len() != slots {
            self.slots = Vec::new(); // free first: never hold two tables
            self.slots = vec![Slot::default(); slots];
        } else {
            self.slots.fill(Slot::default());
        }
        self.entries = 0;
        self.max_entries = ((slots as f64 * self.load_factor) as usize).max(1);
        self.h1 = Default::default();
        self.h2 = Default::default();
    }

    /// Keys in the map.
    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    /// Bytes of the current table.
    #[cfg(test)]
    pub(crate) fn table_bytes(&self) -> u64 {
        self.slots.len() as u64 * ENTRY_BYTES
    }

    fn hashes(&self, key: &[u8]) -> (u64, u64) {
        let mut a = self.h1.build_hasher();
        a.write(key);
        let mut b = self.h2.build_hasher();
        b.write(key);
        (a.finish(), b.finish())
    }

    /// The slot holding `key`'s hashes, or the empty slot where it would go.
    fn find(&self, h1: u64, h2: u64) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut at = h1 as usize & mask;
        // Triangular steps visit every slot of a power-of-two table.
        for step in 1..=self.slots.len() {
            let s = &self.slots[at];
            if s.offset_plus_one == 0 || (s.h1 == h1 && s.h2 == h2) {
                return Some(at);
            }
            at = (at + step) & mask;
        }
        None
    }

    /// Records `offset` as `key`'s latest. `false` if the key is new and the map is full.
    pub(crate) fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let (h1, h2) = self.hashes(key);
        let Some(at) = self.find(h1, h2) else {
            return false;
        };
        let slot = &mut self.slots[at];
        if slot.offset_plus_one == 0 {
            if self.entries >= self.max_entries {
                return false;
            }
            self.entries += 1;
            slot.h1 = h1;
            slot.h2 = h2;
        }
        slot.offset_plus_one = offset.max(0) as u64 + 1;
        true
    }

    /// The latest offset recorded for `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<i64> {
        let (h1, h2) = self.hashes(key);
        let slot = &self.slots[self.find(h1, h2)?];
        (slot.offset_plus_one != 0).then(|| slot.offset_plus_one as i64 - 1)
    }
}

fn prev_power_of_two(n: u64) -> u64 {
    if n <= 1 {
        1
    } else {
        1 << (63 - n.leading_zeros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_keeps_the_latest_offset_and_refuses_new_keys_once_full() {
        // 10 entries of memory: 8 slots, 7 keys at a 0.9 load factor.
        let mut m = OffsetMap::new(10 * ENTRY_BYTES, 0.9);
        m.reset(1_000_000);
        assert_eq!(m.table_bytes(), 8 * ENTRY_BYTES);
        for i in 0..7 {
            assert!(m.put(format!("k{i}").as_bytes(), i));
        }
        assert!(!m.put(b"another", 99), "full");
        assert!(m.put(b"k3", 50), "an existing key is updated when full");
        assert_eq!(m.get(b"k3"), Some(50));
        assert_eq!(m.get(b"k0"), Some(0));
        assert_eq!(m.get(b"another"), None);
        m.reset(3);
        assert_eq!(m.len(), 0);
        assert_eq!(m.get(b"k3"), None);
    }

    #[test]
    fn a_small_dirty_section_gets_a_small_table() {
        let mut m = OffsetMap::new(128 << 20, 0.9);
        m.reset(100);
        assert!(m.table_bytes() <= 256 * ENTRY_BYTES);
    }
}
