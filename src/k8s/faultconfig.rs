//! The operator's fault configuration in ConfigMap
//! `kube-system/mindx-dl-fault-config`, watched by name: the fault-code
//! table (key `faultCode.json`) and the FaultFrequency/FaultDuration rules
//! (key `faultCustomization.json`). A value that does not parse, or is too
//! large, is refused with a warning and the one in force stays; a missing
//! key or a deleted ConfigMap returns to the start-up value (the file flag
//! or the built-in one). Upstream polls the ConfigMap every `PollInterval`
//! seconds; a watch sees each edit at once, so that key is only checked.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::Event;
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::device::customization::Customization;
use crate::device::faults::FaultTable;
use crate::device::faults::MAX_FAULT_TABLE;
use crate::device::monitor::MonitorCommand;

pub const NAMESPACE: &str = "kube-system";
pub const NAME: &str = "mindx-dl-fault-config";
pub const KEY: &str = "faultCode.json";
pub const CUSTOMIZATION_KEY: &str = "faultCustomization.json";
pub const POLL_INTERVAL_KEY: &str = "PollInterval";

/// What the watch makes of the `faultCustomization.json` key: a new rule
/// set to send, only when it differs from the one in force.
#[derive(Debug)]
pub struct CustomizationState {
    base: Arc<Customization>,
    current: Arc<Customization>,
    seen_in_listing: bool,
}

impl CustomizationState {
    pub fn new(base: Arc<Customization>) -> Self {
        Self {
            current: Arc::clone(&base),
            base,
            seen_in_listing: false,
        }
    }

    pub fn on_event(&mut self, event: &Event<ConfigMap>) -> Option<Arc<Customization>> {
        match event {
            Event::Init => {
                self.seen_in_listing = false;
                None
            }
            Event::InitApply(cm) => {
                self.seen_in_listing = true;
                self.adopt(cm)
            }
            Event::Apply(cm) => self.adopt(cm),
            Event::InitDone if !self.seen_in_listing => self.switch(Arc::clone(&self.base)),
            Event::InitDone => None,
            Event::Delete(_) => self.switch(Arc::clone(&self.base)),
        }
    }

    fn adopt(&mut self, cm: &ConfigMap) -> Option<Arc<Customization>> {
        let data = cm.data.as_ref();
        if let Some(interval) = data.and_then(|d| d.get(POLL_INTERVAL_KEY)) {
            let valid = interval
                .trim()
                .parse::<u64>()
                .is_ok_and(|s| (30..=3600).contains(&s));
            if !valid {
                tracing::warn!(
                    configmap = NAME,
                    key = POLL_INTERVAL_KEY,
                    "not 30..3600 seconds; upstream would poll every 300 s (this plugin watches, so edits apply at once)"
                );
            }
        }
        let Some(text) = data.and_then(|d| d.get(CUSTOMIZATION_KEY)) else {
            return self.switch(Arc::clone(&self.base));
        };
        match Customization::parse(text.as_bytes(), MAX_FAULT_TABLE) {
            Ok((rules, warnings)) => {
                for warning in warnings {
                    tracing::warn!(configmap = NAME, key = CUSTOMIZATION_KEY, %warning, "fault rules");
                }
                self.switch(Arc::new(rules))
            }
            Err(error) => {
                tracing::warn!(configmap = NAME, key = CUSTOMIZATION_KEY, %error, "fault rules refused; the rules in force stay");
                None
            }
        }
    }

    fn switch(&mut self, rules: Arc<Customization>) -> Option<Arc<Customization>> {
        if *rules == *self.current {
            return None;
        }
        tracing::info!(
            configmap = NAME,
            frequency_rules = rules.frequency.len(),
            duration_rules = rules.duration.len(),
            "fault rules in force changed"
        );
        self.current = Arc::clone(&rules);
        Some(rules)
    }
}

/// The table a ConfigMap carries, with the parser's warnings.
pub fn table_from(cm: &ConfigMap) -> Result<(FaultTable, Vec<String>), String> {
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(KEY))
        .ok_or_else(|| format!("ConfigMap {NAMESPACE}/{NAME} has no {KEY} key"))?;
    FaultTable::parse(text.as_bytes(), MAX_FAULT_TABLE)
        .map_err(|e| format!("ConfigMap {NAMESPACE}/{NAME} key {KEY}: {e}"))
}

/// The tables that may be in force: the start-up one (`--fault-code-file`
/// or built in, reloaded on SIGHUP) and the ConfigMap's, which wins while
/// it exists. Shared by the ConfigMap watch and the SIGHUP handler so that
/// neither undoes the other.
#[derive(Debug)]
pub struct FaultTables {
    base: std::sync::Mutex<Arc<FaultTable>>,
    configmap: std::sync::Mutex<Option<Arc<FaultTable>>>,
}

impl FaultTables {
    pub fn new(base: Arc<FaultTable>) -> Self {
        Self {
            base: std::sync::Mutex::new(base),
            configmap: std::sync::Mutex::default(),
        }
    }

    /// The table in force.
    pub fn effective(&self) -> Arc<FaultTable> {
        let configmap = self
            .configmap
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        configmap
            .unwrap_or_else(|| Arc::clone(&self.base.lock().unwrap_or_else(|p| p.into_inner())))
    }

    /// A reloaded start-up table; returns the table in force.
    pub fn set_base(&self, table: Arc<FaultTable>) -> Arc<FaultTable> {
        *self.base.lock().unwrap_or_else(|p| p.into_inner()) = table;
        self.effective()
    }

    fn has_configmap(&self) -> bool {
        self.configmap
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    fn set_configmap(&self, table: Option<Arc<FaultTable>>) -> Arc<FaultTable> {
        *self.configmap.lock().unwrap_or_else(|p| p.into_inner()) = table;
        self.effective()
    }
}

/// What the watcher does with each event: the command to send, if any.
#[derive(Debug)]
pub struct FaultConfigState {
    tables: Arc<FaultTables>,
    seen_in_listing: bool,
}

impl FaultConfigState {
    pub fn new(tables: Arc<FaultTables>) -> Self {
        Self {
            tables,
            seen_in_listing: false,
        }
    }

    pub fn on_event(&mut self, event: Event<ConfigMap>) -> Option<Arc<FaultTable>> {
        match event {
            Event::Init => {
                self.seen_in_listing = false;
                None
            }
            Event::InitApply(cm) => {
                self.seen_in_listing = true;
                self.adopt(&cm)
            }
            Event::Apply(cm) => self.adopt(&cm),
            Event::InitDone if !self.seen_in_listing => self.revert(),
            Event::InitDone => None,
            Event::Delete(_) => self.revert(),
        }
    }

    fn adopt(&mut self, cm: &ConfigMap) -> Option<Arc<FaultTable>> {
        match table_from(cm) {
            Ok((table, warnings)) => {
                for warning in warnings {
                    tracing::warn!(configmap = NAME, %warning, "fault-code table");
                }
                tracing::info!(
                    configmap = NAME,
                    "fault-code table from the ConfigMap in force"
                );
                Some(self.tables.set_configmap(Some(Arc::new(table))))
            }
            Err(error) => {
                tracing::warn!(%error, "fault-code table refused; the table in force stays");
                None
            }
        }
    }

    fn revert(&mut self) -> Option<Arc<FaultTable>> {
        if !self.tables.has_configmap() {
            return None;
        }
        tracing::info!(
            configmap = NAME,
            "fault-code ConfigMap gone; back to the start-up table"
        );
        Some(self.tables.set_configmap(None))
    }
}

/// Watches the ConfigMap until `stop`, sending each new table to the monitor.
pub async fn run(
    client: Client,
    tables: Arc<FaultTables>,
    rules: Arc<Customization>,
    commands: mpsc::Sender<MonitorCommand>,
    stop: CancellationToken,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, NAMESPACE);
    let config = super::watch_config().fields(&format!("metadata.name={NAME}"));
    let what = format!("ConfigMap {NAMESPACE}/{NAME}");
    let events = super::watch_events(api, config, what, || {});
    tokio::pin!(events);
    let mut state = FaultConfigState::new(tables);
    let mut rule_state = CustomizationState::new(rules);
    while let Some(Some(event)) = stop.run_until_cancelled(events.next()).await {
        if let Some(rules) = rule_state.on_event(&event) {
            let _ = commands.send(MonitorCommand::SetCustomization(rules)).await;
        }
        if let Some(table) = state.on_event(event) {
            let _ = commands.send(MonitorCommand::SetTable(table)).await;
        }
    }
}

#[cfg(test)]
mod tests;
