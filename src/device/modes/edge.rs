//! Edge mode (`-fdFlag=true`, recovery spec §4.8) as far as the spec
//! determines it: the 310 run mode is named `davinci-mini` (resource
//! `huawei.com/davinci-mini`, IDs `davinci-mini-<phy>`), and the edge
//! driver's device nodes go into DeviceSpec answers when present. Logging
//! to `-edgeLogFile` is the config's part.

use std::collections::BTreeSet;
use std::path::Path;

use crate::device::model::Family;
use crate::device::naming::Naming;

/// The edge run mode's name for 310 and 310B chips.
pub const DAVINCI_MINI: &str = "davinci-mini";

/// Device nodes edge mode adds to every DeviceSpec answer when the host
/// has them (file names under `/dev`).
pub const EDGE_NODES: [&str; 7] = [
    "event_sched",
    "hi_dvpp",
    "log_drv",
    "memory_bandwidth",
    "svm0",
    "ts_aisle",
    "upgrade",
];

/// 310/310B resources renamed `davinci-mini` (other families keep their
/// names, as upstream names only the 310 run mode differently).
pub fn rename(naming: Naming) -> Naming {
    let mut out = naming;
    for resource in &mut out.resources {
        if !matches!(resource.family, Family::Ascend310 | Family::Ascend310B) {
            continue;
        }
        let old = resource.type_name.clone();
        resource.type_name = DAVINCI_MINI.to_owned();
        for device in &mut resource.devices {
            if let Some(rest) = device.id.strip_prefix(&old) {
                device.id = format!("{DAVINCI_MINI}{rest}");
            }
        }
    }
    out
}

/// Which of [`EDGE_NODES`] exist under the (injected) `/dev` root.
pub fn present_edge_nodes(dev_root: &Path) -> BTreeSet<String> {
    EDGE_NODES
        .iter()
        .filter(|name| dev_root.join(name).exists())
        .map(|name| (*name).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::device::naming::{AdvertisedDevice, Backing, Resource};

    fn resource(type_name: &str, family: Family, ids: &[(&str, u32)]) -> Resource {
        Resource {
            type_name: type_name.into(),
            family,
            is_virtual: false,
            devices: ids
                .iter()
                .map(|(id, phy_id)| AdvertisedDevice {
                    id: (*id).into(),
                    backing: Backing::Chip { phy_id: *phy_id },
                })
                .collect(),
        }
    }

    #[test]
    fn the_310_run_mode_is_davinci_mini_and_ids_follow_it() {
        let naming = Naming {
            resources: vec![resource(
                "Ascend310",
                Family::Ascend310B,
                &[("Ascend310-0", 0), ("Ascend310-3", 3)],
            )],
            skipped: Vec::new(),
        };
        let renamed = rename(naming);
        let resource = &renamed.resources[0];
        assert_eq!(resource.resource_name(), "huawei.com/davinci-mini");
        assert_eq!(resource.socket_name(), "davinci-mini.sock");
        let ids: Vec<&str> = resource.devices.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["davinci-mini-0", "davinci-mini-3"]);
        assert_eq!(resource.devices[1].backing, Backing::Chip { phy_id: 3 });
    }

    #[test]
    fn other_families_keep_their_names_in_edge_mode() {
        let naming = Naming {
            resources: vec![resource(
                "Ascend310P",
                Family::Ascend310P,
                &[("Ascend310P-1", 1)],
            )],
            skipped: Vec::new(),
        };
        assert_eq!(rename(naming.clone()), naming);
    }

    #[test]
    fn only_edge_nodes_the_host_has_are_listed() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("svm0"), b"").unwrap();
        std::fs::write(tmp.path().join("hi_dvpp"), b"").unwrap();
        std::fs::write(tmp.path().join("davinci0"), b"").unwrap();
        let found: Vec<String> = present_edge_nodes(tmp.path()).into_iter().collect();
        assert_eq!(found, ["hi_dvpp", "svm0"]);
    }
}
