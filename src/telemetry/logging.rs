//! Process-wide logging: one `tracing` subscriber writing plain-text lines
//! to stdout and to the size-rotated `-logFile`, both through
//! tracing-appender's non-blocking workers, behind a storm limiter.
//!
//! The level comes from `-logLevel` unless `RUST_LOG` is set (non-empty),
//! which then replaces it entirely. Nothing here logs environment values;
//! an invalid `RUST_LOG` is reported without its content.

mod ratelimit;
mod storm;
#[cfg(test)]
mod tests;

use std::io::{self, Write};
use std::path::PathBuf;

use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};

use super::logfile::{DEFAULT_MAX_SIZE, LogFileError, RotatingFile, RotationPolicy};
pub use ratelimit::{Decision, MAX_KEYS, RateLimiter};
pub use storm::{DEFAULT_BURST, DEFAULT_WINDOW, KEY_FIELDS, StormLayer};

/// `-logLevel` as the Go plugin numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// -1
    Debug,
    /// 0
    Info,
    /// 1
    Warn,
    /// 2
    Error,
    /// 3: `tracing` has no level above ERROR, so critical filters exactly
    /// like error (error lines are still written).
    Critical,
}

impl Level {
    /// The level for a `-logLevel` value; `None` outside -1..=3.
    pub fn from_go_flag(value: i64) -> Option<Self> {
        match value {
            -1 => Some(Self::Debug),
            0 => Some(Self::Info),
            1 => Some(Self::Warn),
            2 => Some(Self::Error),
            3 => Some(Self::Critical),
            _ => None,
        }
    }

    /// The most verbose `tracing` level this lets through.
    pub fn filter(self) -> LevelFilter {
        match self {
            Self::Debug => LevelFilter::DEBUG,
            Self::Info => LevelFilter::INFO,
            Self::Warn => LevelFilter::WARN,
            Self::Error | Self::Critical => LevelFilter::ERROR,
        }
    }
}

/// What [`init`] needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub level: Level,
    /// `-logFile`; `None` logs to stdout only.
    pub file: Option<PathBuf>,
    /// Rotation size in bytes (upstream: 20 MB).
    pub max_size: u64,
    /// `-maxBackups`
    pub max_backups: u32,
    /// `-maxAge`
    pub max_age_days: u32,
}

impl LogSettings {
    /// The rotation part.
    pub fn policy(&self) -> RotationPolicy {
        RotationPolicy {
            max_size: self.max_size,
            max_backups: self.max_backups,
            max_age_days: self.max_age_days,
        }
    }
}

impl Default for LogSettings {
    /// Upstream defaults without a file: info, 20 MB, 30 backups, 7 days.
    fn default() -> Self {
        Self {
            level: Level::Info,
            file: None,
            max_size: DEFAULT_MAX_SIZE,
            max_backups: 30,
            max_age_days: 7,
        }
    }
}

/// Keeps the writer threads alive; dropping it flushes what is queued.
/// Hold it in `main` until the process exits.
#[derive(Debug)]
#[must_use = "dropping the guard stops log writing"]
pub struct LogGuard {
    _workers: Vec<WorkerGuard>,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    File(#[from] LogFileError),
    /// The value is deliberately not shown (no environment values in output).
    #[error("RUST_LOG is set but is not a valid tracing filter (value not shown); fix or unset it")]
    RustLog,
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[source] TryInitError),
}

/// Installs the global subscriber: stdout plus, when configured, the
/// rotating file. Call once, early in `main`, and keep the guard.
pub fn init(config: &LogSettings) -> Result<LogGuard, LogError> {
    let rust_log = match std::env::var("RUST_LOG") {
        Ok(directives) => Some(directives),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => return Err(LogError::RustLog),
    };
    let (subscriber, guard) = subscriber(config, rust_log.as_deref(), io::stdout())?;
    subscriber.try_init().map_err(LogError::AlreadyInstalled)?;
    Ok(guard)
}

/// Builds the subscriber [`init`] installs, writing its console copy to
/// `console` (stdout in production), so tests can run it with
/// `tracing::subscriber::with_default`. `rust_log`, when non-empty,
/// replaces `config.level`.
pub fn subscriber<W>(
    config: &LogSettings,
    rust_log: Option<&str>,
    console: W,
) -> Result<(impl Subscriber + Send + Sync + 'static, LogGuard), LogError>
where
    W: Write + Send + 'static,
{
    let mut filter = EnvFilter::builder()
        .with_default_directive(config.level.filter().into())
        .parse(rust_log.map(str::trim).unwrap_or_default())
        .map_err(|_| LogError::RustLog)?;
    if rust_log.is_none_or(|r| r.trim().is_empty()) {
        // kube's client logs every failed request at ERROR, once per retry;
        // our tasks report each outage once, with the error, instead.
        for quiet in ["kube_client::client::builder=off", "kube_runtime=warn"] {
            if let Ok(directive) = quiet.parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    let mut workers = Vec::with_capacity(2);
    let file_layer = match &config.file {
        Some(path) => {
            let file = RotatingFile::open(path, config.policy())?;
            let (writer, guard) = non_blocking("log-file", file);
            workers.push(guard);
            Some(plain_text().with_writer(writer))
        }
        None => None,
    };
    let (console_writer, guard) = non_blocking("log-stdout", console);
    workers.push(guard);
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(plain_text().with_writer(console_writer))
        .with(file_layer)
        .with(StormLayer::default());
    Ok((subscriber, LogGuard { _workers: workers }))
}

/// Lines a writer may queue. tracing-appender's default (128,000) costs
/// about 4 MB of resident memory per writer; with the storm limiter in front,
/// a few thousand lines absorb any burst a healthy plugin produces.
const QUEUE_LINES: usize = 8_192;

/// A writer on its own thread; lines are dropped, never waited for, when
/// its queue is full, so logging never blocks the async runtime.
fn non_blocking<W: Write + Send + 'static>(
    name: &str,
    writer: W,
) -> (tracing_appender::non_blocking::NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUE_LINES)
        .lossy(true)
        .thread_name(name)
        .finish(writer)
}

fn plain_text<S>() -> tracing_subscriber::fmt::Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer().with_ansi(false)
}
