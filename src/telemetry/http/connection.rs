//! One connection: the TLS handshake when configured, then hyper's HTTP/1.1
//! with bounded headers; closed gracefully on stop or when too old.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

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
) {
    let Some(acceptor) = &options.tls else {
        return http(stream, peer, endpoints, options, stop).await;
    };
    // The handshake gets the same deadline as a request head: no slowloris
    // before the first byte of HTTP either.
    let handshake = tokio::time::timeout(options.header_read_timeout, acceptor.accept(stream));
    let handshake = tokio::select! {
        () = stop.cancelled() => return,
        handshake = handshake => handshake,
    };
    match handshake {
        Ok(Ok(tls)) => http(tls, peer, endpoints, options, stop).await,
        Ok(Err(error)) => tracing::debug!(%peer, %error, "health endpoint: TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "health endpoint: TLS handshake timed out"),
    }
}

async fn http<I>(
    io: I,
    peer: SocketAddr,
    endpoints: Arc<Endpoints>,
    options: &ServeOptions,
    stop: &CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| Arc::clone(&endpoints).handle(request));
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
