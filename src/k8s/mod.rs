//! The plugin's side of the Kubernetes API: the client, the node's pod watch
//! cache, Volcano-mode Allocate, the kubelet-ID map and pod write-back, the
//! device-info ConfigMap, the fault-code ConfigMap, node labels and events.
//! The pure rules live in `crate::cluster`; this module does the I/O.

pub mod assignments;
pub mod deviceinfo;
pub mod events;
pub mod faultconfig;
pub mod node;
pub mod object;
pub mod podresources;
pub mod pods;
pub mod reconcile;
pub mod slow_node;
pub mod softshare;
pub mod token;
pub mod volcano;
pub mod writeback;

#[cfg(test)]
pub(crate) mod mock;

use std::sync::Arc;

use anyhow::Context;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::Notify;

use crate::config::Config;
use crate::dcmi::Dcmi;
use crate::device::model::Inventory;

/// How long the API server keeps one watch request open before the
/// watcher renews it. client-go renews every 5-10 minutes; each renewal is
/// a request, and every node runs this plugin, so ours stays 30 minutes:
/// two requests per watch per node-hour (docs/operations.md, "API request
/// budget").
pub const WATCH_TIMEOUT_SECONDS: u32 = 1800;

/// The watcher settings every watch of the plugin uses.
pub fn watch_config() -> kube::runtime::watcher::Config {
    kube::runtime::watcher::Config::default().timeout(WATCH_TIMEOUT_SECONDS)
}

/// The events of a watch of `api` with `config`, reconnecting with
/// kube-runtime's default backoff. Failures go to `on_error` and only the
/// first of an outage is logged, as a warning naming `what`; the recovery
/// is logged once.
pub fn watch_events<K>(
    api: kube::Api<K>,
    config: kube::runtime::watcher::Config,
    what: String,
    mut on_error: impl FnMut() + Send + 'static,
) -> impl futures::Stream<Item = kube::runtime::watcher::Event<K>> + Send
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    use futures::StreamExt;
    use kube::runtime::WatchStreamExt;
    use kube::runtime::watcher::{Event, watcher};
    let mut failing = false;
    watcher(api, config)
        .default_backoff()
        .filter_map(move |next| {
            let event = match next {
                Ok(event) => {
                    // The watcher announces each (re)list with Init before
                    // it has heard from the server: no proof of a connection.
                    if !matches!(event, Event::Init) && std::mem::take(&mut failing) {
                        tracing::info!(watch = %what, "watch reconnected");
                    }
                    Some(event)
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(watch = %what, %error, "watch failed; retrying with backoff");
                    }
                    failing = true;
                    on_error();
                    None
                }
            };
            std::future::ready(event)
        })
}

/// The retry schedule of a reporter whose pass failed (the API server is
/// away, or a write raced someone): 2 s, doubling up to 32 s, and back to
/// normal after a success. Each wait is drawn between half and all of its
/// step, so nodes that failed in the same second (an API server restart)
/// do not retry in the same second ever after.
#[derive(Debug, Default)]
pub struct Backoff {
    wait: Option<std::time::Duration>,
}

impl Backoff {
    const MIN: std::time::Duration = std::time::Duration::from_secs(2);
    const MAX: std::time::Duration = std::time::Duration::from_secs(32);

    /// A pass failed; true for the first failure of an outage (log it).
    pub fn failed(&mut self) -> bool {
        let first = self.wait.is_none();
        self.wait = Some(self.wait.map_or(Self::MIN, |w| (w * 2).min(Self::MAX)));
        first
    }

    /// A pass succeeded; true when it ends an outage (log the recovery).
    pub fn succeeded(&mut self) -> bool {
        self.wait.take().is_some()
    }

    /// While failing, the current delay, jittered as [`Backoff::pause`]
    /// sleeps it; `None` when not failing. For loops that wait on other
    /// things too (a watch, a snapshot) and keep the retry as a deadline.
    pub fn delay(&self) -> Option<std::time::Duration> {
        self.wait.map(|wait| jittered(wait, random_draw()))
    }

    /// While failing, sleeps the current delay and answers `Some(true)`
    /// (retry now, on a timer only); `Some(false)` when not failing;
    /// `None` when `stop` fired.
    pub async fn pause(&self, stop: &tokio_util::sync::CancellationToken) -> Option<bool> {
        let Some(wait) = self.wait else {
            return Some(false);
        };
        tokio::select! {
            () = stop.cancelled() => None,
            () = tokio::time::sleep(jittered(wait, random_draw())) => Some(true),
        }
    }
}

/// `step` shortened by a random share of its half: `step / 2 ..= step`.
pub fn jittered(step: std::time::Duration, draw: u64) -> std::time::Duration {
    step / 2 + start_delay(step - step / 2, draw)
}

/// The wait before the first API request at start: `draw` (uniform over
/// `u64`) mapped onto `0..=max`, in milliseconds. Nodes started together
/// (a cluster powering up) thereby spread their start burst over `max`
/// instead of sending it in the same second (`--api-start-jitter`).
pub fn start_delay(max: std::time::Duration, draw: u64) -> std::time::Duration {
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    // (draw * (max_ms + 1)) >> 64 is below max_ms + 1 for every draw.
    let ms = (u128::from(draw) * (u128::from(max_ms) + 1)) >> 64;
    std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(max_ms))
}

/// A random `u64` for [`start_delay`], different in every process (the
/// standard library seeds each `RandomState` from the OS).
pub fn random_draw() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Now, in whole seconds since the Unix epoch.
pub fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Builds the API client: `--kubeconfig`/`KUBECONFIG` when given, else the
/// in-cluster ServiceAccount (its token file read by [`token`]). Errors
/// name the source, never its contents.
pub async fn connect(config: &Config) -> anyhow::Result<Client> {
    let kube_config = match &config.paths.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("--kubeconfig {}: cannot read", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("--kubeconfig {}: unusable", path.display()))?
        }
        None => kube::Config::incluster().context("in-cluster Kubernetes configuration")?,
    };
    token::client_for(kube_config).context("cannot build the Kubernetes client")
}

/// What a Volcano-mode resource service needs beyond its own context.
#[derive(Debug)]
pub struct VolcanoBinding {
    pub matcher: volcano::VolcanoMatcher,
    pub store: assignments::AssignmentStore,
    pub writer: Arc<writeback::Writer>,
    /// Wakes the pod-resources poller (a new allocation to see).
    pub poke: Arc<Notify>,
    /// Dynamic vNPU mode: the driver, to create vNPUs at Allocate.
    pub dynamic: Option<DynamicVnpu>,
}

/// The driver and chips dynamic vNPU creation needs.
#[derive(Debug, Clone)]
pub struct DynamicVnpu {
    pub dcmi: Dcmi,
    pub inventory: Arc<Inventory>,
    pub timeout: std::time::Duration,
    /// Held from creating a vNPU until it is in the kubelet-ID map, and
    /// while unused vNPUs are looked for, so a fresh one is never taken
    /// for unused.
    pub lock: Arc<tokio::sync::Mutex<()>>,
}

#[cfg(test)]
mod start_delay_tests {
    use super::{random_draw, start_delay};
    use std::time::Duration;

    #[test]
    fn the_start_delay_spans_zero_to_the_maximum_and_never_more() {
        let max = Duration::from_secs(30);
        assert_eq!(start_delay(max, 0), Duration::ZERO);
        assert_eq!(start_delay(max, u64::MAX), max);
        assert_eq!(
            start_delay(max, u64::MAX / 2),
            Duration::from_millis(15_000)
        );
        assert_eq!(start_delay(Duration::ZERO, u64::MAX), Duration::ZERO);
        let huge = Duration::from_secs(600);
        assert_eq!(start_delay(huge, u64::MAX), huge);
        for _ in 0..1000 {
            assert!(start_delay(max, random_draw()) <= max);
        }
    }

    #[test]
    fn random_draws_spread_over_the_window() {
        let max = Duration::from_secs(10);
        let delays: Vec<Duration> = (0..200).map(|_| start_delay(max, random_draw())).collect();
        let early = delays.iter().filter(|d| **d < max / 2).count();
        // Binomial(200, 1/2): outside 60..140 with probability below 1e-8.
        assert!(
            (60..=140).contains(&early),
            "{early} of 200 in the first half"
        );
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::{Backoff, jittered, random_draw};
    use std::time::Duration;

    #[test]
    fn a_jittered_wait_lies_between_half_and_all_of_its_step() {
        let step = Duration::from_secs(8);
        assert_eq!(jittered(step, 0), Duration::from_secs(4));
        assert_eq!(jittered(step, u64::MAX), step);
        let draws: Vec<Duration> = (0..200).map(|_| jittered(step, random_draw())).collect();
        assert!(draws.iter().all(|d| (step / 2..=step).contains(d)));
        let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
        assert!(
            distinct.len() > 100,
            "{} distinct waits of 200",
            distinct.len()
        );
    }
    use tokio_util::sync::CancellationToken;

    #[tokio::test(start_paused = true)]
    async fn retries_double_from_two_to_thirty_two_seconds_and_reset_on_success() {
        let stop = CancellationToken::new();
        let mut backoff = Backoff::default();
        assert_eq!(backoff.pause(&stop).await, Some(false), "not failing");
        for (n, step) in [2_u64, 4, 8, 16, 32, 32].into_iter().enumerate() {
            assert_eq!(backoff.failed(), n == 0, "only the first failure is news");
            let start = tokio::time::Instant::now();
            assert_eq!(backoff.pause(&stop).await, Some(true));
            let waited = start.elapsed().as_millis();
            let step = u128::from(step) * 1000;
            assert!(
                (step / 2..=step).contains(&waited),
                "retry {n} after {waited} ms, step {step} ms"
            );
        }
        // Nodes that failed together: their first retries are spread.
        let mut firsts = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let mut node = Backoff::default();
            node.failed();
            let start = tokio::time::Instant::now();
            node.pause(&stop).await;
            firsts.insert(start.elapsed());
        }
        assert!(firsts.len() > 10, "20 nodes retried at {firsts:?}");
        assert!(backoff.succeeded(), "the outage ended");
        assert!(!backoff.succeeded());
        backoff.failed();
        stop.cancel();
        assert_eq!(backoff.pause(&stop).await, None);
    }

    #[test]
    fn the_delay_is_the_jittered_step_while_failing_and_none_otherwise() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.delay(), None, "not failing");
        for step in [2_u64, 4, 8] {
            backoff.failed();
            let delay = backoff.delay().map(|d| d.as_millis());
            let step = u128::from(step) * 1000;
            assert!(
                delay.is_some_and(|d| (step / 2..=step).contains(&d)),
                "{delay:?} ms, step {step} ms"
            );
        }
        backoff.succeeded();
        assert_eq!(backoff.delay(), None, "the outage ended");
    }
}
