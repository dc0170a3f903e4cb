//! The client-to-server half of [`AuthorityRewrite`]: a state machine that
//! forwards the preface and non-header frames and rewrites header blocks.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

use super::frame::{self, FrameHeader};
use super::{AuthorityRewrite, MAX_HEADER_BLOCK, REWRITTEN_AUTHORITY, RewriteError, hpack};

/// Pass-through payloads at least this long are read straight into the
/// caller's buffer instead of through ours.
const DIRECT_READ_MIN: usize = 4096;
/// Scratch buffers that grew past this are released after use.
const KEEP_CAPACITY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
pub(super) enum ReadState {
    /// Passing the client preface through; `matched` octets seen so far.
    Preface { matched: usize },
    /// Waiting for the next 9-octet frame header.
    FrameHeader,
    /// Forwarding `remaining` octets (frame header included) unchanged.
    PassThrough { remaining: usize },
    /// Collecting the payload of a HEADERS or CONTINUATION frame.
    HeaderPayload {
        header: FrameHeader,
        remaining: usize,
    },
}

/// A header block started by HEADERS and not yet ended by END_HEADERS.
#[derive(Debug, Clone, Copy)]
pub(super) struct OpenBlock {
    pub(super) stream_id: u32,
    pub(super) end_stream: bool,
    pub(super) priority: Option<[u8; frame::PRIORITY_LEN]>,
}

impl<S: AsyncRead + Unpin> AuthorityRewrite<S> {
    fn available(&self) -> usize {
        self.rend - self.rpos
    }

    /// Reads more client octets into `rbuf`; `Ok(0)` is end of stream.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.rpos == self.rend {
            self.rpos = 0;
            self.rend = 0;
        } else if self.rbuf.len() - self.rend < frame::HEADER_LEN {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        let mut space = ReadBuf::new(&mut self.rbuf[self.rend..]);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut space))?;
        let n = space.filled().len();
        self.rend += n;
        Poll::Ready(Ok(n))
    }

    pub(super) fn read_rewritten(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let start = buf.filled().len();
        loop {
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if self.out_pos < self.out.len() {
                let n = buf.remaining().min(self.out.len() - self.out_pos);
                buf.put_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                if self.out_pos == self.out.len() {
                    self.out_pos = 0;
                    reset(&mut self.out);
                }
                continue;
            }
            // Once something was delivered, never wait for more input.
            let progressed = buf.filled().len() > start;
            let available = self.available();
            match self.state {
                ReadState::Preface { matched } => {
                    if available == 0 {
                        if progressed || ready!(self.fill(cx))? == 0 {
                            return Poll::Ready(Ok(()));
                        }
                        continue;
                    }
                    let n = available
                        .min(frame::PREFACE.len() - matched)
                        .min(buf.remaining());
                    let chunk = &self.rbuf[self.rpos..self.rpos + n];
                    if chunk != &frame::PREFACE[matched..matched + n] {
                        return Poll::Ready(Err(RewriteError::NotHttp2.into()));
                    }
                    buf.put_slice(chunk);
                    self.rpos += n;
                    self.state = if matched + n == frame::PREFACE.len() {
                        ReadState::FrameHeader
                    } else {
                        ReadState::Preface {
                            matched: matched + n,
                        }
                    };
                }
                ReadState::FrameHeader => {
                    if available < frame::HEADER_LEN {
                        if progressed {
                            return Poll::Ready(Ok(()));
                        }
                        if ready!(self.fill(cx))? == 0 {
                            if available == 0 && self.open.is_none() {
                                return Poll::Ready(Ok(()));
                            }
                            return Poll::Ready(Err(RewriteError::Truncated.into()));
                        }
                        continue;
                    }
                    let mut bytes = [0; frame::HEADER_LEN];
                    bytes.copy_from_slice(&self.rbuf[self.rpos..self.rpos + frame::HEADER_LEN]);
                    self.start_frame(FrameHeader::parse(&bytes))?;
                }
                ReadState::PassThrough { remaining: 0 } => self.state = ReadState::FrameHeader,
                ReadState::PassThrough { remaining } => {
                    let n = if available > 0 {
                        let n = available.min(remaining).min(buf.remaining());
                        buf.put_slice(&self.rbuf[self.rpos..self.rpos + n]);
                        self.rpos += n;
                        n
                    } else if progressed {
                        return Poll::Ready(Ok(()));
                    } else if remaining >= DIRECT_READ_MIN {
                        let want = remaining.min(buf.remaining());
                        let mut direct = ReadBuf::new(buf.initialize_unfilled_to(want));
                        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut direct))?;
                        let n = direct.filled().len();
                        if n == 0 {
                            return Poll::Ready(Err(RewriteError::Truncated.into()));
                        }
                        buf.advance(n);
                        n
                    } else {
                        if ready!(self.fill(cx))? == 0 {
                            return Poll::Ready(Err(RewriteError::Truncated.into()));
                        }
                        0
                    };
                    self.state = ReadState::PassThrough {
                        remaining: remaining - n,
                    };
                }
                ReadState::HeaderPayload {
                    header,
                    remaining: 0,
                } => self.finish_header_frame(header)?,
                ReadState::HeaderPayload { header, remaining } => {
                    if available == 0 {
                        if progressed {
                            return Poll::Ready(Ok(()));
                        }
                        if ready!(self.fill(cx))? == 0 {
                            return Poll::Ready(Err(RewriteError::Truncated.into()));
                        }
                        continue;
                    }
                    let n = available.min(remaining);
                    self.block
                        .extend_from_slice(&self.rbuf[self.rpos..self.rpos + n]);
                    self.rpos += n;
                    self.state = ReadState::HeaderPayload {
                        header,
                        remaining: remaining - n,
                    };
                }
            }
        }
    }

    /// Decides what to do with a frame whose header is at `rbuf[rpos..]`.
    fn start_frame(&mut self, header: FrameHeader) -> Result<(), RewriteError> {
        if let Some(open) = self.open
            && (header.kind != frame::CONTINUATION || header.stream_id != open.stream_id)
        {
            return Err(RewriteError::ExpectedContinuation {
                kind: header.kind,
                got: header.stream_id,
                open: open.stream_id,
            });
        }
        match header.kind {
            frame::HEADERS if header.stream_id == 0 => {
                return Err(RewriteError::HeadersOnStreamZero);
            }
            frame::HEADERS => self.block.clear(),
            frame::CONTINUATION if self.open.is_none() => {
                return Err(RewriteError::UnexpectedContinuation(header.stream_id));
            }
            frame::CONTINUATION => {}
            frame::PUSH_PROMISE => return Err(RewriteError::PushPromise),
            _ => {
                // Forward header and payload as they are.
                self.state = ReadState::PassThrough {
                    remaining: frame::HEADER_LEN + header.len,
                };
                return Ok(());
            }
        }
        if self.block.len() + header.len > MAX_HEADER_BLOCK {
            return Err(RewriteError::HeaderBlockTooLarge {
                stream_id: header.stream_id,
            });
        }
        self.rpos += frame::HEADER_LEN;
        self.state = ReadState::HeaderPayload {
            header,
            remaining: header.len,
        };
        Ok(())
    }

    /// Called once the whole payload of a HEADERS/CONTINUATION frame is in `block`.
    fn finish_header_frame(&mut self, header: FrameHeader) -> Result<(), RewriteError> {
        if header.kind == frame::HEADERS {
            let parts = frame::split_headers_payload(header.flags, &self.block)
                .ok_or(RewriteError::BadHeadersPayload(header.stream_id))?;
            let priority = parts.priority;
            let fragment_len = parts.fragment.len();
            let skip = usize::from(header.flags & frame::PADDED != 0)
                + if priority.is_some() {
                    frame::PRIORITY_LEN
                } else {
                    0
                };
            self.block.truncate(skip + fragment_len);
            self.block.drain(..skip);
            self.open = Some(OpenBlock {
                stream_id: header.stream_id,
                end_stream: header.flags & frame::END_STREAM != 0,
                priority,
            });
        }
        self.state = ReadState::FrameHeader;
        if header.flags & frame::END_HEADERS != 0
            && let Some(open) = self.open.take()
        {
            self.rewrite_block(open)?;
        }
        Ok(())
    }

    /// Decodes the complete block, rewrites `:authority` and queues the frames.
    fn rewrite_block(&mut self, open: OpenBlock) -> Result<(), RewriteError> {
        let encoded = &mut self.encoded;
        encoded.clear();
        self.decoder
            .decode(&self.block, |name, value, indexing| {
                let value = if name == b":authority" {
                    REWRITTEN_AUTHORITY.as_bytes()
                } else {
                    value
                };
                hpack::encode_field(name, value, indexing, encoded);
            })
            .map_err(|source| RewriteError::Hpack {
                stream_id: open.stream_id,
                source,
            })?;
        frame::write_header_block(
            open.stream_id,
            open.end_stream,
            open.priority,
            &self.encoded,
            frame::DEFAULT_MAX_FRAME_SIZE,
            &mut self.out,
        );
        reset(&mut self.block);
        reset(&mut self.encoded);
        Ok(())
    }
}

/// Empties a scratch buffer, releasing it if a big block made it grow.
fn reset(buf: &mut Vec<u8>) {
    if buf.capacity() > KEEP_CAPACITY {
        *buf = Vec::new();
    } else {
        buf.clear();
    }
}
