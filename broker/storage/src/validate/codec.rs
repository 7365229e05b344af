//! Record-section codecs that stream and stop at a byte limit.
//!
//! kafka-protocol's codecs decompress a whole batch into one buffer, sized by whatever the
//! stream claims (snappy's length preamble) or by however much it expands to (a gzip bomb).
//! Here every codec is a [`Read`] over the compressed bytes, wrapped so that reading more than
//! `limit` decompressed bytes fails, and no buffer is sized by a number from the stream:
//! snappy blocks are checked against what snappy can expand their input to before their claimed
//! length is allocated, zstd's window is capped, lz4 blocks are at most 4 MiB by its format.
//! Plain functions and types; nothing is shared between threads.

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::error::BatchError;

pub const NONE: i16 = 0;
pub const GZIP: i16 = 1;
pub const SNAPPY: i16 = 2;
pub const LZ4: i16 = 3;
pub const ZSTD: i16 = 4;

/// Decompressed bytes one batch may expand to: 64 times its topic's `max.message.bytes`, at
/// least 64 MiB and at most 1 GiB. Decoding streams (one record in memory at a time), so the
/// limit bounds the CPU a batch can cost rather than memory. Producers size batches by their
/// uncompressed bytes (librdkafka's `batch.size`, Java's `max.request.size` per record) or by
/// an estimated compression ratio, so 64x leaves room for very compressible data while a bomb
/// (gzip's 1000:1, or a snappy preamble claiming 4 GiB) stops after a bounded amount of work.
pub fn decompressed_limit(max_message_bytes: u64) -> u64 {
    max_message_bytes
        .saturating_mul(64)
        .clamp(64 << 20, 1 << 30)
}

/// zstd windows above 16 MiB are refused: the window is memory the decoder must allocate,
/// and Kafka producers at their default levels use windows of at most 8 MiB.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// No valid snappy block expands more than about 21x (a 3-byte copy tag emitting 64 bytes);
/// a block whose preamble claims more is corrupt and is refused before anything is allocated.
const SNAPPY_MAX_EXPANSION: usize = 24;

const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

/// Marks the io::Error raised when the limit is passed.
#[derive(Debug)]
struct LimitExceeded;

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompressed size limit exceeded")
    }
}

impl std::error::Error for LimitExceeded {}

/// Fails once more than `left` bytes have been read through it.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(io::Error::other(LimitExceeded));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Snappy as Kafka producers write it: xerial framing (a 16-byte header, then blocks each
/// prefixed by a big-endian u32 length) or, as Kafka also accepts, one raw snappy block.
struct SnappyReader<'a> {
    input: &'a [u8],
    framed: bool,
    done: bool,
    block: Vec<u8>,
    at: usize,
}

impl<'a> SnappyReader<'a> {
    fn new(input: &'a [u8]) -> Self {
        let framed = input.starts_with(XERIAL_MAGIC);
        SnappyReader {
            input: if framed {
                input.get(XERIAL_HEADER_LEN..).unwrap_or_default()
            } else {
                input
            },
            framed,
            done: false,
            block: Vec::new(),
            at: 0,
        }
    }

    /// Decompresses the next block; `false` at the end of the stream.
    fn next_block(&mut self) -> io::Result<bool> {
        let corrupt = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("snappy: {m}"));
        let input: &'a [u8] = self.input;
        let compressed = if self.framed {
            if input.is_empty() {
                return Ok(false);
            }
            let Some(len) = input.get(..4) else {
                return Err(corrupt("truncated block length"));
            };
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let Some(block) = input.get(4..4 + len) else {
                return Err(corrupt("truncated block"));
            };
            self.input = &input[4 + len..];
            block
        } else {
            if self.done {
                return Ok(false);
            }
            self.done = true;
            input
        };
        let claimed = snap::raw::decompress_len(compressed).map_err(|e| corrupt(&e.to_string()))?;
        if claimed > compressed.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
            return Err(corrupt("a block claims more than its bytes can expand to"));
        }
        self.block.clear();
        self.block.resize(claimed, 0);
        snap::raw::Decoder::new()
            .decompress(compressed, &mut self.block)
            .map_err(|e| corrupt(&e.to_string()))?;
        self.at = 0;
        Ok(true)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A buffered reader of the decompressed records section `section` (the bytes after the
/// 61-byte header) of a batch compressed with `codec`, failing past `limit` bytes.
pub(crate) fn reader<'a>(
    codec: i16,
    section: &'a [u8],
    limit: u64,
) -> Result<Box<dyn BufRead + 'a>, BatchError> {
    let inner: Box<dyn Read + 'a> = match codec {
        NONE => Box::new(section),
        GZIP => Box::new(flate2::read::MultiGzDecoder::new(section)),
        SNAPPY => Box::new(SnappyReader::new(section)),
        LZ4 => Box::new(lz4::Decoder::new(section).map_err(compression_error)?),
        ZSTD => {
            let mut d =
                zstd::stream::read::Decoder::with_buffer(section).map_err(compression_error)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(compression_error)?;
            Box::new(d)
        }
        other => return Err(BatchError::UnknownCompression(other)),
    };
    Ok(Box::new(BufReader::new(Limited { inner, left: limit })))
}

/// The whole decompressed records section (tests compare round trips with it). Grows with the bytes actually produced, never beyond `limit`.
#[cfg(test)]
pub(crate) fn decompress_all(
    codec: i16,
    section: &[u8],
    limit: u64,
) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    reader(codec, section, limit)?
        .read_to_end(&mut out)
        .map_err(|e| read_error(e, limit))?;
    Ok(out)
}

/// Maps a failed read of a decompressing stream to the batch error callers report.
pub(crate) fn read_error(e: io::Error, limit: u64) -> BatchError {
    if e.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>()) {
        BatchError::DecompressedTooLarge { limit }
    } else {
        compression_error(e)
    }
}

fn compression_error(e: io::Error) -> BatchError {
    BatchError::Compression(e.to_string())
}

/// A compressor that takes the records section in pieces.
pub(crate) enum Encoder {
    None(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Snappy { out: Vec<u8>, pending: Vec<u8> },
    Lz4(lz4::Encoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

/// Xerial snappy block size, as the Java client writes it.
const SNAPPY_BLOCK: usize = 32 * 1024;

impl Encoder {
    pub(crate) fn new(codec: i16) -> Result<Encoder, BatchError> {
        Ok(match codec {
            NONE => Encoder::None(Vec::new()),
            GZIP => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )),
            SNAPPY => {
                let mut out = Vec::with_capacity(XERIAL_HEADER_LEN);
                out.extend_from_slice(XERIAL_MAGIC);
                out.extend_from_slice(&1u32.to_be_bytes()); // version
                out.extend_from_slice(&1u32.to_be_bytes()); // minimum compatible version
                Encoder::Snappy {
                    out,
                    pending: Vec::new(),
                }
            }
            // Independent blocks: Kafka's Java reader refuses dependent ones.
            LZ4 => Encoder::Lz4(
                lz4::EncoderBuilder::new()
                    .block_mode(lz4::BlockMode::Independent)
                    .build(Vec::new())
                    .map_err(compression_error)?,
            ),
            ZSTD => Encoder::Zstd(
                zstd::stream::write::Encoder::new(Vec::new(), zstd::DEFAULT_COMPRESSION_LEVEL)
                    .map_err(compression_error)?,
            ),
            other => return Err(BatchError::UnknownCompression(other)),
        })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), BatchError> {
        match self {
            Encoder::None(out) => out.extend_from_slice(bytes),
            Encoder::Gzip(e) => e.write_all(bytes).map_err(compression_error)?,
            Encoder::Lz4(e) => e.write_all(bytes).map_err(compression_error)?,
            Encoder::Zstd(e) => e.write_all(bytes).map_err(compression_error)?,
            Encoder::Snappy { out, pending } => {
                pending.extend_from_slice(bytes);
                while pending.len() >= SNAPPY_BLOCK {
                    snappy_block(out, &pending[..SNAPPY_BLOCK])?;
                    pending.drain(..SNAPPY_BLOCK);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>, BatchError> {
        match self {
            Encoder::None(out) => Ok(out),
            Encoder::Gzip(e) => e.finish().map_err(compression_error),
            Encoder::Lz4(e) => {
                let (out, done) = e.finish();
                done.map_err(compression_error)?;
                Ok(out)
            }
            Encoder::Zstd(e) => e.finish().map_err(compression_error),
            Encoder::Snappy { mut out, pending } => {
                if !pending.is_empty() {
                    snappy_block(&mut out, &pending)?;
                }
                Ok(out)
            }
        }
    }
}

fn snappy_block(out: &mut Vec<u8>, block: &[u8]) -> Result<(), BatchError> {
    let compressed = snap::raw::Encoder::new()
        .compress_vec(block)
        .map_err(|e| BatchError::Compression(e.to_string()))?;
    out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
    out.extend_from_slice(&compressed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(codec: i16) {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut e = Encoder::new(codec).unwrap();
        e.write(&data[..1000]).unwrap();
        e.write(&data[1000..]).unwrap();
        let compressed = e.finish().unwrap();
        assert_eq!(decompress_all(codec, &compressed, 1 << 30).unwrap(), data);
        assert_eq!(
            decompress_all(codec, &compressed, 1000),
            Err(BatchError::DecompressedTooLarge { limit: 1000 })
        );
    }

    #[test]
    fn every_codec_round_trips_and_stops_at_the_limit() {
        for codec in [NONE, GZIP, SNAPPY, LZ4, ZSTD] {
            round_trip(codec);
        }
    }

    #[test]
    fn snappy_written_here_is_what_kafka_protocol_reads() {
        use kafka_protocol::compression::{Decompressor, Snappy};
        let data = vec![7u8; 100_000];
        let mut e = Encoder::new(SNAPPY).unwrap();
        e.write(&data).unwrap();
        let mut compressed = bytes::Bytes::from(e.finish().unwrap());
        let back = Snappy::decompress(&mut compressed, |b| Ok(std::mem::take(b))).unwrap();
        assert_eq!(&back[..], &data[..]);
    }

    #[test]
    fn a_snappy_preamble_claiming_4_gib_is_refused_before_allocating() {
        // Raw snappy: varint preamble 2^32 - 1, then a few literal bytes.
        let mut bomb = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
        bomb.extend_from_slice(&[0u8; 97]);
        let err = decompress_all(SNAPPY, &bomb, 64 << 20).unwrap_err();
        assert!(matches!(err, BatchError::Compression(_)), "{err:?}");
    }
}
