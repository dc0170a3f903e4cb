//! Serve gRPC clients that send the unix socket *path* as `:authority`.
//!
//! kubelets before 1.26 (grpc-go) and grpcio/C-core clients dialing a unix
//! socket send the socket path (for example
//! `/var/lib/kubelet/device-plugins/Ascend910.sock`) as the HTTP/2
//! `:authority`. The `h2` server under tonic refuses such a request with
//! RST_STREAM PROTOCOL_ERROR ("malformed authority"), so those clients are
//! never served. [`AuthorityRewrite`] wraps each accepted stream and rewrites
//! the client's header blocks before h2 sees them:
//!
//! * Server-to-client bytes (writes) pass through untouched.
//! * Client-to-server bytes: the connection preface and every frame other than
//!   HEADERS/CONTINUATION pass through byte for byte (DATA is never copied
//!   into a frame buffer: it goes straight from the socket, or from one small
//!   read buffer, into the caller's buffer).
//! * Each header block (HEADERS plus CONTINUATIONs up to END_HEADERS) is
//!   decoded with one HPACK decoder per connection, so the client's dynamic
//!   table stays right across requests and trailers. `:authority` is then
//!   **always** set to `localhost`: over a unix socket the authority names
//!   nothing, so rewriting every value is simpler and more predictable than
//!   guessing which values h2 would accept. Other fields keep their values and
//!   order.
//! * The block is re-encoded without using the dynamic table (static indexes
//!   or literals without indexing; never-indexed fields stay never-indexed), so
//!   our encoder has no state the server must track. It is sent as HEADERS
//!   (END_STREAM and PRIORITY kept, padding dropped) plus CONTINUATION frames
//!   when it exceeds 16,384 octets, the frame size every server accepts.
//!
//! Malformed input (bad preface, truncated frame, HPACK error, header block
//! over [`MAX_HEADER_BLOCK`] octets encoded or [`MAX_HEADER_LIST`] decoded,
//! PUSH_PROMISE from the client) fails the read with an `io::Error` carrying a
//! [`RewriteError`], which closes that connection only.

pub(crate) mod frame;
pub(crate) mod hpack;
pub(crate) mod huffman;
mod read;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::server::Connected;

pub use self::hpack::HpackError;
pub use self::huffman::HuffmanError;
use self::read::{OpenBlock, ReadState};

/// The `:authority` every rewritten request carries.
pub const REWRITTEN_AUTHORITY: &str = "localhost";
/// Largest header block accepted from a client, in encoded octets (all
/// fragments, padding included).
pub const MAX_HEADER_BLOCK: usize = 1 << 20;
/// Largest decoded header list accepted (names + values + 32 per field).
pub const MAX_HEADER_LIST: usize = 1 << 20;

const READ_BUFFER: usize = 16 * 1024;

/// Why a client connection was closed by the rewrite layer.
#[derive(Debug, Error)]
pub enum RewriteError {
    #[error("client did not send the HTTP/2 connection preface")]
    NotHttp2,
    #[error("connection closed in the middle of a frame or header block")]
    Truncated,
    #[error("header block of stream {stream_id} exceeds {MAX_HEADER_BLOCK} octets")]
    HeaderBlockTooLarge { stream_id: u32 },
    #[error("HEADERS frame on stream 0")]
    HeadersOnStreamZero,
    #[error("frame type {kind:#x} on stream {got} interrupts the header block of stream {open}")]
    ExpectedContinuation { kind: u8, got: u32, open: u32 },
    #[error("CONTINUATION on stream {0} without an open header block")]
    UnexpectedContinuation(u32),
    #[error("client sent PUSH_PROMISE")]
    PushPromise,
    #[error("HEADERS frame on stream {0} has inconsistent padding or priority fields")]
    BadHeadersPayload(u32),
    #[error("header block of stream {stream_id}")]
    Hpack {
        stream_id: u32,
        #[source]
        source: HpackError,
    },
}

impl From<RewriteError> for io::Error {
    fn from(err: RewriteError) -> Self {
        let kind = match err {
            RewriteError::Truncated => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}

/// Transport wrapper that rewrites the client's `:authority` to `localhost`.
/// See the [module documentation](self).
pub struct AuthorityRewrite<S> {
    inner: S,
    state: ReadState,
    /// Octets read from `inner` and not yet consumed: `rbuf[rpos..rend]`.
    rbuf: Box<[u8]>,
    rpos: usize,
    rend: usize,
    /// Rewritten frames waiting for the caller: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// The open header block's fragments (the HEADERS payload while it is
    /// being read, then padding and priority fields are cut away).
    block: Vec<u8>,
    open: Option<OpenBlock>,
    /// Scratch for the re-encoded block.
    encoded: Vec<u8>,
    decoder: hpack::Decoder,
    /// Set once a read failed: every later read fails too.
    failed: bool,
    /// An error found after data was already placed in the caller's buffer.
    deferred: Option<io::Error>,
}

impl<S> AuthorityRewrite<S> {
    /// Wraps an accepted connection; nothing is read until the first poll.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            state: ReadState::Preface { matched: 0 },
            rbuf: vec![0; READ_BUFFER].into_boxed_slice(),
            rpos: 0,
            rend: 0,
            out: Vec::new(),
            out_pos: 0,
            block: Vec::new(),
            open: None,
            encoded: Vec::new(),
            decoder: hpack::Decoder::new(MAX_HEADER_LIST),
            failed: false,
            deferred: None,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for AuthorityRewrite<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityRewrite")
            .field("inner", &self.inner)
            .field("state", &self.state)
            .field("buffered", &(self.rend - self.rpos))
            .field("pending_out", &(self.out.len() - self.out_pos))
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityRewrite<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.deferred.take() {
            return Poll::Ready(Err(err));
        }
        if this.failed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP/2 :authority rewrite already failed on this connection",
            )));
        }
        let start = buf.filled().len();
        match this.read_rewritten(cx, buf) {
            Poll::Ready(Err(err)) => {
                this.failed = true;
                if buf.filled().len() > start {
                    // A read that returns an error must not return data too:
                    // deliver the data now, the error on the next read.
                    this.deferred = Some(err);
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Err(err))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityRewrite<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Same connection info as the wrapped stream: for a `UnixStream`, tonic's
/// `UdsConnectInfo` (peer address and credentials) in request extensions.
impl<S: Connected> Connected for AuthorityRewrite<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

/// Accepted connections of `listener`, each wrapped in [`AuthorityRewrite`],
/// ready for `Server::serve_with_incoming(_shutdown)`.
pub fn incoming(
    listener: UnixListener,
) -> impl Stream<Item = io::Result<AuthorityRewrite<UnixStream>>> + Send + 'static {
    UnixListenerStream::new(listener).map(|accepted| accepted.map(AuthorityRewrite::new))
}
