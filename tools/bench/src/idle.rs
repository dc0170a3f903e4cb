//! Idle cost: the plugin with default flags on the bench topology (16 x
//! 310P3, 4 static vir02 vNPUs each = 64 vNPUs), every registered resource
//! watched, then RSS (VmRSS) and CPU time (utime + stime) sampled once a
//! second from /proc.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::task::JoinSet;

use crate::api::ApiServer;
use crate::node::{Artifacts, Node, PATIENCE, Setup};
use crate::procfs::{self, Sample};

/// The bench topology, shipped beside the crate.
const TOPOLOGY: &str = include_str!("../bench-16x310p3-vnpu.json");

/// The simulator library's state-file watcher thread (it runs inside the
/// plugin process; a real driver has no such thread).
const SIM_THREAD: &str = "dcmi-sim-watch";

/// Registrations stop being collected after this long without a new one.
const QUIET: Duration = Duration::from_secs(2);

/// What the idle run measured.
#[derive(Debug)]
pub struct IdleCost {
    /// `resource: N devices` per registered resource.
    pub resources: Vec<String>,
    /// Largest VmRSS seen while idle, KiB.
    pub max_rss_kib: u64,
    /// VmHWM (peak since start, startup included) at the end, KiB.
    pub peak_kib: u64,
    /// The last sample (RssAnon / RssFile split, threads).
    pub last: Sample,
    /// CPU time over wall time, percent of one CPU.
    pub cpu_percent: f64,
    /// The part of `cpu_percent` spent by the simulator's watcher thread.
    pub sim_cpu_percent: f64,
    /// The sampled span.
    pub span: Duration,
    /// ListAndWatch lists received while idle (all resources).
    pub updates: usize,
    /// With the Kubernetes API on: the plugin's requests from its start to
    /// the first sample, and during the sampled span.
    pub api_requests: Option<(u64, u64)>,
}

/// Runs the idle measurement for `seconds`; with `api`, the plugin uses
/// that API server (its ServiceAccount kubeconfig, `NODE_NAME`) and its
/// requests are counted.
pub async fn measure(
    work: &Path,
    artifacts: &Artifacts,
    seconds: u64,
    api: Option<&ApiServer>,
) -> anyhow::Result<IdleCost> {
    let topology = work.join("bench-16x310p3-vnpu.json");
    std::fs::write(&topology, TOPOLOGY)
        .with_context(|| format!("cannot write {}", topology.display()))?;
    let (name, args, env) = match api {
        Some(api) => (
            "idle-api",
            vec![format!("--kubeconfig={}", api.sa_kubeconfig.display())],
            vec![("NODE_NAME".to_owned(), crate::api::NODE.to_owned())],
        ),
        None => ("idle", Vec::new(), Vec::new()),
    };
    let setup = Setup {
        topology: topology.display().to_string(),
        args,
        no_events: false,
        env,
    };
    let mut node = Node::start(work, name, setup, artifacts).await?;
    let mut registrations = vec![node.registration(PATIENCE).await?];
    while let Ok(next) = node.kubelet.next_registration(QUIET).await {
        registrations.push(next);
    }
    let updates = Arc::new(AtomicUsize::new(0));
    let mut watchers = JoinSet::new();
    let mut resources = Vec::new();
    for registration in &registrations {
        let (client, mut watch, first) = node.open(&registration.endpoint).await?;
        resources.push(format!(
            "{}: {} devices",
            registration.resource_name,
            first.len()
        ));
        let updates = Arc::clone(&updates);
        watchers.spawn(async move {
            // Keeps the client (and its connection) as long as the stream.
            let _client = client;
            while watch.next(Duration::from_secs(24 * 3600)).await.is_ok() {
                updates.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    if api.is_some() {
        // The start-up requests (lists, watches, the first writes) settle.
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let requests_before = api.map(ApiServer::requests).transpose()?;
    let pid = node.pid()?;
    let first = procfs::sample(pid)?;
    let sim_first = procfs::thread_ticks(pid, SIM_THREAD);
    let started = Instant::now();
    let mut last = first;
    let mut max_rss_kib = first.rss_kib;
    for second in 1..=seconds {
        let due = started + Duration::from_secs(second);
        tokio::time::sleep_until(due.into()).await;
        last = procfs::sample(pid).map_err(|error| node.explain(error))?;
        max_rss_kib = max_rss_kib.max(last.rss_kib);
    }
    let span = started.elapsed();
    let requests_after = api.map(ApiServer::requests).transpose()?;
    let sim_ticks = procfs::thread_ticks(pid, SIM_THREAD).saturating_sub(sim_first);
    let cost = IdleCost {
        resources,
        max_rss_kib,
        peak_kib: last.hwm_kib,
        last,
        cpu_percent: cpu_percent(last.cpu_ticks.saturating_sub(first.cpu_ticks), span),
        sim_cpu_percent: cpu_percent(sim_ticks, span),
        span,
        updates: updates.load(Ordering::Relaxed),
        api_requests: requests_before
            .zip(requests_after)
            .map(|(before, after)| (before, after.saturating_sub(before))),
    };
    watchers.abort_all();
    node.stop().await?;
    Ok(cost)
}

/// `ticks` of CPU time over `span`, in percent of one CPU.
fn cpu_percent(ticks: u64, span: Duration) -> f64 {
    let seconds = ticks as f64 / procfs::ticks_per_second() as f64;
    100.0 * seconds / span.as_secs_f64().max(f64::EPSILON)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_bench_topology_has_16_chips_and_64_vnpus() {
        let topology: serde_json::Value = serde_json::from_str(TOPOLOGY).unwrap();
        let chips: Vec<&serde_json::Value> = topology["cards"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|card| card["chips"].as_array().unwrap())
            .collect();
        assert_eq!(chips.len(), 16);
        let vnpus: usize = chips
            .iter()
            .map(|chip| chip["vnpus"].as_array().unwrap().len())
            .sum();
        assert_eq!(vnpus, 64);
    }

    #[test]
    fn cpu_percent_is_ticks_over_wall_time() {
        let hz = procfs::ticks_per_second();
        let percent = cpu_percent(hz, Duration::from_secs(10));
        assert!((percent - 10.0).abs() < 1e-9, "{percent}");
    }
}
