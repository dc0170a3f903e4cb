//! One connection: the TLS handshake when configured, then hyper's HTTP/1.1
//! with bounded headers; closed gracefully on stop or when too old.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;

use super::slots::{Activity, Slot};
use super::{Endpoints, ServeOptions};

/// Read buffer, and so the largest request head (hyper's minimum is 8 KiB);
/// a larger head is answered 431.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Header lines per request.
const MAX_HEADERS: usize = 64;

pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    endpoints: Arc<Endpoints>,
    options: &ServeOptions,
    stop: &CancellationToken,
    slot: &Slot,
) {
    // Made room for a newer connection: close at once, mid-request or not.
    tokio::select! {
        () = slot.evicted.cancelled() => {
            tracing::debug!(%peer, "health endpoint: connection closed to make room");
        }
        () = serve_until_done(stream, peer, endpoints, options, stop, slot.activity()) => {}
    }
}

async fn serve_until_done(
    stream: TcpStream,
    peer: SocketAddr,
    endpoints: Arc<Endpoints>,
    options: &ServeOptions,
    stop: &CancellationToken,
    activity: Activity,
) {
    let stream = WriteDeadline::new(stream, options.write_timeout);
    let Some(acceptor) = &options.tls else {
        return http(stream, peer, endpoints, options, stop, activity).await;
    };
    // The handshake gets the same deadline as a request head: no slowloris
    // before the first byte of HTTP either.
    let handshake = tokio::time::timeout(options.header_read_timeout, acceptor.accept(stream));
    let handshake = tokio::select! {
        () = stop.cancelled() => return,
        handshake = handshake => handshake,
    };
    match handshake {
        Ok(Ok(tls)) => http(tls, peer, endpoints, options, stop, activity).await,
        Ok(Err(error)) => tracing::debug!(%peer, %error, "health endpoint: TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "health endpoint: TLS handshake timed out"),
    }
}

pub(super) async fn http<I>(
    io: I,
    peer: SocketAddr,
    endpoints: Arc<Endpoints>,
    options: &ServeOptions,
    stop: &CancellationToken,
    activity: Activity,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        activity.mark();
        Arc::clone(&endpoints).handle(request)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        ended = connection.as_mut() => {
            if let Err(error) = ended {
                tracing::debug!(%peer, %error, "health endpoint: connection ended");
            }
            return;
        }
        () = stop.cancelled() => {}
        () = tokio::time::sleep(options.max_connection_age) => {}
    }
    // Finish the response in flight, if any, then close.
    connection.as_mut().graceful_shutdown();
    match tokio::time::timeout(options.shutdown_grace, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::debug!(%peer, %error, "health endpoint: connection ended"),
        Err(_) => {
            tracing::debug!(%peer, "health endpoint: closing a connection that did not finish")
        }
    }
}

/// A stream whose writes fail with `TimedOut` once the peer has not taken
/// any bytes for `timeout` (a client that never reads its response).
struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// After a write returned: progress stops the clock; Pending starts it,
    /// or fails once it ran out.
    fn progress<T>(
        &mut self,
        ready: Poll<std::io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<T>> {
        if ready.is_ready() {
            self.stalled = None;
            return ready;
        }
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the client took no response bytes for {timeout:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let ready = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(ready, cx)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let ready = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(ready, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let ready = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.progress(ready, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let ready = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress(ready, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
