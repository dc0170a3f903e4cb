//! The Allocate load: N callers in a closed loop against one unix socket,
//! each on its own connection (as separate kubelet clients would be) or all
//! multiplexed on one shared channel. Every caller warms up, waits for the
//! others, then times each call from just before sending to the decoded
//! answer.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kubelet_standin::proto::deviceplugin::device_plugin_client::DevicePluginClient;
use kubelet_standin::proto::deviceplugin::{AllocateRequest, ContainerAllocateRequest};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tonic::transport::Channel;

use crate::stats::Rng;

/// How the callers reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// One connection per caller.
    OwnConnections,
    /// One HTTP/2 connection, every caller multiplexed on it.
    OneChannel,
}

impl Sharing {
    /// For the report.
    pub fn label(self) -> &'static str {
        match self {
            Sharing::OwnConnections => "own connections",
            Sharing::OneChannel => "one shared channel",
        }
    }
}

/// One load run.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Concurrent callers.
    pub callers: usize,
    /// Timed requests over all callers.
    pub total: usize,
    /// Connections.
    pub sharing: Sharing,
}

/// What a run (or several, merged) measured.
#[derive(Debug, Default)]
pub struct Outcome {
    /// One latency per successful timed call.
    pub latencies: Vec<Duration>,
    /// Failed timed calls.
    pub errors: usize,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// From the common start to the last caller's end (summed over runs).
    pub wall: Duration,
}

impl Outcome {
    /// Adds the samples of another run of the same shape.
    pub fn absorb(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.wall += other.wall;
    }

    /// Successful calls per second over the run.
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64().max(f64::EPSILON)
    }
}

/// `count` Allocate requests of one container with 1 or 2 distinct IDs drawn
/// from `ids`: the same sequence for the floor and the plugin.
pub fn requests(ids: &[String], count: usize, seed: u64) -> Vec<AllocateRequest> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let first = rng.below(ids.len());
            let mut devices_ids = vec![ids.get(first).cloned().unwrap_or_default()];
            if ids.len() > 1 && rng.below(2) == 1 {
                let second = (first + 1 + rng.below(ids.len() - 1)) % ids.len();
                devices_ids.extend(ids.get(second).cloned());
            }
            AllocateRequest {
                container_requests: vec![ContainerAllocateRequest { devices_ids }],
            }
        })
        .collect()
}

/// Runs `shape` against `socket`, cycling through `requests` (not empty).
pub async fn run(
    socket: &Path,
    requests: Arc<Vec<AllocateRequest>>,
    shape: Shape,
) -> anyhow::Result<Outcome> {
    let callers = shape.callers.max(1);
    let per_caller = shape.total.div_ceil(callers);
    let warmup = (per_caller / 10).max(5);
    let shared = match shape.sharing {
        Sharing::OneChannel => Some(connect(socket).await?),
        Sharing::OwnConnections => None,
    };
    let mut clients = Vec::with_capacity(callers);
    for _ in 0..callers {
        let channel = match &shared {
            Some(channel) => channel.clone(),
            None => connect(socket).await?,
        };
        clients.push(DevicePluginClient::new(channel));
    }
    // Every caller plus this task, which notes the common start.
    let barrier = Arc::new(Barrier::new(callers + 1));
    let mut tasks = JoinSet::new();
    for (index, client) in clients.into_iter().enumerate() {
        let barrier = Arc::clone(&barrier);
        let requests = Arc::clone(&requests);
        let first = index * per_caller;
        tasks.spawn(caller(client, requests, barrier, first, warmup, per_caller));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut outcome = Outcome {
        latencies: Vec::with_capacity(per_caller * callers),
        errors: 0,
        first_error: None,
        wall: Duration::ZERO,
    };
    while let Some(joined) = tasks.join_next().await {
        let (latencies, errors) = joined.context("a caller task failed")?;
        outcome.latencies.extend(latencies);
        outcome.errors += errors.len();
        if outcome.first_error.is_none() {
            outcome.first_error = errors.into_iter().next();
        }
    }
    outcome.wall = start.elapsed();
    Ok(outcome)
}

async fn connect(socket: &Path) -> anyhow::Result<Channel> {
    kubelet_standin::dial(socket)
        .await
        .with_context(|| format!("cannot connect to {}", socket.display()))
}

/// One caller: `warmup` untimed calls, the barrier, `count` timed calls.
/// Returns the latencies and the error messages.
async fn caller(
    mut client: DevicePluginClient<Channel>,
    requests: Arc<Vec<AllocateRequest>>,
    barrier: Arc<Barrier>,
    first: usize,
    warmup: usize,
    count: usize,
) -> (Vec<Duration>, Vec<String>) {
    let pick = |n: usize| requests.get((first + n) % requests.len().max(1)).cloned();
    for n in 0..warmup {
        if let Some(request) = pick(n) {
            let _ = client.allocate(request).await;
        }
    }
    barrier.wait().await;
    let mut latencies = Vec::with_capacity(count);
    let mut errors = Vec::new();
    for n in 0..count {
        let Some(request) = pick(warmup + n) else {
            break;
        };
        let sent = Instant::now();
        match client.allocate(request).await {
            Ok(_) => latencies.push(sent.elapsed()),
            Err(status) => errors.push(format!("{:?}: {}", status.code(), status.message())),
        }
    }
    (latencies, errors)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn requests_hold_one_or_two_distinct_known_ids() {
        let ids: Vec<String> = (0..8).map(|i| format!("Ascend910-{i}")).collect();
        let made = requests(&ids, 500, 1);
        let sizes: Vec<usize> = made
            .iter()
            .map(|r| r.container_requests[0].devices_ids.len())
            .collect();
        assert!(sizes.contains(&1) && sizes.contains(&2));
        for request in &made {
            let chosen = &request.container_requests[0].devices_ids;
            assert!(chosen.iter().all(|id| ids.contains(id)));
            assert!(chosen.len() < 2 || chosen[0] != chosen[1]);
        }
        assert_eq!(made, requests(&ids, 500, 1));
    }

    #[test]
    fn a_single_id_node_still_gets_requests() {
        let made = requests(&["only".to_string()], 3, 9);
        assert!(
            made.iter()
                .all(|r| r.container_requests[0].devices_ids == ["only"])
        );
    }
}
