//! The bearer token of a token file (the in-cluster ServiceAccount token, or
//! a kubeconfig's `tokenFile`), as the API client sends it: trimmed of
//! surrounding whitespace (a file written with a trailing newline is
//! common; upstream trims it, kube-rs would send the newline and fail every
//! request), and reread at most once a minute, since projected tokens
//! rotate. If a reread fails the last token stays in use, as client-go
//! does. The token never appears in an error or a log line.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::http::{self, HeaderValue, header::AUTHORIZATION};
use kube::client::ClientBuilder;
use kube::{Client, Config};

/// How long a read token is used before the file is read again.
pub const REREAD_AFTER: Duration = Duration::from_secs(60);

/// Why a token file gives no usable token. Names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("token file {path} holds no token (empty or only whitespace)")]
    Empty { path: PathBuf },
    #[error("token file {path} holds characters an HTTP header cannot carry")]
    NotAHeader { path: PathBuf },
}

/// A token file and the `Authorization` value last read from it.
pub struct TokenFile {
    path: PathBuf,
    reread_after: Duration,
    cached: Mutex<(HeaderValue, Instant)>,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TokenFile {
    /// Reads `path` now; a file without a usable token is an error.
    pub fn open(path: &Path, reread_after: Duration) -> Result<TokenFile, TokenError> {
        let header = read_header(path)?;
        Ok(TokenFile {
            path: path.to_path_buf(),
            reread_after,
            cached: Mutex::new((header, Instant::now())),
        })
    }

    /// `Bearer <token>`, marked sensitive; reread once `reread_after` has
    /// passed since the last read.
    pub fn header(&self) -> HeaderValue {
        let mut cached = match self.cached.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cached.1.elapsed() >= self.reread_after {
            match read_header(&self.path) {
                Ok(header) => cached.0 = header,
                Err(error) => {
                    tracing::warn!(%error, "cannot reread the API token; using the last one")
                }
            }
            cached.1 = Instant::now();
        }
        cached.0.clone()
    }
}

fn read_header(path: &Path) -> Result<HeaderValue, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut header =
        HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| TokenError::NotAHeader {
            path: path.to_path_buf(),
        })?;
    header.set_sensitive(true);
    Ok(header)
}

/// The API client for `config`. When its credential is a token file (the
/// in-cluster ServiceAccount, or a kubeconfig `tokenFile` that nothing
/// earlier in kube's order overrides), that file is read here, trimmed,
/// instead of by kube.
pub fn client_for(mut config: Config) -> anyhow::Result<Client> {
    let auth = &mut config.auth_info;
    let file_is_the_credential = auth.auth_provider.is_none()
        && (auth.username.is_none() || auth.password.is_none())
        && auth.token.is_none();
    let token = match auth.token_file.take_if(|_| file_is_the_credential) {
        Some(path) => Some(Arc::new(TokenFile::open(Path::new(&path), REREAD_AFTER)?)),
        None => None,
    };
    let builder = ClientBuilder::try_from(config)?;
    let Some(token) = token else {
        return Ok(builder.build());
    };
    let layer =
        tower::util::MapRequestLayer::new(move |mut request: http::Request<kube::client::Body>| {
            request.headers_mut().insert(AUTHORIZATION, token.header());
            request
        });
    Ok(builder.with_layer(&layer).build())
}

#[cfg(test)]
mod tests;
