//! HTTP/2 framing (RFC 9113 §4.1, §6.2, §6.10) as far as the rewrite needs it.

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE every HTTP/2 peer must accept; the h2 server
/// under tonic keeps this default, so re-emitted header blocks are split at it.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16_384;

pub const HEADERS: u8 = 0x1;
pub const PUSH_PROMISE: u8 = 0x5;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY: u8 = 0x20;

/// Length of the PRIORITY fields of a HEADERS frame (dependency + weight).
pub const PRIORITY_LEN: usize = 5;

/// A parsed 9-octet frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream_id: u32,
}

impl FrameHeader {
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Self {
        let len =
            (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
        let stream_id = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff;
        Self {
            len,
            kind: bytes[3],
            flags: bytes[4],
            stream_id,
        }
    }

    /// Appends the header; `len` must fit in 24 bits (callers split first).
    pub fn write(&self, out: &mut Vec<u8>) {
        let len = (self.len as u32).to_be_bytes();
        out.extend_from_slice(&len[1..]);
        out.push(self.kind);
        out.push(self.flags);
        out.extend_from_slice(&(self.stream_id & 0x7fff_ffff).to_be_bytes());
    }
}

/// The parts of a HEADERS frame payload (§6.2) after removing padding.
#[derive(Debug, PartialEq, Eq)]
pub struct HeadersPayload<'a> {
    pub priority: Option<[u8; PRIORITY_LEN]>,
    pub fragment: &'a [u8],
}

/// Splits a HEADERS payload into its PRIORITY fields and block fragment,
/// dropping padding. `None` when the padding or PRIORITY fields do not fit.
pub fn split_headers_payload(flags: u8, payload: &[u8]) -> Option<HeadersPayload<'_>> {
    let mut rest = payload;
    let mut pad = 0;
    if flags & PADDED != 0 {
        let (&pad_len, tail) = rest.split_first()?;
        pad = usize::from(pad_len);
        rest = tail;
    }
    let mut priority = None;
    if flags & PRIORITY != 0 {
        let (fields, tail) = rest.split_first_chunk::<PRIORITY_LEN>()?;
        priority = Some(*fields);
        rest = tail;
    }
    let fragment = rest.get(..rest.len().checked_sub(pad)?)?;
    Some(HeadersPayload { priority, fragment })
}

/// Appends a header block as one HEADERS frame followed by as many
/// CONTINUATION frames as needed, none longer than `max_frame` octets. The
/// HEADERS frame keeps END_STREAM and the PRIORITY fields (with the PRIORITY
/// flag); the last frame carries END_HEADERS; nothing is padded.
pub fn write_header_block(
    stream_id: u32,
    end_stream: bool,
    priority: Option<[u8; PRIORITY_LEN]>,
    block: &[u8],
    max_frame: usize,
    out: &mut Vec<u8>,
) {
    let priority_len = if priority.is_some() { PRIORITY_LEN } else { 0 };
    let first_len = block.len().min(max_frame - priority_len);
    let (first, mut rest) = block.split_at(first_len);
    let mut flags = if end_stream { END_STREAM } else { 0 };
    if priority.is_some() {
        flags |= PRIORITY;
    }
    if rest.is_empty() {
        flags |= END_HEADERS;
    }
    out.reserve(block.len() + priority_len + HEADER_LEN * (1 + block.len() / max_frame));
    FrameHeader {
        len: priority_len + first.len(),
        kind: HEADERS,
        flags,
        stream_id,
    }
    .write(out);
    if let Some(fields) = priority {
        out.extend_from_slice(&fields);
    }
    out.extend_from_slice(first);
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(max_frame));
        rest = tail;
        FrameHeader {
            len: chunk.len(),
            kind: CONTINUATION,
            flags: if rest.is_empty() { END_HEADERS } else { 0 },
            stream_id,
        }
        .write(out);
        out.extend_from_slice(chunk);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Parses `bytes` back into (header, payload) pairs.
    fn frames(mut bytes: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let header = FrameHeader::parse(bytes[..HEADER_LEN].try_into().unwrap());
            let end = HEADER_LEN + header.len;
            out.push((header, bytes[HEADER_LEN..end].to_vec()));
            bytes = &bytes[end..];
        }
        out
    }

    fn split(block_len: usize, priority: Option<[u8; 5]>) -> Vec<(FrameHeader, Vec<u8>)> {
        let block: Vec<u8> = (0..block_len).map(|i| i as u8).collect();
        let mut out = Vec::new();
        write_header_block(7, true, priority, &block, DEFAULT_MAX_FRAME_SIZE, &mut out);
        let parsed = frames(&out);
        let mut joined = Vec::new();
        for (i, (header, payload)) in parsed.iter().enumerate() {
            assert!(header.len <= DEFAULT_MAX_FRAME_SIZE);
            assert_eq!(header.stream_id, 7);
            assert_eq!(header.kind, if i == 0 { HEADERS } else { CONTINUATION });
            assert_eq!(header.flags & END_HEADERS != 0, i == parsed.len() - 1);
            let skip = if i == 0 && priority.is_some() {
                PRIORITY_LEN
            } else {
                0
            };
            joined.extend_from_slice(&payload[skip..]);
        }
        assert_eq!(joined, block);
        parsed
    }

    fn lens(parsed: &[(FrameHeader, Vec<u8>)]) -> Vec<usize> {
        parsed.iter().map(|(h, _)| h.len).collect()
    }

    #[test]
    fn a_block_that_fits_is_one_headers_frame_with_end_headers_and_end_stream() {
        let parsed = split(100, None);
        assert_eq!(lens(&parsed), [100]);
        assert_eq!(parsed[0].0.flags, END_STREAM | END_HEADERS);
        assert_eq!(lens(&split(0, None)), [0]);
    }

    #[test]
    fn blocks_are_split_exactly_at_16384_octets() {
        assert_eq!(lens(&split(16_384, None)), [16_384]);
        assert_eq!(lens(&split(16_385, None)), [16_384, 1]);
        assert_eq!(lens(&split(32_768, None)), [16_384, 16_384]);
        assert_eq!(lens(&split(32_769, None)), [16_384, 16_384, 1]);
        let parsed = split(40_000, None);
        // END_STREAM only on HEADERS, never on CONTINUATION.
        assert_eq!(parsed[0].0.flags, END_STREAM);
        assert_eq!(parsed[1].0.flags, 0);
        assert_eq!(parsed[2].0.flags, END_HEADERS);
    }

    #[test]
    fn priority_fields_count_against_the_first_frame() {
        let priority = Some([0x80, 0, 0, 3, 200]);
        assert_eq!(lens(&split(16_379, priority)), [16_384]);
        let parsed = split(16_380, priority);
        assert_eq!(lens(&parsed), [16_384, 1]);
        assert_eq!(parsed[0].0.flags, END_STREAM | PRIORITY);
        assert_eq!(&parsed[0].1[..5], &[0x80, 0, 0, 3, 200]);
    }

    #[test]
    fn padding_and_priority_are_removed_from_headers_payloads() {
        let payload = [3, 0, 0, 0, 1, 16, b'a', b'b', 0, 0, 0];
        let parts = split_headers_payload(PADDED | PRIORITY, &payload).unwrap();
        assert_eq!(parts.priority, Some([0, 0, 0, 1, 16]));
        assert_eq!(parts.fragment, b"ab");
        assert_eq!(split_headers_payload(PADDED, &[5, 1, 2]), None);
        assert_eq!(split_headers_payload(PADDED, &[]), None);
        assert_eq!(split_headers_payload(PRIORITY, &[0, 0, 1]), None);
        assert_eq!(split_headers_payload(0, b"xy").unwrap().fragment, b"xy");
    }

    #[test]
    fn frame_headers_round_trip_and_ignore_the_reserved_bit() {
        let bytes = [0xff, 0xff, 0xff, HEADERS, 0x25, 0x80, 0, 0, 1];
        let header = FrameHeader::parse(&bytes);
        assert_eq!(header.len, 0xff_ffff);
        assert_eq!(header.stream_id, 1);
        let mut out = Vec::new();
        header.write(&mut out);
        assert_eq!(out, [0xff, 0xff, 0xff, HEADERS, 0x25, 0, 0, 0, 1]);
    }
}
