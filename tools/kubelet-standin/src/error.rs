//! The stand-in's one error type: every variant names the socket or path it
//! concerns and, for timeouts, what was being awaited.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem or socket operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("bind", "create the directory", ...).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A gRPC channel to a unix socket could not be opened.
    #[error("cannot connect to the socket {}: {source}", path.display())]
    Connect {
        /// The socket dialed.
        path: PathBuf,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// A call was answered with a gRPC error status.
    #[error("{call} on {} failed: {:?}: {}", socket.display(), status.code(), status.message())]
    Rpc {
        /// The RPC name, for example `Allocate`.
        call: &'static str,
        /// The socket it was sent to.
        socket: PathBuf,
        /// The status the server (or the transport) returned.
        status: Box<tonic::Status>,
    },
    /// Nothing arrived in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited, naming the socket.
        what: String,
        /// How long it was awaited.
        after: Duration,
    },
    /// A ListAndWatch stream ended (the plugin closed it or went away).
    #[error("the ListAndWatch stream on {} ended", socket.display())]
    StreamEnded {
        /// The plugin socket the stream was on.
        socket: PathBuf,
    },
    /// An endpoint that is not a plain file name in the plugin directory.
    #[error("endpoint {endpoint:?} is not a socket file name inside {}", dir.display())]
    BadEndpoint {
        /// The endpoint given.
        endpoint: String,
        /// The plugin directory.
        dir: PathBuf,
    },
    /// An answer that breaks the protocol (for example the wrong number of
    /// container responses).
    #[error("{call} on {} answered unexpectedly: {detail}", socket.display())]
    Protocol {
        /// The RPC name.
        call: &'static str,
        /// The socket it was sent to.
        socket: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A server task of the stand-in failed.
    #[error("the server on {} failed: {detail}", socket.display())]
    Serve {
        /// The socket it served.
        socket: PathBuf,
        /// What happened.
        detail: String,
    },
}

impl Error {
    /// The gRPC status, when the error is one.
    pub fn status(&self) -> Option<&tonic::Status> {
        match self {
            Error::Rpc { status, .. } => Some(status),
            _ => None,
        }
    }

    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn rpc(
        call: &'static str,
        socket: impl Into<PathBuf>,
        status: tonic::Status,
    ) -> Self {
        Error::Rpc {
            call,
            socket: socket.into(),
            status: Box::new(status),
        }
    }
}
