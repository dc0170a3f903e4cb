//! The simulated node: cards, chips and their fixed properties, read from a
//! JSON topology file or one of the built-ins in `ffi/topologies/`.

use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Deserializer};

use crate::vnpu::{self, Vnpu};

/// The built-in topologies: (name, JSON text).
pub const BUILTIN: [(&str, &str); 8] = [
    ("910-8", include_str!("../../topologies/910-8.json")),
    ("910b-16", include_str!("../../topologies/910b-16.json")),
    ("a3-16", include_str!("../../topologies/a3-16.json")),
    ("a5-8", include_str!("../../topologies/a5-8.json")),
    (
        "310p-duo-vnpu",
        include_str!("../../topologies/310p-duo-vnpu.json"),
    ),
    ("310-4", include_str!("../../topologies/310-4.json")),
    (
        "310p-mixed",
        include_str!("../../topologies/310p-mixed.json"),
    ),
    ("310b-1", include_str!("../../topologies/310b-1.json")),
];

/// The topology used when `ASCEND_SIM_TOPOLOGY` is unset.
pub const DEFAULT_TOPOLOGY: &str = "910-8";

/// Why a topology could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// Neither a built-in name nor an existing file.
    #[error("not a built-in topology ({}) and no such file", builtin_names())]
    Unknown,
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Read(#[source] std::io::Error),
    /// The JSON does not match the schema.
    #[error("not a valid topology: {0}")]
    Parse(#[source] serde_json::Error),
    /// The values are inconsistent.
    #[error("{0}")]
    Invalid(String),
}

/// A simulated node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Short name; vNPU persistence is keyed by it.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Returned by `dcmi_get_dcmi_version`; doubles as the driver version.
    pub dcmi_version: String,
    /// Returned by `dcmi_get_mainboard_id`.
    #[serde(default, deserialize_with = "hex_u32")]
    pub mainboard_id: u32,
    /// Which API the simulated driver serves: 1 (`dcmi_*`, default) or 2
    /// (`dcmiv2_*`, Ascend 950): only that API's init succeeds.
    #[serde(default = "default_api")]
    pub dcmi_api: u8,
    /// In the order `dcmi_get_card_list` reports them.
    pub cards: Vec<Card>,
}

/// A card (a PCIe board or module slot) with one to four chips.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// Card id as DCMI reports it (need not start at 0).
    pub card_id: i32,
    /// `dcmi_get_product_type` ("Atlas 300I Duo"); empty = an empty string.
    #[serde(default)]
    pub product_type: String,
    /// `dcmi_get_npu_work_mode`: 0 AMP, 1 SMP.
    #[serde(default)]
    pub work_mode: u8,
    /// The chips (dies) on the card.
    pub chips: Vec<Chip>,
}

/// One chip (an A3 die counts as a chip).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chip {
    /// Device index inside the card (0..3).
    pub dev: i32,
    /// Logic id (node-wide, 0..255).
    pub logic_id: u32,
    /// Physical id: the N of /dev/davinciN (node-wide, 0..255).
    pub phy_id: u32,
    /// `chip_type`, default "Ascend".
    #[serde(default = "default_chip_type")]
    pub chip_type: String,
    /// `chip_name`: "910ProB", "910B3", "Ascend910", "310P3", "310", "310B1".
    pub chip_name: String,
    /// `chip_ver`, default "V1".
    #[serde(default = "default_chip_ver")]
    pub chip_ver: String,
    /// `npu_name` of chip info v2 (A3: "Ascend910_9392"); default empty.
    #[serde(default)]
    pub npu_name: String,
    /// AI cores.
    pub aicore: u32,
    /// Board id (number or "0x.." string).
    #[serde(deserialize_with = "hex_u32")]
    pub board_id: u32,
    /// PCB id.
    #[serde(default, deserialize_with = "hex_u32")]
    pub pcb_id: u32,
    /// BOM id.
    #[serde(default, deserialize_with = "hex_u32")]
    pub bom_id: u32,
    /// Slot id.
    #[serde(default, deserialize_with = "hex_u32")]
    pub slot_id: u32,
    /// Memory sizes.
    pub memory: Memory,
    /// RoCE addresses: at most one IPv4 and one IPv6.
    #[serde(default)]
    pub roce: Vec<RoceAddr>,
    /// PCIe location and ids.
    pub pcie: Pcie,
    /// Die ids; derived from the phy id when absent.
    #[serde(default)]
    pub die_ids: Option<DieIds>,
    /// Super-pod placement (A3 only).
    #[serde(default)]
    pub spod: Option<Spod>,
    /// Whether vNPUs can be created (false for 310 and 310B).
    #[serde(default = "default_true")]
    pub virtualization: bool,
    /// `dcmi_get_device_share_enable`.
    #[serde(default)]
    pub share_enable: bool,
    /// Pre-created vNPUs.
    #[serde(default)]
    pub vnpus: Vec<Vnpu>,
}

/// Memory in MB: HBM for the 910 family, DDR for every chip that reports it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// `dcmi_get_device_hbm_info`; absent = not supported.
    #[serde(default)]
    pub hbm_mb: Option<u64>,
    /// `dcmi_get_device_memory_info_v3` / `dcmi_get_memory_info`; absent = not supported.
    #[serde(default)]
    pub ddr_mb: Option<u64>,
}

impl Memory {
    /// The memory vNPUs are carved from: HBM when present, else DDR.
    pub fn main_mb(&self) -> u64 {
        self.hbm_mb.or(self.ddr_mb).unwrap_or(0)
    }
}

/// A RoCE port address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoceAddr {
    /// "192.168.100.101" or "fd00:1::10".
    pub address: IpAddr,
    /// Same family as the address.
    pub mask: IpAddr,
}

/// PCIe location (the plugin reads NUMA affinity from sysfs with it) and ids.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pcie {
    /// PCI domain.
    #[serde(default)]
    pub domain: i32,
    /// Bus number.
    #[serde(deserialize_with = "hex_u32")]
    pub bus: u32,
    /// Device number.
    #[serde(default, deserialize_with = "hex_u32")]
    pub device: u32,
    /// Function number.
    #[serde(default, deserialize_with = "hex_u32")]
    pub function: u32,
    /// Vendor id, default 0x19e5.
    #[serde(default = "default_vendor", deserialize_with = "hex_u32")]
    pub vendor_id: u32,
    /// Device id.
    #[serde(deserialize_with = "hex_u32")]
    pub device_id: u32,
    /// Subsystem vendor id.
    #[serde(default, deserialize_with = "hex_u32")]
    pub subvendor_id: u32,
    /// Subsystem device id.
    #[serde(default, deserialize_with = "hex_u32")]
    pub subdevice_id: u32,
}

/// Die ids for `dcmi_get_device_die_v2`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DieIds {
    /// NDIE.
    pub ndie: [u32; 5],
    /// VDIE.
    pub vdie: [u32; 5],
}

/// Super-pod placement of an A3 die.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spod {
    /// Super device id.
    pub sdid: u32,
    /// Super-pod id.
    pub super_pod_id: u32,
    /// Server index inside the super-pod.
    pub server_index: u32,
    /// Super-pod size.
    #[serde(default)]
    pub scale_type: u32,
    /// Chassis id.
    #[serde(default)]
    pub chassis_id: u32,
    /// Super-pod type.
    #[serde(default)]
    pub super_pod_type: u32,
}

fn builtin_names() -> String {
    BUILTIN
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn default_api() -> u8 {
    1
}

fn default_chip_type() -> String {
    "Ascend".into()
}

fn default_chip_ver() -> String {
    "V1".into()
}

fn default_true() -> bool {
    true
}

fn default_vendor() -> u32 {
    0x19e5
}

/// Accepts a JSON number or a string "0x1f" / "31".
fn hex_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Plain(u32),
        Text(String),
    }
    match Number::deserialize(deserializer)? {
        Number::Plain(value) => Ok(value),
        Number::Text(text) => {
            let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.map_err(|_| serde::de::Error::custom(format!("{text:?} is not a 32-bit number")))
        }
    }
}

impl Topology {
    /// Parses and validates a topology.
    pub fn from_json(text: &str) -> Result<Self, TopologyError> {
        let topology: Topology = serde_json::from_str(text).map_err(TopologyError::Parse)?;
        topology.validate().map_err(TopologyError::Invalid)?;
        Ok(topology)
    }

    /// Loads a built-in by name, or else the file at `spec`.
    pub fn load(spec: &str) -> Result<Self, TopologyError> {
        if let Some((_, text)) = BUILTIN.iter().find(|(name, _)| *name == spec) {
            return Self::from_json(text);
        }
        let text =
            std::fs::read_to_string(Path::new(spec)).map_err(|error| match error.kind() {
                std::io::ErrorKind::NotFound => TopologyError::Unknown,
                _ => TopologyError::Read(error),
            })?;
        Self::from_json(&text)
    }

    /// Every chip with its card, in card-list order.
    pub fn chips(&self) -> impl Iterator<Item = (&Card, &Chip)> {
        self.cards
            .iter()
            .flat_map(|card| card.chips.iter().map(move |chip| (card, chip)))
    }

    /// The card with this id.
    pub fn card(&self, card_id: i32) -> Option<&Card> {
        self.cards.iter().find(|card| card.card_id == card_id)
    }

    /// The chip with this logic id.
    pub fn by_logic(&self, logic_id: u32) -> Option<(&Card, &Chip)> {
        self.chips().find(|(_, chip)| chip.logic_id == logic_id)
    }

    /// The chip with this physical id.
    pub fn by_phy(&self, phy_id: u32) -> Option<(&Card, &Chip)> {
        self.chips().find(|(_, chip)| chip.phy_id == phy_id)
    }

    fn validate(&self) -> Result<(), String> {
        check_text("name", &self.name, 64)?;
        if self.name.is_empty() {
            return Err("name is empty".into());
        }
        check_text(
            "dcmi_version",
            &self.dcmi_version,
            dcmi_abi::DCMI_VERSION_LEN,
        )?;
        if !(1..=2).contains(&self.dcmi_api) {
            return Err(format!("dcmi_api is {}; it is 1 or 2", self.dcmi_api));
        }
        if self.cards.is_empty() || self.cards.len() > dcmi_abi::MAX_CARD_NUM {
            return Err(format!("{} cards; a node has 1..=64", self.cards.len()));
        }
        let mut vdev_ids = Vec::new();
        for (index, card) in self.cards.iter().enumerate() {
            let at = format!("cards[{index}] (card_id {})", card.card_id);
            if card.card_id < 0 {
                return Err(format!("{at}: card_id is negative"));
            }
            if self.cards[..index]
                .iter()
                .any(|other| other.card_id == card.card_id)
            {
                return Err(format!("{at}: card_id is used twice"));
            }
            check_text(
                &format!("{at}: product_type"),
                &card.product_type,
                dcmi_abi::DCMI_PRODUCT_TYPE_LEN,
            )?;
            if card.chips.is_empty() || card.chips.len() > 4 {
                return Err(format!(
                    "{at}: {} chips; a card has 1..=4",
                    card.chips.len()
                ));
            }
            for (position, chip) in card.chips.iter().enumerate() {
                let at = format!("{at}, chips[{position}]");
                if !(0..4).contains(&chip.dev)
                    || card.chips[..position]
                        .iter()
                        .any(|other| other.dev == chip.dev)
                {
                    return Err(format!(
                        "{at}: dev {} must be 0..=3 and unique in the card",
                        chip.dev
                    ));
                }
                self.validate_chip(&at, chip)?;
                for vnpu in &chip.vnpus {
                    if vdev_ids.contains(&vnpu.vdev_id) {
                        return Err(format!("{at}: vdev_id {} is used twice", vnpu.vdev_id));
                    }
                    vdev_ids.push(vnpu.vdev_id);
                }
            }
        }
        Ok(())
    }

    fn validate_chip(&self, at: &str, chip: &Chip) -> Result<(), String> {
        if chip.phy_id > 255 || chip.logic_id > 255 {
            return Err(format!("{at}: phy_id and logic_id must be 0..=255"));
        }
        if self
            .chips()
            .filter(|(_, other)| other.phy_id == chip.phy_id)
            .count()
            > 1
        {
            return Err(format!("{at}: phy_id {} is used twice", chip.phy_id));
        }
        if self
            .chips()
            .filter(|(_, other)| other.logic_id == chip.logic_id)
            .count()
            > 1
        {
            return Err(format!("{at}: logic_id {} is used twice", chip.logic_id));
        }
        let len = dcmi_abi::MAX_CHIP_NAME_LEN;
        check_text(&format!("{at}: chip_type"), &chip.chip_type, len)?;
        check_text(&format!("{at}: chip_name"), &chip.chip_name, len)?;
        check_text(&format!("{at}: chip_ver"), &chip.chip_ver, len)?;
        check_text(&format!("{at}: npu_name"), &chip.npu_name, len)?;
        if chip.chip_name.is_empty() {
            return Err(format!("{at}: chip_name is empty"));
        }
        if chip.aicore == 0 || chip.aicore > 64 {
            return Err(format!("{at}: aicore {} must be 1..=64", chip.aicore));
        }
        if chip.memory.hbm_mb.is_none() && chip.memory.ddr_mb.is_none() {
            return Err(format!("{at}: memory needs hbm_mb or ddr_mb"));
        }
        let v4 = chip
            .roce
            .iter()
            .filter(|addr| addr.address.is_ipv4())
            .count();
        if v4 > 1 || chip.roce.len() - v4 > 1 {
            return Err(format!("{at}: roce has more than one address of a family"));
        }
        if let Some(addr) = chip
            .roce
            .iter()
            .find(|addr| addr.address.is_ipv4() != addr.mask.is_ipv4())
        {
            return Err(format!(
                "{at}: mask {} is not of the family of {}",
                addr.mask, addr.address
            ));
        }
        if !chip.vnpus.is_empty() && !chip.virtualization {
            return Err(format!("{at}: vnpus on a chip with virtualization false"));
        }
        vnpu::check_chip_vnpus(&chip.vnpus, chip.aicore)
            .map_err(|problem| format!("{at}: {problem}"))
    }
}

fn check_text(what: &str, text: &str, array_len: usize) -> Result<(), String> {
    if text.len() >= array_len || text.contains('\0') {
        return Err(format!(
            "{what} {text:?} must be shorter than {array_len} bytes, without NUL"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn every_builtin_topology_is_valid() {
        for (name, text) in BUILTIN {
            let topology =
                Topology::from_json(text).unwrap_or_else(|error| panic!("{name}: {error}"));
            assert_eq!(topology.name, name);
        }
    }

    #[test]
    fn the_api_is_v1_by_default_and_only_1_or_2() {
        assert_eq!(Topology::load("910-8").unwrap().dcmi_api, 1);
        assert_eq!(Topology::load("a5-8").unwrap().dcmi_api, 2);
        let text = BUILTIN[0]
            .1
            .replacen("\"cards\":", "\"dcmi_api\": 3, \"cards\":", 1);
        let error = Topology::from_json(&text).unwrap_err().to_string();
        assert!(error.contains("dcmi_api is 3"), "{error}");
    }

    #[test]
    fn a_duplicate_phy_id_is_rejected_with_the_place_named() {
        let text = BUILTIN[0].1.replacen("\"phy_id\": 1,", "\"phy_id\": 0,", 1);
        let error = Topology::from_json(&text).unwrap_err().to_string();
        assert!(error.contains("phy_id 0 is used twice"), "{error}");
        assert!(error.contains("cards[0]"), "{error}");
    }

    #[test]
    fn board_ids_may_be_hex_strings_or_numbers() {
        let topology = Topology::load("a3-16").unwrap();
        assert_eq!(topology.cards[0].chips[0].board_id, 0xb0);
        let text = BUILTIN[0]
            .1
            .replacen("\"board_id\": \"0x20\"", "\"board_id\": 33", 1);
        assert_eq!(
            Topology::from_json(&text).unwrap().cards[0].chips[0].board_id,
            33
        );
    }

    #[test]
    fn an_unknown_field_is_rejected() {
        let text = BUILTIN[0]
            .1
            .replacen("\"name\"", "\"nmae\": 1, \"name\"", 1);
        assert!(
            Topology::from_json(&text)
                .unwrap_err()
                .to_string()
                .contains("nmae")
        );
    }
}
