//! Resource names and device IDs exactly as the Ascend ecosystem spells them.
//!
//! `spec/compat.md` §2: physical `<Type>-<phy>`, static vNPU
//! `<Type>-<suffix>-<vdev>-<phy>`, share mode `<Type>-<phy>-<i>`, 310P mixed
//! insert per product type, dynamic vNPU `npu-core-N`. IDs derive only from
//! driver ids, so they are stable across restarts of the plugin and kubelet.

use super::model::{Chip, Family, Inventory};

/// Template name -> resource suffix of static vNPUs.
const TEMPLATE_SUFFIXES: &[(&str, &str)] = &[
    ("vir01", "1c"),
    ("vir02", "2c"),
    ("vir04", "4c"),
    ("vir08", "8c"),
    ("vir16", "16c"),
    ("vir02_1c", "2c.1cpu"),
    ("vir04_3c", "4c.3cpu"),
    ("vir04_3c_ndvpp", "4c.3cpu.ndvpp"),
    ("vir04_4c_dvpp", "4c.4cpu.dvpp"),
    ("vir03_1c_8g", "3c.1cpu.8g"),
    ("vir05_1c_8g", "5c.1cpu.8g"),
    ("vir05_1c_16g", "5c.1cpu.16g"),
    ("vir06_1c_16g", "6c.1cpu.16g"),
    ("vir10_3c_16g", "10c.3cpu.16g"),
    ("vir10_3c_16g_nm", "10c.3cpu.16g.ndvpp"),
    ("vir10_3c_32g", "10c.3cpu.32g"),
    ("vir10_4c_16g_m", "10c.4cpu.16g.dvpp"),
    ("vir12_3c_32g", "12c.3cpu.32g"),
];

/// The resource suffix of a vNPU template, e.g. `vir02` -> `2c`.
pub fn template_suffix(template: &str) -> Option<&'static str> {
    TEMPLATE_SUFFIXES
        .iter()
        .find(|(name, _)| *name == template)
        .map(|(_, suffix)| *suffix)
}

/// True when `template` is a template name the driver accepts for creation.
pub fn is_known_template(template: &str) -> bool {
    template_suffix(template).is_some()
}

/// Name of the single dynamic-vNPU resource.
pub const NPU_CORE: &str = "npu-core";

/// What stands behind one advertised device ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backing {
    /// A whole physical chip.
    Chip { phy_id: u32 },
    /// A pre-created vNPU on chip `phy_id`.
    Vnpu { phy_id: u32, vdev_id: u32 },
    /// Slot `slot` of a chip shared `shareDevCount` times.
    Share { phy_id: u32, slot: u32 },
    /// One AI core of chip `phy_id` (dynamic vNPU mode).
    Core { phy_id: u32, core: u32 },
}

impl Backing {
    /// The physical chip behind this device.
    pub fn phy_id(self) -> u32 {
        match self {
            Backing::Chip { phy_id }
            | Backing::Vnpu { phy_id, .. }
            | Backing::Share { phy_id, .. }
            | Backing::Core { phy_id, .. } => phy_id,
        }
    }
}

/// One device ID as kubelet sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedDevice {
    pub id: String,
    pub backing: Backing,
}

/// One kubelet resource: one socket, one `huawei.com/<type_name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `Ascend910`, `Ascend310P-2c`, `npu-core`, ...
    pub type_name: String,
    pub family: Family,
    /// True for vNPU resources (static or dynamic).
    pub is_virtual: bool,
    pub devices: Vec<AdvertisedDevice>,
}

impl Resource {
    /// `huawei.com/<type_name>`
    pub fn resource_name(&self) -> String {
        format!("huawei.com/{}", self.type_name)
    }

    /// `<type_name>.sock`, the file name in kubelet's device-plugin directory.
    pub fn socket_name(&self) -> String {
        format!("{}.sock", self.type_name)
    }

    pub fn device(&self, id: &str) -> Option<&AdvertisedDevice> {
        self.devices.iter().find(|device| device.id == id)
    }
}

/// How to turn chips into resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamingOptions {
    pub share_dev_count: u32,
    pub mixed_insert_310p: bool,
    /// presetVirtualDevice=false: one `npu-core` resource of AI cores.
    pub dynamic_vnpu: bool,
}

/// The chips cannot be advertised as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    #[error("-shareDevCount={count} needs 310 or 310P chips, but this node has {family} chips")]
    ShareNeedsInference { count: u32, family: Family },
    #[error(
        "-use310PMixedInsert: chip {chip} has product type {product:?}, not one of \"Atlas 300V\", \"Atlas 300V Pro\", \"Atlas 300I Pro\""
    )]
    UnknownMixedProduct {
        chip: String,
        product: Option<String>,
    },
    #[error("-use310PMixedInsert needs 310P chips, but chip {chip} is {family}")]
    MixedNeeds310P { chip: String, family: Family },
    #[error(
        "-presetVirtualDevice=false (dynamic vNPUs) is not supported on Ascend 950 chips; remove the flag"
    )]
    DynamicVnpuOn950,
}

/// Resources to serve, plus vNPUs that could not be named (unknown template).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Naming {
    pub resources: Vec<Resource>,
    pub skipped: Vec<String>,
}

/// Names every chip and vNPU of the inventory. Resources come out sorted by
/// type name, devices in phy-id order, so the output is deterministic.
pub fn name_devices(inventory: &Inventory, options: NamingOptions) -> Result<Naming, NamingError> {
    let mut naming = Naming::default();
    if let Some(family) = inventory.family()
        && options.share_dev_count > 1
        && !family.supports_share_mode()
    {
        return Err(NamingError::ShareNeedsInference {
            count: options.share_dev_count,
            family,
        });
    }
    // Upstream refuses it too: the 950 generation creates no vNPUs.
    if options.dynamic_vnpu && inventory.family() == Some(Family::Ascend950) {
        return Err(NamingError::DynamicVnpuOn950);
    }
    let mut chips: Vec<&Chip> = inventory.chips.iter().collect();
    chips.sort_by_key(|chip| chip.phy_id);

    for chip in chips {
        if options.dynamic_vnpu {
            for core in 0..chip.aicore {
                let index = resource_len(&naming, NPU_CORE);
                push(
                    &mut naming,
                    NPU_CORE,
                    chip.family,
                    true,
                    format!("{NPU_CORE}-{index}"),
                    Backing::Core {
                        phy_id: chip.phy_id,
                        core,
                    },
                );
            }
            continue;
        }
        let base = chip_type_name(chip, options)?;
        if !chip.vnpus.is_empty() {
            for vnpu in &chip.vnpus {
                let Some(suffix) = template_suffix(&vnpu.template) else {
                    naming.skipped.push(format!(
                        "vNPU {} on {} has unknown template {:?}",
                        vnpu.vdev_id,
                        chip.name(),
                        vnpu.template
                    ));
                    continue;
                };
                let type_name = format!("{base}-{suffix}");
                let id = format!("{type_name}-{}-{}", vnpu.vdev_id, chip.phy_id);
                let backing = Backing::Vnpu {
                    phy_id: chip.phy_id,
                    vdev_id: vnpu.vdev_id,
                };
                push(&mut naming, &type_name, chip.family, true, id, backing);
            }
            continue;
        }
        if options.share_dev_count > 1 {
            for slot in 0..options.share_dev_count {
                let id = format!("{base}-{}-{slot}", chip.phy_id);
                let backing = Backing::Share {
                    phy_id: chip.phy_id,
                    slot,
                };
                push(&mut naming, &base, chip.family, false, id, backing);
            }
            continue;
        }
        let id = format!("{base}-{}", chip.phy_id);
        let backing = Backing::Chip {
            phy_id: chip.phy_id,
        };
        push(&mut naming, &base, chip.family, false, id, backing);
    }
    naming
        .resources
        .sort_by(|a, b| a.type_name.cmp(&b.type_name));
    Ok(naming)
}

/// `<Type>` for a physical chip, honouring 310P mixed insert.
fn chip_type_name(chip: &Chip, options: NamingOptions) -> Result<String, NamingError> {
    if !options.mixed_insert_310p {
        return Ok(chip.family.resource_type().to_string());
    }
    if chip.family != Family::Ascend310P {
        return Err(NamingError::MixedNeeds310P {
            chip: chip.name(),
            family: chip.family,
        });
    }
    let suffix = match chip.product_type.as_deref().map(str::trim) {
        Some("Atlas 300V") => "V",
        Some("Atlas 300V Pro") => "VPro",
        Some("Atlas 300I Pro") => "IPro",
        _ => {
            return Err(NamingError::UnknownMixedProduct {
                chip: chip.name(),
                product: chip.product_type.clone(),
            });
        }
    };
    Ok(format!("Ascend310P-{suffix}"))
}

fn resource_len(naming: &Naming, type_name: &str) -> usize {
    naming
        .resources
        .iter()
        .find(|resource| resource.type_name == type_name)
        .map_or(0, |resource| resource.devices.len())
}

fn push(
    naming: &mut Naming,
    type_name: &str,
    family: Family,
    is_virtual: bool,
    id: String,
    backing: Backing,
) {
    let device = AdvertisedDevice { id, backing };
    match naming
        .resources
        .iter_mut()
        .find(|resource| resource.type_name == type_name)
    {
        Some(resource) => resource.devices.push(device),
        None => naming.resources.push(Resource {
            type_name: type_name.to_string(),
            family,
            is_virtual,
            devices: vec![device],
        }),
    }
}

#[cfg(test)]
mod tests;
