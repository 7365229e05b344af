//! Responses whose record data is streamed from the log files to the socket.
//!
//! A Fetch response can carry up to `fetch.max.bytes` (55 MiB by default) of record batches.
//! Rather than copy all of it into one buffer, the handler builds the response with a small
//! unique marker in place of each partition's records and hands over where the real bytes
//! lie ([`FileSlice`]s). [`StreamedFrame::build`] encodes that response with the ordinary
//! codec, so every other field is exactly what Kafka's wire format says, then cuts the
//! encoding at the markers and puts the real length prefix in front of each records field.
//! The frame's size is known before a byte is sent; [`StreamedFrame::write_to`] then writes
//! the encoded pieces and reads the file ranges in chunks of at most [`CHUNK`] bytes on the
//! blocking pool. Memory per in-flight fetch: the encoded metadata plus one chunk.
//!
//! If a file turns out shorter than announced (truncated while served), the connection is
//! closed: the size prefix has already been sent, as with Kafka's `sendfile` path.

use crate::metrics::Metrics;
use crate::router::RequestError;
use bytes::{BufMut, Bytes, BytesMut};
use fjord_storage::FileSlice;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// File bytes read per blocking-pool trip (and held in memory at once) per response.
pub const CHUNK: usize = 256 * 1024;

/// Length of a records marker.
pub const MARKER_LEN: usize = 16;

/// A unique stand-in for one records field, replaced by `slices` when the frame is built.
pub struct Marked {
    pub marker: Bytes,
    pub slices: Vec<FileSlice>,
}

impl Marked {
    pub fn new(slices: Vec<FileSlice>) -> Marked {
        let marker = Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Marked { marker, slices }
    }
}

enum Piece {
    Encoded(Bytes),
    File {
        slice: FileSlice,
        offset: u64,
        len: usize,
    },
}

/// A response frame: encoded pieces and file ranges, in wire order.
pub struct StreamedFrame {
    pieces: Vec<Piece>,
    encoded_bytes: usize,
}

impl StreamedFrame {
    /// Cuts `encoded` (a whole frame: size prefix, header, body, with each records field
    /// holding its marker) at the markers, in order. `flexible`: the records fields are
    /// compact bytes (unsigned varint length + 1), else an int32 length.
    pub fn build(
        encoded: BytesMut,
        marked: Vec<Marked>,
        flexible: bool,
    ) -> Result<StreamedFrame, RequestError> {
        let encoded = encoded.freeze();
        let old_prefix: &[u8] = if flexible {
            &[MARKER_LEN as u8 + 1]
        } else {
            &(MARKER_LEN as i32).to_be_bytes()
        };
        let mut pieces = Vec::new();
        let mut cursor = 4; // the size prefix is written last
        let mut size = encoded.len() - 4;
        for m in marked {
            let found = find(&encoded[cursor..], &m.marker)
                .ok_or_else(|| RequestError::Encode("records marker not found".into()))?;
            let at = cursor + found;
            let prefix_at = at
                .checked_sub(old_prefix.len())
                .filter(|&p| p >= cursor && &encoded[p..at] == old_prefix)
                .ok_or_else(|| RequestError::Encode("records marker without its length".into()))?;
            let len: usize = m.slices.iter().map(|s| s.len() as usize).sum();
            let mut prefix = BytesMut::with_capacity(5);
            if flexible {
                put_unsigned_varint(&mut prefix, len as u64 + 1);
            } else {
                prefix.put_i32(i32::try_from(len).map_err(|_| too_large())?);
            }
            size = size - old_prefix.len() - MARKER_LEN + prefix.len() + len;
            pieces.push(Piece::Encoded(encoded.slice(cursor..prefix_at)));
            pieces.push(Piece::Encoded(prefix.freeze()));
            for slice in m.slices {
                let mut offset = 0;
                while offset < slice.len() {
                    let len = (slice.len() - offset).min(CHUNK as u64) as usize;
                    pieces.push(Piece::File {
                        slice: slice.clone(),
                        offset,
                        len,
                    });
                    offset += len as u64;
                }
            }
            cursor = at + MARKER_LEN;
        }
        pieces.push(Piece::Encoded(encoded.slice(cursor..)));
        let size = i32::try_from(size).map_err(|_| too_large())?;
        pieces.insert(
            0,
            Piece::Encoded(Bytes::copy_from_slice(&size.to_be_bytes())),
        );
        Ok(StreamedFrame {
            pieces,
            encoded_bytes: encoded.len(),
        })
    }

    /// Writes the frame, reading file ranges in rounds of at most [`CHUNK`] bytes.
    pub async fn write_to<W: AsyncWrite + Unpin>(
        self,
        w: &mut W,
        metrics: &Metrics,
    ) -> std::io::Result<()> {
        let _metadata = metrics.hold_response_bytes(self.encoded_bytes);
        let pieces = self.pieces;
        let mut i = 0;
        while i < pieces.len() {
            let mut end = i;
            let mut reads = Vec::new();
            let mut bytes = 0;
            while end < pieces.len() {
                if let Piece::File { slice, offset, len } = &pieces[end] {
                    if bytes > 0 && bytes + len > CHUNK {
                        break;
                    }
                    bytes += len;
                    reads.push((slice.clone(), *offset, *len));
                }
                end += 1;
            }
            let _held = metrics.hold_response_bytes(bytes);
            let data = if reads.is_empty() {
                Vec::new()
            } else {
                crate::blocking::spawn(move || {
                    reads
                        .iter()
                        .map(|(s, offset, len)| s.read(*offset, *len))
                        .collect::<Result<Vec<Bytes>, _>>()
                })
                .await
                .map_err(std::io::Error::other)?
                .map_err(std::io::Error::other)?
            };
            let mut data = data.into_iter();
            for piece in &pieces[i..end] {
                match piece {
                    Piece::Encoded(b) => w.write_all(b).await?,
                    Piece::File { .. } => match data.next() {
                        Some(chunk) => w.write_all(&chunk).await?,
                        None => return Err(std::io::Error::other("a chunk was not read")),
                    },
                }
            }
            i = end;
        }
        Ok(())
    }
}

fn too_large() -> RequestError {
    RequestError::Encode("response larger than 2 GiB".into())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn put_unsigned_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}
