//! The `:authority` transport: the frame reader as a whole, and its HPACK
//! decoder and Huffman decoder against an independent implementation.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, ReadBuf};

use crate::grpc::authority::frame::{self, FrameHeader};
use crate::grpc::authority::hpack::{self, HpackError, Indexing};
use crate::grpc::authority::{AuthorityRewrite, MAX_HEADER_LIST, REWRITTEN_AUTHORITY, huffman};

type Fields = Vec<(Vec<u8>, Vec<u8>)>;
/// Fields as our decoder gives them, with how each was represented.
type MarkedFields = Vec<(Vec<u8>, Vec<u8>, Indexing)>;

/// An independent HPACK implementation (the fuzz crate and the replay test
/// plug in `loona-hpack`); one value serves one connection.
pub trait ReferenceHpack {
    /// Decodes one header block with this connection's dynamic table.
    /// `Err` says why the block was refused.
    fn decode(&mut self, block: &[u8]) -> Result<Fields, String>;
    /// Encodes fields with this connection's encoder (its dynamic table).
    fn encode(&mut self, fields: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8>;
    /// Decodes a Huffman-coded string.
    fn huffman(&mut self, coded: &[u8]) -> Result<Vec<u8>, String>;
}

/// Splits `data` into header blocks, each a big-endian u16 length and that
/// many octets (the last one cut short if the data ends first).
fn blocks(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, rest)) = data.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
        let (block, tail) = rest.split_at(len);
        out.push(block);
        data = tail;
    }
    out
}

fn ours(decoder: &mut hpack::Decoder, block: &[u8]) -> Result<MarkedFields, HpackError> {
    let mut fields = Vec::new();
    decoder.decode(block, |name, value, indexing| {
        fields.push((name.to_vec(), value.to_vec(), indexing));
    })?;
    Ok(fields)
}

fn plain(fields: &[(Vec<u8>, Vec<u8>, Indexing)]) -> Fields {
    fields
        .iter()
        .map(|(name, value, _)| (name.clone(), value.clone()))
        .collect()
}

/// Whether a block refused by the reference but decoded by us ends with a
/// dynamic table size update: RFC 7541 §4.2 allows one only at the start of a
/// block and says nothing against a block with nothing else; our decoder (like
/// h2's) accepts such a block, `loona-hpack` refuses any block ending with one.
fn reference_refuses_trailing_size_update(error: &str) -> bool {
    error.contains("SizeUpdateAtEnd")
}

/// HPACK, differentially: the data is a connection's header blocks. For each
/// block our decoder and the reference must both decode it to the same fields
/// or both refuse it, except where the two knowingly differ (a size update
/// after the first field, which we refuse and the reference allows; a block
/// ending in a size update, which the reference refuses; a decoded list over
/// our 1 MiB cap, which the reference does not have). Both stop at the
/// first refusal, as a connection would. Every decoded list must also
/// round-trip: our stateless re-encoding (what the rewrite sends on) decodes
/// to the same fields and the same never-indexed marks with a fresh decoder
/// of either side, and the reference's stateful encoding of them decodes to
/// the same fields with our decoder across the whole connection.
pub fn hpack_differential<R: ReferenceHpack>(data: &[u8], mut reference: impl FnMut() -> R) {
    let mut decoder = hpack::Decoder::new(MAX_HEADER_LIST);
    let mut other = reference();
    let mut reencoder = reference();
    let mut redecoder = hpack::Decoder::new(MAX_HEADER_LIST);
    for block in blocks(data) {
        let mine = ours(&mut decoder, block);
        let theirs = other.decode(block);
        let fields = match (mine, theirs) {
            (Ok(mine), Ok(theirs)) => {
                assert_eq!(
                    plain(&mine),
                    theirs,
                    "the decoders disagree on {block:02x?}"
                );
                mine
            }
            (Err(HpackError::LateTableSizeUpdate), Ok(_)) => return,
            // Our cap on a decoded list (MAX_HEADER_LIST); the reference has none.
            (Err(HpackError::HeaderListTooLarge(_)), Ok(_)) => return,
            (Ok(_), Err(error)) if reference_refuses_trailing_size_update(&error) => return,
            (Err(_), Err(_)) => return,
            (mine, theirs) => {
                panic!("the decoders disagree on {block:02x?}: ours {mine:?}, reference {theirs:?}")
            }
        };
        round_trip(&fields, &mut reference);
        let encoded = reencoder.encode(&plain(&fields));
        let again = ours(&mut redecoder, &encoded)
            .unwrap_or_else(|e| panic!("the reference's encoding of {fields:?} failed: {e}"));
        assert_eq!(
            plain(&again),
            plain(&fields),
            "reference encoding did not round-trip"
        );
    }
}

fn round_trip<R: ReferenceHpack>(
    fields: &[(Vec<u8>, Vec<u8>, Indexing)],
    reference: &mut impl FnMut() -> R,
) {
    let mut encoded = Vec::new();
    for (name, value, indexing) in fields {
        hpack::encode_field(name, value, *indexing, &mut encoded);
    }
    let again = ours(&mut hpack::Decoder::new(usize::MAX), &encoded)
        .unwrap_or_else(|e| panic!("our encoding of {fields:?} does not decode: {e}"));
    assert_eq!(again, fields, "our encoding did not round-trip");
    let theirs = reference()
        .decode(&encoded)
        .unwrap_or_else(|e| panic!("the reference refuses our encoding of {fields:?}: {e}"));
    assert_eq!(
        theirs,
        plain(fields),
        "the reference reads our encoding differently"
    );
}

/// Huffman strings, differentially: both decoders accept the same strings
/// with the same octets and refuse the same strings.
pub fn huffman_differential<R: ReferenceHpack>(data: &[u8], mut reference: impl FnMut() -> R) {
    let mut mine = Vec::new();
    let mine = huffman::decode(data, &mut mine).map(|()| mine);
    let theirs = reference().huffman(data);
    match (mine, theirs) {
        (Ok(mine), Ok(theirs)) => assert_eq!(mine, theirs, "the decoders disagree on {data:02x?}"),
        (Err(_), Err(_)) => {}
        (mine, theirs) => {
            panic!("the decoders disagree on {data:02x?}: ours {mine:?}, reference {theirs:?}")
        }
    }
}

/// Client bytes handed out in chunks of a fixed size, never pending.
struct Chunks<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Chunks<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.data.len().min(self.chunk).min(buf.remaining());
        let (now, rest) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

/// A parsed frame: header and payload.
type Frame<'a> = (FrameHeader, &'a [u8]);

/// Splits `bytes` (after the preface) into frames; `None` if one is cut short.
fn frames(mut bytes: &[u8]) -> Option<Vec<Frame<'_>>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (head, rest) = bytes.split_first_chunk::<{ frame::HEADER_LEN }>()?;
        let header = FrameHeader::parse(head);
        let payload = rest.get(..header.len)?;
        out.push((header, payload));
        bytes = &rest[header.len..];
    }
    Some(out)
}

fn is_header_frame(header: &FrameHeader) -> bool {
    header.kind == frame::HEADERS || header.kind == frame::CONTINUATION
}

/// The frame reader: the first octet picks the chunk size the client's bytes
/// arrive in (and, with its top bit, whether the connection preface is put in
/// front of the rest), the second the size of the reader's buffer. Every read
/// must make progress without waiting (the client never stalls here). When
/// the whole stream is accepted, the output is the preface, then the client's
/// other frames unchanged and in order, and one header block per HEADERS
/// frame, each in frames of at most 16,384 octets with END_HEADERS on the
/// last, each decodable with a fresh HPACK decoder (our encoder keeps no
/// state), with every `:authority` rewritten.
pub fn authority_frames(data: &[u8]) {
    let [shape, buffer, rest @ ..] = data else {
        return;
    };
    let mut input = Vec::with_capacity(frame::PREFACE.len() + rest.len());
    if shape & 0x80 != 0 {
        input.extend_from_slice(frame::PREFACE);
    }
    input.extend_from_slice(rest);
    let chunk = 1 + usize::from(shape & 0x7f) * 131;
    let mut reader = AuthorityRewrite::new(Chunks {
        data: &input,
        chunk,
    });
    let mut space = vec![0; 1 + usize::from(*buffer) * 67];
    let mut out = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    let accepted = loop {
        let mut buf = ReadBuf::new(&mut space);
        match Pin::new(&mut reader).poll_read(&mut cx, &mut buf) {
            Poll::Pending => panic!("the reader waits although the client never stalls"),
            Poll::Ready(Err(_)) => break false,
            Poll::Ready(Ok(())) if buf.filled().is_empty() => break true,
            Poll::Ready(Ok(())) => out.extend_from_slice(buf.filled()),
        }
    };
    if !accepted {
        return;
    }
    if input.len() < frame::PREFACE.len() {
        // The client stopped inside the preface: passed on as it came.
        assert!(
            frame::PREFACE.starts_with(&input) && out == input,
            "a cut preface changed"
        );
        return;
    }
    let body = out
        .strip_prefix(frame::PREFACE.as_slice())
        .expect("accepted output starts with the preface");
    let sent = frames(body).expect("accepted output is whole frames");
    let received = frames(&input[frame::PREFACE.len()..]).expect("accepted input is whole frames");
    let others = |list: &[Frame<'_>]| -> Vec<(FrameHeader, Vec<u8>)> {
        list.iter()
            .filter(|(header, _)| !is_header_frame(header))
            .map(|(header, payload)| (*header, payload.to_vec()))
            .collect()
    };
    assert_eq!(
        others(&sent),
        others(&received),
        "other frames were changed"
    );
    let headers_in = received
        .iter()
        .filter(|(h, _)| h.kind == frame::HEADERS)
        .count();
    let mut blocks_out = 0;
    let mut block = Vec::new();
    let mut open = false;
    for (header, payload) in sent.iter().filter(|(h, _)| is_header_frame(h)) {
        assert!(
            header.len <= frame::DEFAULT_MAX_FRAME_SIZE,
            "frame of {} octets",
            header.len
        );
        assert_eq!(
            header.kind == frame::CONTINUATION,
            open,
            "a header block out of order"
        );
        assert_eq!(header.flags & frame::PADDED, 0, "a padded header frame");
        if header.kind == frame::HEADERS {
            let skip = if header.flags & frame::PRIORITY != 0 {
                frame::PRIORITY_LEN
            } else {
                0
            };
            block.extend_from_slice(&payload[skip..]);
        } else {
            block.extend_from_slice(payload);
        }
        open = header.flags & frame::END_HEADERS == 0;
        if !open {
            blocks_out += 1;
            let fields = ours(&mut hpack::Decoder::new(usize::MAX), &block)
                .expect("a rewritten block decodes with a fresh decoder");
            for (name, value, _) in fields {
                if name == b":authority" {
                    assert_eq!(value, REWRITTEN_AUTHORITY.as_bytes(), "an :authority kept");
                }
            }
            block.clear();
        }
    }
    assert!(!open, "the last header block is unfinished");
    assert_eq!(blocks_out, headers_in, "header blocks lost or added");
}
