//! `inspect`: the node as the plugin sees it, as a table or as JSON.

use serde::Serialize;

use crate::device::health::{ChipState, Snapshot};
use crate::device::model::{Chip, Inventory};
use crate::device::naming::Naming;

#[derive(Debug, Serialize)]
struct ResourceView {
    resource: String,
    devices: Vec<String>,
}

fn resources(naming: &Naming) -> Vec<ResourceView> {
    naming
        .resources
        .iter()
        .map(|r| ResourceView {
            resource: r.resource_name(),
            devices: r.devices.iter().map(|d| d.id.clone()).collect(),
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct ChipView<'a> {
    #[serde(flatten)]
    chip: &'a Chip,
    name: String,
    health: &'static str,
    fault_level: &'static str,
    fault_codes: Vec<String>,
    network_healthy: bool,
}

#[derive(Debug, Serialize)]
struct NodeView<'a> {
    dcmi_version: &'a Option<String>,
    super_pod: &'a Option<crate::device::model::SuperPod>,
    chips: Vec<ChipView<'a>>,
    resources: Vec<ResourceView>,
    skipped_vnpus: &'a [String],
}

fn health_of(state: Option<&ChipState>) -> (&'static str, &'static str, Vec<String>, bool) {
    match state {
        Some(state) => (
            if state.healthy {
                "Healthy"
            } else {
                "Unhealthy"
            },
            state.level.as_str(),
            state.faults.iter().map(|f| f.code.to_string()).collect(),
            state.network_healthy,
        ),
        None => ("Unknown", "", Vec::new(), true),
    }
}

/// Machine-readable form: every discovery field plus health.
pub fn render_json(
    inventory: &Inventory,
    naming: &Naming,
    snapshot: &Snapshot,
) -> Result<String, serde_json::Error> {
    let chips = inventory
        .chips
        .iter()
        .map(|chip| {
            let (health, fault_level, fault_codes, network_healthy) =
                health_of(snapshot.chips.get(&chip.phy_id));
            ChipView {
                chip,
                name: chip.name(),
                health,
                fault_level,
                fault_codes,
                network_healthy,
            }
        })
        .collect();
    serde_json::to_string_pretty(&NodeView {
        dcmi_version: &inventory.dcmi_version,
        super_pod: &inventory.super_pod,
        chips,
        resources: resources(naming),
        skipped_vnpus: &naming.skipped,
    })
}

/// Human-readable table, one row per chip, then the resources.
pub fn render_table(inventory: &Inventory, naming: &Naming, snapshot: &Snapshot) -> String {
    let header = [
        "CARD", "CHIP", "PHY", "LOGIC", "FAMILY", "NAME", "HEALTH", "FAULTS", "VNPUS", "IP",
        "MEMORY",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for chip in &inventory.chips {
        let (health, _, codes, network_healthy) = health_of(snapshot.chips.get(&chip.phy_id));
        let health = if network_healthy {
            health.to_string()
        } else {
            format!("{health} (network down)")
        };
        let vnpus = chip
            .vnpus
            .iter()
            .map(|v| format!("{}:{}", v.vdev_id, v.template))
            .collect::<Vec<_>>()
            .join(",");
        rows.push(vec![
            chip.card_id.to_string(),
            chip.device_index.to_string(),
            chip.phy_id.to_string(),
            chip.logic_id.to_string(),
            chip.family.name().to_string(),
            chip.chip_name.clone(),
            health,
            or_dash(codes.join(",")),
            or_dash(vnpus),
            chip.ip.map_or("-".to_string(), |ip| ip.to_string()),
            chip.memory_mb.map_or("-".to_string(), |mb| {
                format!("{mb} MB {:?}", chip.memory_kind).to_uppercase()
            }),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|col| rows.iter().map(|row| row[col].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push('\n');
    for resource in resources(naming) {
        out.push_str(&format!(
            "{}: {}\n",
            resource.resource,
            resource.devices.join(",")
        ));
    }
    for skipped in &naming.skipped {
        out.push_str(&format!("not advertised: {skipped}\n"));
    }
    out
}

fn or_dash(text: String) -> String {
    if text.is_empty() {
        "-".to_string()
    } else {
        text
    }
}
