//! Fault injected -> Unhealthy received on ListAndWatch, on the 910-8 node.
//! The event path runs the plugin with a 30 min poll period, so only the
//! driver's fault event can explain the change; the poll path disables the
//! events (`ASCEND_SIM_CHAOS=no-events`) and injects at a random phase of
//! the poll period. The clock starts just before the state file's rename.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use kubelet_standin::{HEALTHY, UNHEALTHY};

use crate::node::{Artifacts, Node, Setup, health_of};
use crate::stats::Rng;

/// Chips of the 910-8 node: device `Ascend910-<phy>` is chip `phy`.
const CHIPS: u32 = 8;

/// What one path measured.
#[derive(Debug, Default)]
pub struct FaultTimes {
    /// Fault written -> the device listed Unhealthy.
    pub to_unhealthy: Vec<Duration>,
    /// Fault cleared -> the device listed Healthy again.
    pub to_healthy: Vec<Duration>,
}

/// Which path to measure.
#[derive(Debug, Clone, Copy)]
pub enum FaultPath {
    /// Driver fault events, no polling in practice (`-listWatchPeriod=1800`).
    Event,
    /// Polling only, every `period` seconds.
    Poll {
        /// `-listWatchPeriod` in seconds.
        period: u64,
    },
}

/// Runs `repetitions` raise/clear cycles on a fresh node in `work`.
pub async fn measure(
    work: &Path,
    artifacts: &Artifacts,
    path: FaultPath,
    repetitions: usize,
    seed: u64,
) -> anyhow::Result<FaultTimes> {
    let (name, setup, patience) = match path {
        FaultPath::Event => (
            "event-path",
            Setup {
                topology: "910-8".into(),
                args: vec!["-listWatchPeriod=1800".into()],
                no_events: false,
                env: Vec::new(),
            },
            Duration::from_secs(10),
        ),
        FaultPath::Poll { period } => (
            "poll-path",
            Setup {
                topology: "910-8".into(),
                args: vec![format!("-listWatchPeriod={period}")],
                no_events: true,
                env: Vec::new(),
            },
            Duration::from_secs(3 * period + 5),
        ),
    };
    let mut node = Node::start(work, name, setup, artifacts).await?;
    let (_client, mut watch, first) = node.watch(Some("huawei.com/Ascend910")).await?;
    if first.iter().any(|device| device.health != HEALTHY) {
        anyhow::bail!("the {name} node did not start all Healthy");
    }
    let mut rng = Rng::new(seed);
    let mut times = FaultTimes::default();
    for repetition in 0..repetitions {
        // usize -> u32: the remainder is below CHIPS.
        let phy = (repetition % CHIPS as usize) as u32;
        let id = format!("Ascend910-{phy}");
        if let FaultPath::Poll { period } = path {
            // The recovery below is seen on a poll tick, so injecting at once
            // would always land just after one: spread the phase instead.
            let phase_ms = rng.below(usize::try_from(period * 1000).unwrap_or(1000));
            tokio::time::sleep(Duration::from_millis(phase_ms as u64)).await;
        }
        let injected = node.set_fault(Some(phy))?;
        let seen = watch
            .until(patience, |list| health_of(list, &id) == UNHEALTHY)
            .await;
        seen.map_err(|error| node.explain(error.into()))
            .with_context(|| format!("{name}: {id} never turned Unhealthy"))?;
        times.to_unhealthy.push(injected.elapsed());
        let cleared = node.set_fault(None)?;
        let seen = watch
            .until(patience, |list| list.iter().all(|d| d.health == HEALTHY))
            .await;
        seen.map_err(|error| node.explain(error.into()))
            .with_context(|| format!("{name}: {id} never recovered"))?;
        times.to_healthy.push(cleared.elapsed());
    }
    node.stop().await?;
    Ok(times)
}
