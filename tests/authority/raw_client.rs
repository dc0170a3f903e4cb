//! A minimal HTTP/2 gRPC client that writes frames by hand, so a test can send
//! exactly what grpc-go (kubelet < 1.26) and grpcio send over a unix socket:
//! the socket path as `:authority`. Header blocks are encoded with
//! `loona-hpack`'s stateful encoder, which adds every new field to the dynamic
//! table, so later requests on a connection refer to earlier ones by index.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY: u8 = 0x20;
pub const PROTOCOL_ERROR: u32 = 0x1;

const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How a header block is framed on the wire.
#[derive(Debug, Clone, Default)]
pub struct Framing {
    /// Largest HEADERS/CONTINUATION payload; `None` = the 16,384 default.
    pub max_frame: Option<usize>,
    /// Send HEADERS with PADDED and this many padding octets.
    pub padding: Option<u8>,
    /// Send HEADERS with PRIORITY and these 5 octets.
    pub priority: Option<[u8; 5]>,
}

#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream_id: u32,
    pub payload: Vec<u8>,
}

/// What came back for one stream.
#[derive(Debug, Default)]
pub struct Response {
    pub headers: Vec<(String, String)>,
    pub data: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    /// Error code of a RST_STREAM for the stream.
    pub reset: Option<u32>,
    /// Error code of a GOAWAY, if the connection was closed that way.
    pub goaway: Option<u32>,
    /// The server closed the connection before the stream ended.
    pub eof: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// gRPC messages in the DATA octets (5-octet length prefixes removed).
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut rest = self.data.as_slice();
        let mut out = Vec::new();
        while rest.len() >= 5 {
            let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
            out.push(rest[5..5 + len].to_vec());
            rest = &rest[5 + len..];
        }
        out
    }
}

pub struct RawClient {
    pub stream: UnixStream,
    encoder: loona_hpack::Encoder<'static>,
    decoder: loona_hpack::Decoder<'static>,
    next_stream_id: u32,
}

pub fn frame_bytes(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The standard gRPC request fields, with `authority` as given.
pub fn grpc_request_fields(path: &str, authority: &str) -> Vec<(String, String)> {
    [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

/// A gRPC length-prefixed message (uncompressed).
pub fn grpc_message(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

impl RawClient {
    /// Connects and sends the preface and an empty SETTINGS frame.
    pub async fn connect(path: &Path) -> Self {
        let mut stream = UnixStream::connect(path).await.unwrap();
        let mut hello = PREFACE.to_vec();
        hello.extend(frame_bytes(SETTINGS, 0, 0, &[]));
        stream.write_all(&hello).await.unwrap();
        Self {
            stream,
            encoder: loona_hpack::Encoder::new(),
            decoder: loona_hpack::Decoder::new(),
            next_stream_id: 1,
        }
    }

    pub fn next_stream_id(&mut self) -> u32 {
        let id = self.next_stream_id;
        self.next_stream_id += 2;
        id
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// HPACK-encodes `fields` with the connection's encoder.
    pub fn encode(&mut self, fields: &[(String, String)]) -> Vec<u8> {
        self.encoder
            .encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    /// Frames an encoded header block as HEADERS (+ CONTINUATION) frames.
    pub fn header_frames(
        stream_id: u32,
        block: &[u8],
        end_stream: bool,
        framing: &Framing,
    ) -> Vec<u8> {
        let max = framing.max_frame.unwrap_or(16_384);
        let mut flags = if end_stream { END_STREAM } else { 0 };
        let mut prefix = Vec::new();
        let mut suffix = Vec::new();
        if let Some(pad) = framing.padding {
            flags |= PADDED;
            prefix.push(pad);
            suffix = vec![0; usize::from(pad)];
        }
        if let Some(priority) = framing.priority {
            flags |= PRIORITY;
            prefix.extend_from_slice(&priority);
        }
        let first_len = block.len().min(max - prefix.len() - suffix.len());
        let (first, mut rest) = block.split_at(first_len);
        if rest.is_empty() {
            flags |= END_HEADERS;
        }
        let payload = [prefix.as_slice(), first, suffix.as_slice()].concat();
        let mut out = frame_bytes(HEADERS, flags, stream_id, &payload);
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(max));
            rest = tail;
            let flags = if rest.is_empty() { END_HEADERS } else { 0 };
            out.extend(frame_bytes(CONTINUATION, flags, stream_id, chunk));
        }
        out
    }

    /// Sends a request's headers; returns the stream id.
    pub async fn send_headers(
        &mut self,
        fields: &[(String, String)],
        end_stream: bool,
        framing: &Framing,
    ) -> u32 {
        let stream_id = self.next_stream_id();
        let block = self.encode(fields);
        let frames = Self::header_frames(stream_id, &block, end_stream, framing);
        self.send_raw(&frames).await;
        stream_id
    }

    pub async fn send_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        let flags = if end_stream { END_STREAM } else { 0 };
        self.send_raw(&frame_bytes(DATA, flags, stream_id, data))
            .await;
    }

    /// Sends a unary gRPC request with an empty message.
    pub async fn unary(&mut self, fields: &[(String, String)], framing: &Framing) -> Response {
        let stream_id = self.send_headers(fields, false, framing).await;
        self.send_data(stream_id, &grpc_message(&[]), true).await;
        self.response(stream_id).await
    }

    /// Next frame, or `None` at end of stream / connection error.
    pub async fn read_frame(&mut self) -> Option<Frame> {
        let mut header = [0u8; 9];
        let read = tokio::time::timeout(READ_TIMEOUT, self.stream.read_exact(&mut header))
            .await
            .expect("timed out waiting for a frame from the server");
        read.ok()?;
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0; len];
        self.stream.read_exact(&mut payload).await.ok()?;
        Some(Frame {
            kind: header[3],
            flags: header[4],
            stream_id: u32::from_be_bytes(header[5..9].try_into().unwrap()) & 0x7fff_ffff,
            payload,
        })
    }

    /// Reads until `stream_id` ends, is reset, or the connection closes;
    /// acknowledges SETTINGS and PING on the way.
    pub async fn response(&mut self, stream_id: u32) -> Response {
        let mut response = Response::default();
        let mut block = Vec::new();
        let mut stream_ends = false;
        loop {
            let Some(frame) = self.read_frame().await else {
                response.eof = true;
                return response;
            };
            match frame.kind {
                SETTINGS if frame.flags & ACK == 0 => {
                    self.send_raw(&frame_bytes(SETTINGS, ACK, 0, &[])).await
                }
                PING if frame.flags & ACK == 0 => {
                    self.send_raw(&frame_bytes(PING, ACK, 0, &frame.payload))
                        .await
                }
                GOAWAY => {
                    response.goaway =
                        Some(u32::from_be_bytes(frame.payload[4..8].try_into().unwrap()));
                }
                RST_STREAM if frame.stream_id == stream_id => {
                    response.reset =
                        Some(u32::from_be_bytes(frame.payload[..4].try_into().unwrap()));
                    return response;
                }
                DATA if frame.stream_id == stream_id => {
                    response.data.extend_from_slice(&frame.payload);
                    if frame.flags & END_STREAM != 0 {
                        return response;
                    }
                }
                HEADERS | CONTINUATION if frame.stream_id == stream_id => {
                    let mut payload = frame.payload.as_slice();
                    if frame.kind == HEADERS && frame.flags & PADDED != 0 {
                        let pad = usize::from(payload[0]);
                        payload = &payload[1..payload.len() - pad];
                    }
                    if frame.kind == HEADERS && frame.flags & PRIORITY != 0 {
                        payload = &payload[5..];
                    }
                    block.extend_from_slice(payload);
                    if frame.kind == HEADERS {
                        stream_ends = frame.flags & END_STREAM != 0;
                    }
                    if frame.flags & END_HEADERS != 0 {
                        let fields: Vec<(String, String)> = self
                            .decoder
                            .decode(&block)
                            .unwrap()
                            .into_iter()
                            .map(|(n, v)| {
                                (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap())
                            })
                            .collect();
                        block.clear();
                        if response.headers.is_empty() {
                            response.headers = fields;
                        } else {
                            response.trailers = fields;
                        }
                        // END_STREAM sits on HEADERS; the block may end later.
                        if stream_ends {
                            return response;
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
