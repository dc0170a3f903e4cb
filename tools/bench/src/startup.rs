//! Start -> registered: spawn the plugin on the 910-8 node and time the
//! first Register call the stand-in accepts (after dialing the plugin back,
//! as kubelet does), then the first ListAndWatch list; stop with SIGTERM and
//! repeat against the same stand-in.

use std::path::Path;
use std::time::Duration;

use crate::node::{Artifacts, Node, PATIENCE, Setup};

/// What the repetitions measured.
#[derive(Debug, Default)]
pub struct StartTimes {
    /// Spawn -> Register accepted.
    pub registered: Vec<Duration>,
    /// Spawn -> first ListAndWatch list received (dial and stream included).
    pub first_list: Vec<Duration>,
}

/// Runs `repetitions` starts in `work`.
pub async fn measure(
    work: &Path,
    artifacts: &Artifacts,
    repetitions: usize,
) -> anyhow::Result<StartTimes> {
    let setup = Setup {
        topology: "910-8".into(),
        args: Vec::new(),
        no_events: false,
        env: Vec::new(),
    };
    let mut node = Node::create(work, "start", setup, artifacts).await?;
    let mut times = StartTimes::default();
    for _ in 0..repetitions {
        node.drain_registrations().await;
        let started = node.spawn()?;
        let registration = node.registration(PATIENCE).await?;
        times.registered.push(started.elapsed());
        let opened = node.open(&registration.endpoint).await?;
        times.first_list.push(started.elapsed());
        drop(opened);
        node.stop().await?;
    }
    Ok(times)
}
