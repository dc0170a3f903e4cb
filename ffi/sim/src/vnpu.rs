//! vNPU templates, allocation on a chip, and the `<state>.vnpu.json` store
//! that keeps created vNPUs across restarts of the consumer.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Lowest vNPU id.
pub const FIRST_VDEV_ID: u32 = 100;
/// Highest vNPU id consumers accept.
pub const LAST_VDEV_ID: u32 = 1123;

/// Every template the simulator can create; the AI cores of each are the
/// number after "vir".
pub const TEMPLATES: [&str; 18] = [
    "vir01",
    "vir02",
    "vir02_1c",
    "vir03_1c_8g",
    "vir04",
    "vir04_3c",
    "vir04_3c_ndvpp",
    "vir04_4c_dvpp",
    "vir05_1c_8g",
    "vir05_1c_16g",
    "vir06_1c_16g",
    "vir08",
    "vir10_3c_16g",
    "vir10_3c_16g_nm",
    "vir10_3c_32g",
    "vir10_4c_16g_m",
    "vir12_3c_32g",
    "vir16",
];

/// One vNPU on a chip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vnpu {
    /// Node-wide id, 100..=1123.
    pub vdev_id: u32,
    /// Template name, one of [`TEMPLATES`].
    pub template: String,
}

/// AI cores of a known template.
pub fn template_aicore(template: &str) -> Option<u32> {
    if !TEMPLATES.contains(&template) {
        return None;
    }
    template.strip_prefix("vir")?.get(..2)?.parse().ok()
}

/// Checks a chip's vNPU list: known templates, ids in range, cores that fit.
pub fn check_chip_vnpus(vnpus: &[Vnpu], chip_aicore: u32) -> Result<(), String> {
    if vnpus.len() > dcmi_abi::DCMI_SOC_SPLIT_MAX {
        return Err(format!("{} vNPUs; a chip has at most 32", vnpus.len()));
    }
    let mut cores = 0;
    for vnpu in vnpus {
        if !(FIRST_VDEV_ID..=LAST_VDEV_ID).contains(&vnpu.vdev_id) {
            return Err(format!(
                "vdev_id {} must be {FIRST_VDEV_ID}..={LAST_VDEV_ID}",
                vnpu.vdev_id
            ));
        }
        cores += template_aicore(&vnpu.template)
            .ok_or_else(|| format!("unknown vNPU template {:?}", vnpu.template))?;
    }
    if cores > chip_aicore {
        return Err(format!(
            "vNPUs use {cores} AI cores; the chip has {chip_aicore}"
        ));
    }
    Ok(())
}

/// AI cores the vNPUs take.
pub fn used_aicore(vnpus: &[Vnpu]) -> u32 {
    vnpus
        .iter()
        .filter_map(|vnpu| template_aicore(&vnpu.template))
        .sum()
}

/// The lowest id >= 100 that no vNPU of the node uses.
pub fn next_free_id<'a>(all: impl Iterator<Item = &'a Vnpu> + Clone) -> Option<u32> {
    (FIRST_VDEV_ID..=LAST_VDEV_ID).find(|id| !all.clone().any(|vnpu| vnpu.vdev_id == *id))
}

/// Every vNPU of the node, by chip physical id.
pub type VnpuMap = BTreeMap<u32, Vec<Vnpu>>;

/// The persisted form: only valid for the topology it names.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Store {
    topology: String,
    chips: VnpuMap,
}

/// Reads the store; `None` when absent, unreadable or for another topology.
pub fn load_store(path: &Path, topology: &str) -> Option<VnpuMap> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str::<Store>(&text) {
        Ok(store) if store.topology == topology => Some(store.chips),
        Ok(_) => None,
        Err(error) => {
            eprintln!("dcmi-sim: ignoring vNPU store {}: {error}", path.display());
            None
        }
    }
}

/// Writes the store atomically.
pub fn save_store(path: &Path, topology: &str, chips: &VnpuMap) -> std::io::Result<()> {
    let store = Store {
        topology: topology.to_owned(),
        chips: chips.clone(),
    };
    let text = serde_json::to_string_pretty(&store).map_err(std::io::Error::other)?;
    crate::state::write_atomically(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_templates_ai_cores_are_the_number_after_vir() {
        assert_eq!(template_aicore("vir01"), Some(1));
        assert_eq!(template_aicore("vir04_3c_ndvpp"), Some(4));
        assert_eq!(template_aicore("vir10_3c_32g"), Some(10));
        assert_eq!(template_aicore("vir16"), Some(16));
        assert_eq!(template_aicore("vir03"), None);
        assert_eq!(template_aicore("bogus"), None);
    }

    #[test]
    fn the_next_free_id_skips_ids_in_use_on_any_chip() {
        let used = [
            Vnpu {
                vdev_id: 100,
                template: "vir02".into(),
            },
            Vnpu {
                vdev_id: 102,
                template: "vir02".into(),
            },
        ];
        assert_eq!(next_free_id(used.iter()), Some(101));
    }

    #[test]
    fn vnpus_that_need_more_cores_than_the_chip_has_are_rejected() {
        let vnpus = [
            Vnpu {
                vdev_id: 100,
                template: "vir04".into(),
            },
            Vnpu {
                vdev_id: 101,
                template: "vir08".into(),
            },
        ];
        assert!(
            check_chip_vnpus(&vnpus, 8)
                .unwrap_err()
                .contains("12 AI cores")
        );
        assert!(check_chip_vnpus(&vnpus, 12).is_ok());
    }
}
