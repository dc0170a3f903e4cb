//! Soft share on the cluster side (recovery spec §4.6, "free chips in the
//! CM"): a chip holding soft-share pods stays listed free in the
//! device-info ConfigMap until their AI-core quotas add up to a whole chip.
//! A pod's quota is the number of kubelet IDs it holds, each ID being one
//! percent of a chip. (Upstream also keeps the chip free only while the
//! pods' HBM quotas stay under its memory; the HBM quotas are not counted
//! here.)

use std::collections::{BTreeMap, BTreeSet};

use super::assignments::Assignments;
use super::podresources::Usage;
use crate::config::modes::SOFT_SHARE_SLOTS;
use crate::device::naming::{Backing, Resource};

/// Whether `resources` are soft-shared: 910-family share slots exist only
/// in soft share (hard share is 310/310P only).
fn soft_shared(resources: &[Resource]) -> bool {
    resources.iter().any(|r| {
        r.family.is_910_family()
            && r.devices
                .iter()
                .any(|d| matches!(d.backing, Backing::Share { .. }))
    })
}

/// The chips the ConfigMap lists as not free: `used` as it is, except on a
/// soft-share node, where only chips whose kubelet IDs in use (mapped to
/// their real chip) reach [`SOFT_SHARE_SLOTS`].
pub fn not_free(
    resources: &[Resource],
    usage: &Usage,
    assignments: &Assignments,
    used: &BTreeSet<u32>,
) -> BTreeSet<u32> {
    if !soft_shared(resources) {
        return used.clone();
    }
    let mut percent: BTreeMap<u32, u32> = BTreeMap::new();
    for pod in &usage.pods {
        let Some(resource) = resources.iter().find(|r| r.type_name == pod.resource_type) else {
            continue;
        };
        for id in &pod.ids {
            let phy = assignments
                .real_phy(&resource.type_name, id)
                .or_else(|| resource.device(id).map(|d| d.backing.phy_id()));
            if let Some(phy) = phy {
                *percent.entry(phy).or_default() += 1;
            }
        }
    }
    percent
        .into_iter()
        .filter(|(_, taken)| *taken >= SOFT_SHARE_SLOTS)
        .map(|(phy, _)| phy)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::model::Family;
    use crate::device::naming::AdvertisedDevice;
    use crate::k8s::podresources::PodDevices;

    fn resource(family: Family, share: bool) -> Resource {
        Resource {
            type_name: "Ascend910".into(),
            family,
            is_virtual: false,
            devices: (0..2)
                .flat_map(|phy| (0..100).map(move |slot| (phy, slot)))
                .map(|(phy_id, slot)| AdvertisedDevice {
                    id: format!("Ascend910-{phy_id}-{slot}"),
                    backing: if share {
                        Backing::Share { phy_id, slot }
                    } else {
                        Backing::Chip { phy_id }
                    },
                })
                .collect(),
        }
    }

    fn pod(name: &str, ids: Vec<String>) -> PodDevices {
        PodDevices {
            namespace: "ml".into(),
            name: name.into(),
            resource_type: "Ascend910".into(),
            ids,
        }
    }

    fn ids(chip: u32, slots: std::ops::Range<u32>) -> Vec<String> {
        slots.map(|s| format!("Ascend910-{chip}-{s}")).collect()
    }

    #[test]
    fn a_soft_shared_chip_stays_free_until_its_quotas_make_a_whole_chip() {
        let resources = [resource(Family::Ascend910B, true)];
        // kubelet gave IDs on chip 0; Volcano put both pods on chip 1.
        let mut map = Assignments::default();
        let a = ids(0, 0..60);
        let b = ids(0, 60..100);
        map.record_vnpu("Ascend910", &a, &[1; 60], None, "ml/a", "uid-a", 0);
        let used = BTreeSet::from([1]);
        let one = Usage {
            listed: true,
            pods: vec![pod("a", a.clone())],
        };
        assert!(not_free(&resources, &one, &map, &used).is_empty());
        map.record_vnpu("Ascend910", &b, &[1; 40], None, "ml/b", "uid-b", 0);
        let both = Usage {
            listed: true,
            pods: vec![pod("a", a), pod("b", b)],
        };
        assert_eq!(
            not_free(&resources, &both, &map, &used),
            BTreeSet::from([1])
        );
    }

    #[test]
    fn other_nodes_list_every_used_chip_as_not_free() {
        let used = BTreeSet::from([0, 1]);
        let usage = Usage::default();
        for resources in [
            [resource(Family::Ascend910B, false)],
            [resource(Family::Ascend310P, true)],
        ] {
            assert_eq!(
                not_free(&resources, &usage, &Assignments::default(), &used),
                used
            );
        }
    }
}
