//! The signals the daemon reacts to: SIGTERM/SIGINT stop, SIGHUP reloads
//! the fault table and re-registers.

use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::load_fault_table;
use crate::config::Config;
use crate::device::monitor::MonitorCommand;
use crate::k8s::faultconfig::FaultTables;

/// The signals the daemon reacts to, registered before serving so a failure
/// to register them stops the start instead of leaving SIGTERM unhandled.
pub(super) struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn register() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
        })
    }
}

/// SIGTERM/SIGINT stop; SIGHUP reloads the fault table and re-registers.
pub(super) async fn handle_signals(
    mut signals: Signals,
    config: Config,
    stop: CancellationToken,
    reload: mpsc::Sender<()>,
    commands: mpsc::Sender<MonitorCommand>,
    tables: Arc<FaultTables>,
) {
    loop {
        tokio::select! {
            _ = signals.term.recv() => { tracing::info!("SIGTERM: stopping"); stop.cancel(); return; }
            _ = signals.int.recv() => { tracing::info!("SIGINT: stopping"); stop.cancel(); return; }
            _ = signals.hup.recv() => {
                tracing::info!("SIGHUP: reloading the fault table and re-registering");
                match load_fault_table(&config) {
                    Ok(table) => {
                        let in_force = tables.set_base(Arc::new(table));
                        let _ = commands.send(MonitorCommand::SetTable(in_force)).await;
                    }
                    Err(error) => tracing::warn!(error = %format!("{error:#}"), "reload failed; keeping the current table"),
                }
                let _ = reload.try_send(());
            }
        }
    }
}
