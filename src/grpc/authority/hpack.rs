//! The HPACK (RFC 7541) pieces the `:authority` rewrite needs: a stateful
//! decoder for the client's header blocks and a stateless encoder.
//!
//! The decoder keeps the client's dynamic table, so every header block of a
//! connection (requests and trailers) must go through the same [`Decoder`] in
//! order. The encoder never touches the server's dynamic table: fields found
//! whole in the static table are sent as static indexes, everything else as a
//! literal without indexing (or never-indexed when the client marked the field
//! so), with raw (non-Huffman) strings. The server's decoder table therefore
//! stays empty and our encoder has no state to keep in step with it.

use std::collections::VecDeque;

use thiserror::Error;

use super::huffman::{self, HuffmanError};

/// Dynamic table size the server allows (SETTINGS_HEADER_TABLE_SIZE). The h2
/// server under tonic never advertises the setting, so the protocol default
/// of 4,096 octets applies; a client may lower it but never raise it.
pub const MAX_DYNAMIC_TABLE_SIZE: usize = 4096;

/// Overhead counted for each dynamic table entry (RFC 7541 §4.1).
const ENTRY_OVERHEAD: usize = 32;

#[rustfmt::skip]
const STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""), (b":method", b"GET"), (b":method", b"POST"),
    (b":path", b"/"), (b":path", b"/index.html"), (b":scheme", b"http"),
    (b":scheme", b"https"), (b":status", b"200"), (b":status", b"204"),
    (b":status", b"206"), (b":status", b"304"), (b":status", b"400"),
    (b":status", b"404"), (b":status", b"500"), (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"), (b"accept-language", b""),
    (b"accept-ranges", b""), (b"accept", b""),
    (b"access-control-allow-origin", b""), (b"age", b""), (b"allow", b""),
    (b"authorization", b""), (b"cache-control", b""),
    (b"content-disposition", b""), (b"content-encoding", b""),
    (b"content-language", b""), (b"content-length", b""),
    (b"content-location", b""), (b"content-range", b""),
    (b"content-type", b""), (b"cookie", b""), (b"date", b""), (b"etag", b""),
    (b"expect", b""), (b"expires", b""), (b"from", b""), (b"host", b""),
    (b"if-match", b""), (b"if-modified-since", b""), (b"if-none-match", b""),
    (b"if-range", b""), (b"if-unmodified-since", b""),
    (b"last-modified", b""), (b"link", b""), (b"location", b""),
    (b"max-forwards", b""), (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""), (b"range", b""), (b"referer", b""),
    (b"refresh", b""), (b"retry-after", b""), (b"server", b""),
    (b"set-cookie", b""), (b"strict-transport-security", b""),
    (b"transfer-encoding", b""), (b"user-agent", b""), (b"vary", b""),
    (b"via", b""), (b"www-authenticate", b""),
];

/// Why a header block could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HpackError {
    #[error("HPACK integer is truncated or too large")]
    BadInteger,
    #[error("HPACK string runs past the end of the header block")]
    TruncatedString,
    #[error("HPACK index {0} is not in the static or dynamic table")]
    BadIndex(usize),
    #[error("HPACK Huffman string: {0}")]
    Huffman(#[from] HuffmanError),
    #[error("HPACK dynamic table size update to {0} exceeds the allowed {MAX_DYNAMIC_TABLE_SIZE}")]
    TableSizeTooLarge(usize),
    #[error("HPACK dynamic table size update after the first header field")]
    LateTableSizeUpdate,
    #[error("decoded header list exceeds {0} bytes")]
    HeaderListTooLarge(usize),
}

/// How the client represented a field, as far as re-encoding cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// May be indexed by whoever re-encodes it.
    Allowed,
    /// Literal never indexed (RFC 7541 §6.2.3): keep it out of any table.
    Never,
}

/// The client's dynamic table, newest entry first.
#[derive(Debug)]
struct DynamicTable {
    entries: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    fn get(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.entries
            .get(index)
            .map(|(name, value)| (name.as_slice(), value.as_slice()))
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            match self.entries.pop_back() {
                Some((name, value)) => self.size -= name.len() + value.len() + ENTRY_OVERHEAD,
                None => self.size = 0,
            }
        }
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let entry_size = name.len() + value.len() + ENTRY_OVERHEAD;
        if entry_size > self.max_size {
            // An entry larger than the table empties it (RFC 7541 §4.4).
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - entry_size);
        self.entries.push_front((name, value));
        self.size += entry_size;
    }
}

/// Stateful HPACK decoder for one connection's client-to-server direction.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    max_header_list: usize,
}

impl Decoder {
    /// A decoder whose decoded header list (names + values + 32 per field, as
    /// RFC 7540 counts it) may not exceed `max_header_list` bytes per block.
    pub fn new(max_header_list: usize) -> Self {
        Self {
            table: DynamicTable {
                entries: VecDeque::new(),
                size: 0,
                max_size: MAX_DYNAMIC_TABLE_SIZE,
            },
            max_header_list,
        }
    }

    /// Decodes one complete header block, calling `field` for each field in
    /// order. After an error the connection must be closed: the table may be
    /// out of step with the client's.
    pub fn decode(
        &mut self,
        block: &[u8],
        mut field: impl FnMut(&[u8], &[u8], Indexing),
    ) -> Result<(), HpackError> {
        let mut pos = 0;
        let mut list_size = 0usize;
        let mut fields_seen = false;
        while pos < block.len() {
            let first = block[pos];
            if first & 0x80 != 0 {
                // Indexed field (§6.1).
                let (index, used) = decode_integer(&block[pos..], 7)?;
                pos += used;
                let (name, value) = self.lookup(index)?;
                list_size = add_to_list(list_size, name, value, self.max_header_list)?;
                field(name, value, Indexing::Allowed);
            } else if first & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3): only before the first field.
                if fields_seen {
                    return Err(HpackError::LateTableSizeUpdate);
                }
                let (size, used) = decode_integer(&block[pos..], 5)?;
                pos += used;
                if size > MAX_DYNAMIC_TABLE_SIZE {
                    return Err(HpackError::TableSizeTooLarge(size));
                }
                self.table.max_size = size;
                self.table.evict_to(size);
                continue;
            } else {
                // Literal: with incremental indexing (01), without (0000) or
                // never indexed (0001) (§6.2).
                let (prefix, indexed, indexing) = match first & 0xf0 {
                    0x00 => (4, false, Indexing::Allowed),
                    0x10 => (4, false, Indexing::Never),
                    _ => (6, true, Indexing::Allowed),
                };
                let (name_index, used) = decode_integer(&block[pos..], prefix)?;
                pos += used;
                let mut name = Vec::new();
                if name_index == 0 {
                    pos += decode_string(&block[pos..], &mut name)?;
                } else {
                    name.extend_from_slice(self.lookup(name_index)?.0);
                }
                let mut value = Vec::new();
                pos += decode_string(&block[pos..], &mut value)?;
                list_size = add_to_list(list_size, &name, &value, self.max_header_list)?;
                field(&name, &value, indexing);
                if indexed {
                    self.table.insert(name, value);
                }
            }
            fields_seen = true;
        }
        Ok(())
    }

    fn lookup(&self, index: usize) -> Result<(&[u8], &[u8]), HpackError> {
        match index {
            0 => Err(HpackError::BadIndex(0)),
            1..=61 => Ok(STATIC_TABLE[index - 1]),
            _ => self
                .table
                .get(index - 62)
                .ok_or(HpackError::BadIndex(index)),
        }
    }
}

fn add_to_list(total: usize, name: &[u8], value: &[u8], limit: usize) -> Result<usize, HpackError> {
    let total = total + name.len() + value.len() + ENTRY_OVERHEAD;
    if total > limit {
        return Err(HpackError::HeaderListTooLarge(limit));
    }
    Ok(total)
}

/// Decodes an integer with an `prefix`-bit prefix (§5.1); returns the value
/// and the octets used. Values above 2^28 are refused (no legitimate field or
/// index comes near, and it keeps the arithmetic far from overflow).
fn decode_integer(input: &[u8], prefix: u32) -> Result<(usize, usize), HpackError> {
    let max_prefix = (1usize << prefix) - 1;
    let first = *input.first().ok_or(HpackError::BadInteger)?;
    let mut value = usize::from(first) & max_prefix;
    if value < max_prefix {
        return Ok((value, 1));
    }
    let mut shift = 0;
    for (i, &byte) in input.iter().enumerate().skip(1) {
        if shift > 28 {
            return Err(HpackError::BadInteger);
        }
        value += usize::from(byte & 0x7f) << shift;
        if value > 1 << 28 {
            return Err(HpackError::BadInteger);
        }
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
        shift += 7;
    }
    Err(HpackError::BadInteger)
}

/// Decodes a string literal (§5.2) into `out`; returns the octets used.
fn decode_string(input: &[u8], out: &mut Vec<u8>) -> Result<usize, HpackError> {
    let huffman = input.first().is_some_and(|b| b & 0x80 != 0);
    let (len, used) = decode_integer(input, 7)?;
    let raw = input
        .get(used..used + len)
        .ok_or(HpackError::TruncatedString)?;
    if huffman {
        huffman::decode(raw, out)?;
    } else {
        out.extend_from_slice(raw);
    }
    Ok(used + len)
}

/// Appends `value` with an `prefix`-bit prefix whose high bits are `flags`.
fn encode_integer(value: usize, prefix: u32, flags: u8, out: &mut Vec<u8>) {
    let max_prefix = (1usize << prefix) - 1;
    if value < max_prefix {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        out.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

fn encode_string(value: &[u8], out: &mut Vec<u8>) {
    encode_integer(value.len(), 7, 0, out);
    out.extend_from_slice(value);
}

/// Appends one field without touching any dynamic table: a static index when
/// the whole field is in the static table, else a literal (without indexing,
/// or never indexed as the client asked) naming the static entry if it can.
pub fn encode_field(name: &[u8], value: &[u8], indexing: Indexing, out: &mut Vec<u8>) {
    let mut name_index = 0;
    for (i, (static_name, static_value)) in STATIC_TABLE.iter().enumerate() {
        if *static_name == name {
            if *static_value == value && indexing == Indexing::Allowed {
                encode_integer(i + 1, 7, 0x80, out);
                return;
            }
            if name_index == 0 {
                name_index = i + 1;
            }
        }
    }
    let flags = match indexing {
        Indexing::Allowed => 0x00,
        Indexing::Never => 0x10,
    };
    encode_integer(name_index, 4, flags, out);
    if name_index == 0 {
        encode_string(name, out);
    }
    encode_string(value, out);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
