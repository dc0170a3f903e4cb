//! Soft share's names (recovery spec §4.6): the normal resource
//! (`huawei.com/Ascend910`), each chip advertised 100 times as
//! `<Type>-<phy>-<i>`, i = 0..99, and which nodes may run it.

use super::settings::SOFT_SHARE_SLOTS;
use crate::device::model::Family;
use crate::device::naming::{AdvertisedDevice, Backing, Naming};

/// The node cannot run soft share; names the flag and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoftShareNodeError {
    #[error(
        "-softShareDevConfigDir: soft share needs 910B (Atlas 800I A2) or 910A3 (Atlas 800I A3) chips, but this node has {family} chips"
    )]
    Family { family: Family },
    #[error(
        "-softShareDevConfigDir on a 910A3 node needs -useSingleDieMode=true (each die is shared on its own)"
    )]
    NeedsSingleDie,
    #[error(
        "-softShareDevConfigDir: soft share on 950 chips needs their D-die id from the dcmiv2 API, which this build does not read yet"
    )]
    A5NotYet,
    #[error("-softShareDevConfigDir: the node has no chips to share")]
    NoChips,
    #[error("-softShareDevConfigDir: chip {id} is a vNPU; soft share shares whole chips")]
    Virtual { id: String },
}

/// Whether a node of `family` may run soft share. Upstream's 310/310P
/// would combine soft share with their hard-share IDs and then refuse every
/// request; we refuse at start instead.
pub fn check_node(family: Option<Family>, single_die: bool) -> Result<(), SoftShareNodeError> {
    match family {
        None => Err(SoftShareNodeError::NoChips),
        Some(Family::Ascend910A3) if !single_die => Err(SoftShareNodeError::NeedsSingleDie),
        Some(Family::Ascend950) => Err(SoftShareNodeError::A5NotYet),
        Some(Family::Ascend910B | Family::Ascend910A3) => Ok(()),
        Some(family) => Err(SoftShareNodeError::Family { family }),
    }
}

/// The default naming of whole chips, each chip expanded into its 100
/// soft-share IDs (in phy then slot order).
pub fn expand(naming: Naming) -> Result<Naming, SoftShareNodeError> {
    let mut out = naming;
    for resource in &mut out.resources {
        let mut devices = Vec::with_capacity(resource.devices.len() * SOFT_SHARE_SLOTS as usize);
        for device in &resource.devices {
            let Backing::Chip { phy_id } = device.backing else {
                return Err(SoftShareNodeError::Virtual {
                    id: device.id.clone(),
                });
            };
            devices.extend((0..SOFT_SHARE_SLOTS).map(|slot| AdvertisedDevice {
                id: format!("{}-{slot}", device.id),
                backing: Backing::Share { phy_id, slot },
            }));
        }
        resource.devices = devices;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::device::naming::Resource;

    fn whole_chips(phys: &[u32]) -> Naming {
        Naming {
            resources: vec![Resource {
                type_name: "Ascend910".into(),
                family: Family::Ascend910B,
                is_virtual: false,
                devices: phys
                    .iter()
                    .map(|&phy_id| AdvertisedDevice {
                        id: format!("Ascend910-{phy_id}"),
                        backing: Backing::Chip { phy_id },
                    })
                    .collect(),
            }],
            skipped: Vec::new(),
        }
    }

    #[test]
    fn each_chip_is_advertised_a_hundred_times_under_the_normal_resource() {
        let naming = expand(whole_chips(&[0, 7])).unwrap();
        let resource = &naming.resources[0];
        assert_eq!(resource.resource_name(), "huawei.com/Ascend910");
        assert_eq!(resource.socket_name(), "Ascend910.sock");
        assert_eq!(resource.devices.len(), 200);
        assert_eq!(resource.devices[0].id, "Ascend910-0-0");
        assert_eq!(resource.devices[99].id, "Ascend910-0-99");
        assert_eq!(
            resource.devices[100],
            AdvertisedDevice {
                id: "Ascend910-7-0".into(),
                backing: Backing::Share { phy_id: 7, slot: 0 }
            }
        );
    }

    #[test]
    fn vnpus_cannot_be_soft_shared() {
        let mut naming = whole_chips(&[0]);
        naming.resources[0].devices[0].backing = Backing::Vnpu {
            phy_id: 0,
            vdev_id: 100,
        };
        assert!(matches!(
            expand(naming),
            Err(SoftShareNodeError::Virtual { .. })
        ));
    }

    #[test]
    fn only_910b_and_a3_in_single_die_mode_nodes_run_soft_share() {
        assert_eq!(check_node(Some(Family::Ascend910B), false), Ok(()));
        assert_eq!(check_node(Some(Family::Ascend910A3), true), Ok(()));
        assert_eq!(
            check_node(Some(Family::Ascend950), false),
            Err(SoftShareNodeError::A5NotYet)
        );
        assert_eq!(
            check_node(Some(Family::Ascend910A3), false),
            Err(SoftShareNodeError::NeedsSingleDie)
        );
        for family in [
            Family::Ascend310,
            Family::Ascend310B,
            Family::Ascend310P,
            Family::Ascend910,
        ] {
            let error = check_node(Some(family), true).unwrap_err();
            assert!(
                error.to_string().contains("-softShareDevConfigDir"),
                "{error}"
            );
        }
        assert_eq!(check_node(None, true), Err(SoftShareNodeError::NoChips));
    }
}
