//! The broker-wide cleaner settings, with Kafka's names and defaults.

/// Settings of the log cleaner threads (`log.cleaner.*`). Plain data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.threads`: cleaner threads; each cleans one log at a time.
    pub threads: usize,
    /// `log.cleaner.dedupe.buffer.size`: bytes of offset map, shared by the threads. Each key
    /// takes 24 bytes (Kafka's `SkimpyOffsetMap` entry: a 16-byte hash and an offset).
    pub dedupe_buffer_size: u64,
    /// `log.cleaner.io.buffer.load.factor`: how full the map may get before a pass stops
    /// adding keys (open addressing slows down as it fills).
    pub io_buffer_load_factor: f64,
    /// `log.cleaner.io.max.bytes.per.second`: read plus write rate of all cleaning, Kafka's
    /// default being unlimited (`f64::MAX`).
    pub io_max_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms`: sleep of a thread that found nothing to clean.
    pub backoff_ms: u64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            threads: 1,
            dedupe_buffer_size: 128 << 20,
            io_buffer_load_factor: 0.9,
            io_max_bytes_per_second: f64::MAX,
            backoff_ms: 15_000,
        }
    }
}
