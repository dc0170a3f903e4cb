//! The Ascend driver's management library, `libdcmi.so`.
//!
//! `loader` finds the file and refuses unsafe ones, `sys` resolves the symbols
//! (the crate's only `unsafe`), `api` is the validated typed API. [`Dcmi`]
//! runs calls on blocking threads with a timeout so the async runtime never
//! waits on the driver.

pub mod api;
pub mod error;
pub mod loader;
mod sys;
pub mod text;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub use api::{Api, ChipInfo, NETWORK_OK, PciAddress, SpodInfo, TotalResource};
pub use error::DcmiError;
pub use loader::OwnerPolicy;
pub use sys::FaultEvent;

/// Default bound for one driver call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound for the network health call (upstream: 1 s).
pub const NETWORK_TIMEOUT: Duration = Duration::from_secs(1);
/// Driver calls that may hang past their timeout at once. Each keeps a
/// blocking thread until the driver returns; beyond this many, further
/// calls fail at once with [`DcmiError::Stuck`] (without a thread) until a
/// hung one returns, so a hung driver costs at most this many threads. The
/// health monitor treats such a failure like any failed read.
pub const MAX_STUCK_CALLS: usize = 8;

/// Told about every timed driver call (metrics); keeps `dcmi` free of a
/// dependency on the telemetry module.
pub trait CallObserver: Send + Sync + std::fmt::Debug {
    fn observe(&self, function: &'static str, latency: Duration, ok: bool);
}

/// An opened and initialised driver library, shareable across tasks.
#[derive(Debug, Clone)]
pub struct Dcmi {
    api: Arc<Api>,
    path: PathBuf,
    observer: Option<Arc<dyn CallObserver>>,
    /// Calls that timed out and whose thread still runs.
    stuck: Arc<AtomicUsize>,
}

impl Dcmi {
    /// Locates (or takes `explicit`), checks, opens and initialises the
    /// library. Blocking: call it before the runtime serves anything, or
    /// from a blocking task.
    pub fn open(
        explicit: Option<&Path>,
        ld_library_path: Option<&str>,
        policy: OwnerPolicy,
    ) -> Result<Self, DcmiError> {
        let path = loader::locate(explicit, ld_library_path, policy)?;
        let api = Api::new(sys::Symbols::open(&path)?);
        api.init()?;
        Ok(Self {
            api: Arc::new(api),
            path,
            observer: None,
            stuck: Arc::default(),
        })
    }

    /// Reports every later [`Dcmi::call`] to `observer`.
    pub fn observed_by(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The library actually loaded (after symlinks).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Blocking access, for code already on a blocking thread.
    pub fn blocking(&self) -> &Api {
        &self.api
    }

    /// Driver calls that timed out and still hold their thread.
    pub fn stuck_calls(&self) -> usize {
        self.stuck.load(Ordering::SeqCst)
    }

    /// Runs `f` on a blocking thread; gives up after `timeout`. A call that
    /// hangs keeps its thread, but never the caller; once
    /// [`MAX_STUCK_CALLS`] hang, calls fail at once until one returns.
    pub async fn call<T, E, F>(
        &self,
        function: &'static str,
        timeout: Duration,
        f: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DcmiError> + Send + 'static,
        F: FnOnce(&Api) -> Result<T, E> + Send + 'static,
    {
        let stuck = self.stuck.load(Ordering::SeqCst);
        if stuck >= MAX_STUCK_CALLS {
            if let Some(observer) = &self.observer {
                observer.observe(function, Duration::ZERO, false);
            }
            return Err(DcmiError::Stuck {
                function,
                stuck,
                limit: MAX_STUCK_CALLS,
            }
            .into());
        }
        let api = Arc::clone(&self.api);
        let started = std::time::Instant::now();
        // Set by whichever side finishes second: the worker (returned) or
        // the caller (gave up). A worker that returns after its caller gave
        // up takes its call off the stuck count.
        let settled = Arc::new(AtomicBool::new(false));
        let worker = Settle {
            settled: Arc::clone(&settled),
            stuck: Arc::clone(&self.stuck),
        };
        let task = tokio::task::spawn_blocking(move || {
            let _settle = worker;
            f(&api)
        });
        let outcome = tokio::time::timeout(timeout, task).await;
        if outcome.is_err() {
            self.stuck.fetch_add(1, Ordering::SeqCst);
            if settled.swap(true, Ordering::SeqCst) {
                // It returned just now after all.
                self.stuck.fetch_sub(1, Ordering::SeqCst);
            }
        }
        if let Some(observer) = &self.observer {
            let ok = matches!(outcome, Ok(Ok(Ok(_))));
            observer.observe(function, started.elapsed(), ok);
        }
        match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(DcmiError::Worker {
                function,
                reason: join.to_string(),
            }
            .into()),
            Err(_) => Err(DcmiError::Timeout { function, timeout }.into()),
        }
    }
}

/// Held by a call's worker thread; when the thread is done (returned or
/// panicked) after its caller gave up, the call stops counting as stuck.
struct Settle {
    settled: Arc<AtomicBool>,
    stuck: Arc<AtomicUsize>,
}

impl Drop for Settle {
    fn drop(&mut self) {
        if self.settled.swap(true, Ordering::SeqCst) {
            self.stuck.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
