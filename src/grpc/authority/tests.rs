//! Byte-level tests of [`AuthorityRewrite`] on in-memory client streams.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::frame::{
    CONTINUATION, END_HEADERS, END_STREAM, FrameHeader, HEADERS, PADDED, PREFACE, PRIORITY,
    PUSH_PROMISE,
};
use super::huffman::tests::encode as huffman_encode;
use super::*;

const SOCKET_PATH: &str = "/var/lib/kubelet/device-plugins/Ascend910.sock";

fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    FrameHeader {
        len: payload.len(),
        kind,
        flags,
        stream_id,
    }
    .write(&mut out);
    out.extend_from_slice(payload);
    out
}

/// A string literal, Huffman-coded like grpc-go and grpcio send them.
fn huffman_string(text: &str) -> Vec<u8> {
    let coded = huffman_encode(text.as_bytes());
    let mut out = loona_hpack::encoder::encode_integer(coded.len(), 7);
    out[0] |= 0x80;
    out.extend(coded);
    out
}

/// A request block: :method POST, :scheme http, then :path and :authority as
/// Huffman literals with incremental indexing, then te: trailers.
fn request_block(authority: &str) -> Vec<u8> {
    let mut block = vec![0x83, 0x86, 0x44];
    block.extend(huffman_string("/v1beta1.DevicePlugin/Allocate"));
    block.push(0x41);
    block.extend(huffman_string(authority));
    block.extend([0x40, 2, b't', b'e', 8]);
    block.extend_from_slice(b"trailers");
    block
}

fn fields(block: &[u8], decoder: &mut loona_hpack::Decoder<'_>) -> Vec<(String, String)> {
    decoder
        .decode(block)
        .unwrap()
        .into_iter()
        .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
        .collect()
}

/// Splits a server-side byte stream (after the preface) into frames.
fn parse_frames(mut bytes: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let header = FrameHeader::parse(bytes[..9].try_into().unwrap());
        out.push((header, bytes[9..9 + header.len].to_vec()));
        bytes = &bytes[9 + header.len..];
    }
    out
}

/// Delivers at most `chunk` octets per read and counts the reads.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
    reads: usize,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.chunk.min(buf.remaining()).min(self.data.len());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.reads += 1;
        Poll::Ready(Ok(()))
    }
}

async fn rewrite_all(input: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    AuthorityRewrite::new(input).read_to_end(&mut out).await?;
    Ok(out)
}

async fn rewrite_error(input: &[u8]) -> RewriteError {
    let mut wrapper = AuthorityRewrite::new(input);
    let mut out = Vec::new();
    let err = wrapper.read_to_end(&mut out).await.unwrap_err();
    // The failure is sticky.
    assert!(wrapper.read(&mut [0; 16]).await.is_err());
    let inner = err.into_inner().unwrap();
    *inner.downcast::<RewriteError>().unwrap()
}

fn sample_connection() -> Vec<u8> {
    [
        PREFACE.to_vec(),
        frame(0x4, 0, 0, &[0, 4, 0, 1, 0, 0]),
        frame(0x8, 0, 0, &[0, 1, 0, 0]),
        frame(HEADERS, END_HEADERS, 1, &request_block(SOCKET_PATH)),
        frame(0x0, 0, 1, &vec![7; 100_000]),
        frame(0x0, END_STREAM, 1, &[0, 0, 0, 0, 0]),
        frame(
            HEADERS,
            END_HEADERS | END_STREAM | PADDED,
            3,
            &[[2].as_slice(), &[0xbf, 0xbe, 0x83, 0x86, 0xc0], &[0, 0]].concat(),
        ),
        frame(0x6, 0, 0, &[1; 8]),
        frame(0x3, 0, 3, &[0, 0, 0, 8]),
        frame(0x7, 0, 0, &[0, 0, 0, 3, 0, 0, 0, 0]),
    ]
    .concat()
}

#[tokio::test]
async fn non_header_frames_pass_unchanged_and_every_authority_becomes_localhost() {
    let input = sample_connection();
    let output = rewrite_all(&input).await.unwrap();
    assert_eq!(&output[..24], PREFACE);
    let ins = parse_frames(&input[24..]);
    let outs = parse_frames(&output[24..]);
    assert_eq!(ins.len(), outs.len());
    let mut decoder = loona_hpack::Decoder::new();
    for ((in_header, in_payload), (out_header, out_payload)) in ins.iter().zip(&outs) {
        if in_header.kind != HEADERS {
            assert_eq!((in_header, in_payload), (out_header, out_payload));
        }
    }
    let first = fields(&outs[2].1, &mut decoder);
    assert_eq!(first[3], (":authority".into(), "localhost".into()));
    assert_eq!(first[2].1, "/v1beta1.DevicePlugin/Allocate");
    assert_eq!(first[4], ("te".into(), "trailers".into()));
    // The second block refers to the client's table (te, :authority, :path);
    // padding is gone, END_STREAM kept.
    assert_eq!(outs[5].0.flags, END_HEADERS | END_STREAM);
    let second = fields(&outs[5].1, &mut decoder);
    assert_eq!(second[0], (":authority".into(), "localhost".into()));
    assert_eq!(second[1], ("te".into(), "trailers".into()));
    assert_eq!(second[4].1, "/v1beta1.DevicePlugin/Allocate");
}

#[tokio::test]
async fn reading_in_tiny_pieces_gives_the_same_bytes_as_reading_at_once() {
    let input = sample_connection();
    let expected = rewrite_all(&input).await.unwrap();
    for (chunk, caller_buf) in [
        (1, 1),
        (1, 4096),
        (7, 3),
        (9, 9),
        (4096, 5),
        (100_000, 1000),
    ] {
        let mut wrapper = AuthorityRewrite::new(Chunked {
            data: &input,
            chunk,
            reads: 0,
        });
        let mut output = Vec::new();
        let mut buf = vec![0; caller_buf];
        loop {
            let n = wrapper.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            output.extend_from_slice(&buf[..n]);
        }
        assert_eq!(
            output, expected,
            "chunk {chunk}, caller buffer {caller_buf}"
        );
    }
}

#[tokio::test]
async fn large_data_frames_need_few_reads_of_the_socket() {
    let input = [PREFACE.to_vec(), frame(0x0, 0, 1, &vec![1; 1 << 20])].concat();
    let mut wrapper = AuthorityRewrite::new(Chunked {
        data: &input,
        chunk: usize::MAX,
        reads: 0,
    });
    let mut output = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = wrapper.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        output.extend_from_slice(&buf[..n]);
    }
    assert_eq!(output, input);
    // 1 MiB through a 64 KiB caller buffer: about 16 reads, not per frame
    // chunk of our 16 KiB buffer, and never per byte.
    assert!(
        wrapper.get_ref().reads <= 20,
        "{} reads",
        wrapper.get_ref().reads
    );
}

#[tokio::test]
async fn priority_is_kept_and_big_blocks_are_split_at_16384_octets() {
    let mut block = request_block(SOCKET_PATH);
    // A 40,000-octet literal without indexing, sent in small CONTINUATIONs.
    block.extend([0x00, 5]);
    block.extend_from_slice(b"x-big");
    block.extend(loona_hpack::encoder::encode_integer(40_000, 7));
    block.extend(vec![b'v'; 40_000]);
    let priority = [0x80, 0, 0, 1, 42];
    let mut input = PREFACE.to_vec();
    let (head, tail) = block.split_at(100);
    input.extend(frame(
        HEADERS,
        END_STREAM | PRIORITY,
        3,
        &[&priority[..], head].concat(),
    ));
    for (i, chunk) in tail.chunks(1000).enumerate() {
        let last = (i + 1) * 1000 >= tail.len();
        input.extend(frame(
            CONTINUATION,
            if last { END_HEADERS } else { 0 },
            3,
            chunk,
        ));
    }
    let output = rewrite_all(&input).await.unwrap();
    let outs = parse_frames(&output[24..]);
    let lens: Vec<usize> = outs.iter().map(|(h, _)| h.len).collect();
    assert_eq!(lens[..2], [16_384, 16_384]);
    assert_eq!(outs[0].0.flags, END_STREAM | PRIORITY);
    assert_eq!(&outs[0].1[..5], &priority);
    assert_eq!(outs.last().unwrap().0.flags, END_HEADERS);
    assert!(
        outs[1..]
            .iter()
            .all(|(h, _)| h.kind == CONTINUATION && h.stream_id == 3)
    );
    let joined: Vec<u8> = outs
        .iter()
        .enumerate()
        .flat_map(|(i, (_, p))| p[if i == 0 { 5 } else { 0 }..].to_vec())
        .collect();
    let decoded = fields(&joined, &mut loona_hpack::Decoder::new());
    assert_eq!(decoded[3].1, "localhost");
    assert_eq!(decoded[5].1.len(), 40_000);
}

#[tokio::test]
async fn a_clean_end_between_frames_or_before_any_byte_is_end_of_stream() {
    assert_eq!(rewrite_all(&[]).await.unwrap(), b"");
    assert_eq!(rewrite_all(PREFACE).await.unwrap(), PREFACE);
}

/// Checks that an error is the one a case expects.
type IsExpected = fn(&RewriteError) -> bool;

#[tokio::test]
async fn each_kind_of_malformed_input_fails_with_its_own_error() {
    let with_preface = |frames: &[Vec<u8>]| [&[PREFACE.to_vec()], frames].concat().concat();
    let block = request_block(SOCKET_PATH);
    let headers = frame(HEADERS, END_HEADERS, 1, &block);
    let too_big = [frame(HEADERS, 0, 1, &[0; 16_000])]
        .into_iter()
        .chain((0..70).map(|_| frame(CONTINUATION, 0, 1, &[0; 16_000])))
        .collect::<Vec<_>>();
    let cases: Vec<(Vec<u8>, IsExpected)> = vec![
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), |e| {
            matches!(e, RewriteError::NotHttp2)
        }),
        (with_preface(&[headers[..5].to_vec()]), |e| {
            matches!(e, RewriteError::Truncated)
        }),
        (with_preface(&[headers[..20].to_vec()]), |e| {
            matches!(e, RewriteError::Truncated)
        }),
        (
            with_preface(&[frame(0x0, 0, 1, &[0; 10])[..12].to_vec()]),
            |e| matches!(e, RewriteError::Truncated),
        ),
        (with_preface(&[frame(HEADERS, 0, 1, &block)]), |e| {
            matches!(e, RewriteError::Truncated)
        }),
        (
            with_preface(&[frame(HEADERS, END_HEADERS, 0, &block)]),
            |e| matches!(e, RewriteError::HeadersOnStreamZero),
        ),
        (
            with_preface(&[frame(HEADERS, 0, 1, &block), frame(0x0, 0, 1, &[])]),
            |e| {
                matches!(
                    e,
                    RewriteError::ExpectedContinuation {
                        kind: 0,
                        got: 1,
                        open: 1
                    }
                )
            },
        ),
        (
            with_preface(&[
                frame(HEADERS, 0, 1, &block),
                frame(CONTINUATION, END_HEADERS, 3, &[]),
            ]),
            |e| {
                matches!(
                    e,
                    RewriteError::ExpectedContinuation {
                        kind: CONTINUATION,
                        got: 3,
                        open: 1
                    }
                )
            },
        ),
        (
            with_preface(&[frame(CONTINUATION, END_HEADERS, 1, &block)]),
            |e| matches!(e, RewriteError::UnexpectedContinuation(1)),
        ),
        (
            with_preface(&[frame(PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 2])]),
            |e| matches!(e, RewriteError::PushPromise),
        ),
        (
            with_preface(&[frame(HEADERS, END_HEADERS | PADDED, 1, &[200, 0x82])]),
            |e| matches!(e, RewriteError::BadHeadersPayload(1)),
        ),
        (
            with_preface(&[frame(HEADERS, END_HEADERS, 5, &[0xbe])]),
            |e| {
                matches!(
                    e,
                    RewriteError::Hpack {
                        stream_id: 5,
                        source: HpackError::BadIndex(62)
                    }
                )
            },
        ),
        (
            with_preface(&[frame(HEADERS, END_HEADERS, 1, &[0x00, 0x81, 0x00, 0x00])]),
            |e| {
                matches!(
                    e,
                    RewriteError::Hpack {
                        source: HpackError::Huffman(HuffmanError::InvalidPadding),
                        ..
                    }
                )
            },
        ),
        (with_preface(&too_big), |e| {
            matches!(e, RewriteError::HeaderBlockTooLarge { stream_id: 1 })
        }),
        (
            with_preface(&[frame(HEADERS, END_HEADERS, 1, &vec![0; (1 << 20) + 1])]),
            |e| matches!(e, RewriteError::HeaderBlockTooLarge { stream_id: 1 }),
        ),
    ];
    for (input, expected) in cases {
        let err = rewrite_error(&input).await;
        assert!(expected(&err), "unexpected error {err:?}");
    }
    let truncated = rewrite_all(&with_preface(&[headers[..5].to_vec()]))
        .await
        .unwrap_err();
    assert_eq!(truncated.kind(), std::io::ErrorKind::UnexpectedEof);
    let hpack = rewrite_all(&with_preface(&[frame(HEADERS, END_HEADERS, 1, &[0x80])]))
        .await
        .unwrap_err();
    assert_eq!(hpack.kind(), std::io::ErrorKind::InvalidData);
}
