//! The safe, typed DCMI API: every value coming back is validated.
//!
//! Methods here block (they call into the driver); async code goes through
//! [`super::Dcmi::call`], which runs them on a blocking thread with a timeout.

use std::ffi::{c_char, c_int, c_uint};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dcmi_abi as abi;
use serde::Serialize;

use super::error::{DcmiError, check};
use super::sys::Symbols;
use super::text::{c_chars_as_bytes, c_text, chip_id, count};

/// Identity of one chip as `dcmi_get_device_chip_info[_v2]` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipInfo {
    pub chip_type: String,
    pub chip_name: String,
    pub chip_version: String,
    pub aicore: u32,
    pub npu_name: Option<String>,
}

/// `dcmi_soc_total_resource` reduced to what discovery needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalResource {
    pub aicore: Option<u32>,
    pub vdev_ids: Vec<u32>,
}

/// Super-pod facts of an A3 chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpodInfo {
    pub sdid: u32,
    pub super_pod_id: u32,
    pub server_index: u32,
}

/// Network health values that mean "fine": OK and INIT.
pub const NETWORK_OK: [u32; 2] = [0, 6];

/// Blocking access to the driver.
#[derive(Debug)]
pub struct Api {
    sys: Symbols,
}

fn int(value: u32) -> c_int {
    c_int::try_from(value).unwrap_or(c_int::MAX)
}

impl Api {
    pub(super) fn new(sys: Symbols) -> Self {
        Self { sys }
    }

    pub fn missing_optional(&self) -> Vec<&'static str> {
        self.sys.missing_optional()
    }

    pub fn init(&self) -> Result<(), DcmiError> {
        check("dcmi_init", self.sys.init())
    }

    pub fn card_list(&self) -> Result<Vec<i32>, DcmiError> {
        const F: &str = "dcmi_get_card_list";
        let mut num: c_int = 0;
        let mut list = [0 as c_int; abi::MAX_CARD_NUM];
        check(F, self.sys.card_list(&mut num, &mut list))?;
        let n = count(F, "card_num", i64::from(num), 0, list.len() as i64)?;
        let cards = list[..n].to_vec();
        if let Some(bad) = cards.iter().find(|&&card| !(0..=1024).contains(&card)) {
            return Err(DcmiError::invalid(F, format!("card id {bad} out of range")));
        }
        let mut unique = cards.clone();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() != cards.len() {
            return Err(DcmiError::invalid(F, "duplicate card ids"));
        }
        Ok(cards)
    }

    pub fn device_count(&self, card: i32) -> Result<u32, DcmiError> {
        const F: &str = "dcmi_get_device_num_in_card";
        let mut num: c_int = 0;
        check(F, self.sys.device_num_in_card(card, &mut num))?;
        count(F, "device_num", i64::from(num), 1, 4).map(|n| n as u32)
    }

    pub fn logic_id(&self, card: i32, device: u32) -> Result<u32, DcmiError> {
        const F: &str = "dcmi_get_device_logic_id";
        let mut logic: c_int = -1;
        check(F, self.sys.device_logic_id(&mut logic, card, int(device)))?;
        chip_id(F, "logic id", i64::from(logic))
    }

    pub fn phy_id(&self, logic: u32) -> Result<u32, DcmiError> {
        const F: &str = "dcmi_get_device_phyid_from_logicid";
        let mut phy: c_uint = c_uint::MAX;
        check(F, self.sys.phyid_from_logicid(logic, &mut phy))?;
        chip_id(F, "phy id", i64::from(phy))
    }

    /// `_v2` first (it adds the NPU name); v1 when v2 is missing or unsupported.
    pub fn chip_info(&self, card: i32, device: u32) -> Result<ChipInfo, DcmiError> {
        const V2: &str = "dcmi_get_device_chip_info_v2";
        let dev = int(device);
        let mut v2 = abi::DcmiChipInfoV2::default();
        match self.sys.chip_info_v2(card, dev, &mut v2) {
            Ok(0) => {
                let npu_name = c_text(V2, "npu_name", &v2.npu_name)?;
                return Ok(ChipInfo {
                    chip_type: c_text(V2, "chip_type", &v2.chip_type)?,
                    chip_name: c_text(V2, "chip_name", &v2.chip_name)?,
                    chip_version: c_text(V2, "chip_ver", &v2.chip_ver)?,
                    aicore: v2.aicore_cnt,
                    npu_name: (!npu_name.is_empty()).then_some(npu_name),
                });
            }
            Ok(code) if code != super::error::NOT_SUPPORTED => {
                return Err(DcmiError::Call { function: V2, code });
            }
            _ => {}
        }
        const V1: &str = "dcmi_get_device_chip_info";
        let mut v1 = abi::DcmiChipInfo::default();
        check(V1, self.sys.chip_info(card, dev, &mut v1))?;
        Ok(ChipInfo {
            chip_type: c_text(V1, "chip_type", &v1.chip_type)?,
            chip_name: c_text(V1, "chip_name", &v1.chip_name)?,
            chip_version: c_text(V1, "chip_ver", &v1.chip_ver)?,
            aicore: v1.aicore_cnt,
            npu_name: None,
        })
    }

    /// Board id; `None` when unsupported or reported invalid (0xFFFFFFFF).
    pub fn board_id(&self, card: i32, device: u32) -> Result<Option<u32>, DcmiError> {
        let mut info = abi::DcmiBoardInfo::default();
        let code = optional(self.sys.board_info(card, int(device), &mut info))?;
        match code {
            Some(0) if info.board_id != u32::MAX => Ok(Some(info.board_id)),
            Some(0) | None => Ok(None),
            Some(code) => Err(DcmiError::Call {
                function: "dcmi_get_device_board_info",
                code,
            }),
        }
    }

    pub fn product_type(&self, card: i32, device: u32) -> Result<Option<String>, DcmiError> {
        const F: &str = "dcmi_get_product_type";
        let mut buffer = [0 as c_char; 65];
        match optional(self.sys.product_type(card, int(device), &mut buffer))? {
            Some(0) => {
                let text = c_text(F, "product type", &c_chars_as_bytes(&buffer))?;
                Ok((!text.is_empty()).then_some(text))
            }
            Some(code) => Err(DcmiError::Call { function: F, code }),
            None => Ok(None),
        }
    }

    pub fn dcmi_version(&self) -> Result<Option<String>, DcmiError> {
        const F: &str = "dcmi_get_dcmi_version";
        let mut buffer = [0 as c_char; 64];
        match optional(self.sys.dcmi_version(&mut buffer))? {
            Some(0) => c_text(F, "version", &c_chars_as_bytes(&buffer)).map(Some),
            Some(code) => Err(DcmiError::Call { function: F, code }),
            None => Ok(None),
        }
    }

    /// The RoCE address: IPv4 when set, else IPv6 (never link-local).
    pub fn device_ip(&self, card: i32, device: u32) -> Result<Option<IpAddr>, DcmiError> {
        for ip_type in [abi::DCMI_IPADDR_TYPE_V4, abi::DCMI_IPADDR_TYPE_V6] {
            let mut ip = abi::DcmiIpAddr {
                ip_type,
                ..Default::default()
            };
            let mut mask = abi::DcmiIpAddr::default();
            match optional(self.sys.device_ip(
                card,
                int(device),
                abi::DCMI_ROCE_PORT,
                &mut ip,
                &mut mask,
            ))? {
                None => return Ok(None),
                Some(0) => {}
                Some(_) => continue,
            }
            let address = if ip_type == abi::DCMI_IPADDR_TYPE_V4 {
                IpAddr::V4(Ipv4Addr::from(ip.u_addr.ip4()))
            } else {
                IpAddr::V6(Ipv6Addr::from(ip.u_addr.ip6))
            };
            let link_local =
                matches!(address, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
            if !address.is_unspecified() && !link_local {
                return Ok(Some(address));
            }
        }
        Ok(None)
    }

    /// `(VDEV_MNG, total)`: AI cores and existing vNPU ids; `None` when unsupported.
    pub fn total_resource(
        &self,
        card: i32,
        device: u32,
    ) -> Result<Option<TotalResource>, DcmiError> {
        const F: &str = "dcmi_get_device_info(VDEV_MNG, GET_TOTAL_RESOURCE)";
        let mut unit: abi::DcmiUnitType = abi::NPU_TYPE;
        match optional(self.sys.device_type(card, int(device), &mut unit))? {
            Some(0) if unit != abi::NPU_TYPE => return Ok(None),
            _ => {}
        }
        let mut total = abi::DcmiSocTotalResource::default();
        let code = optional(self.sys.device_info(
            card,
            int(device),
            abi::DCMI_MAIN_CMD_VDEV_MNG,
            abi::DCMI_VMNG_SUB_CMD_GET_TOTAL_RESOURCE,
            &mut total,
        ))?;
        match code {
            Some(0) => {}
            Some(code) if code == super::error::NOT_SUPPORTED => return Ok(None),
            Some(code) => return Err(DcmiError::Call { function: F, code }),
            None => return Ok(None),
        }
        let n = count(
            F,
            "vdev_num",
            i64::from(total.vdev_num),
            0,
            total.vdev_id.len() as i64,
        )?;
        let vdev_ids = total.vdev_id[..n].to_vec();
        if let Some(bad) = vdev_ids.iter().find(|&&id| !(100..=65535).contains(&id)) {
            return Err(DcmiError::invalid(F, format!("vdev id {bad} out of range")));
        }
        let aic = total.computing.aic;
        let aicore = (aic.is_finite() && (8.0..=36.0).contains(&aic)).then_some(aic as u32);
        Ok(Some(TotalResource { aicore, vdev_ids }))
    }

    /// `(VDEV_MNG, vdev)`: template name and AI cores of one vNPU.
    pub fn vnpu(&self, card: i32, device: u32, vdev_id: u32) -> Result<(String, u32), DcmiError> {
        const F: &str = "dcmi_get_device_info(VDEV_MNG, GET_VDEV_RESOURCE)";
        let mut query = abi::DcmiVdevQueryStru {
            vdev_id,
            ..Default::default()
        };
        let code = optional(self.sys.device_info(
            card,
            int(device),
            abi::DCMI_MAIN_CMD_VDEV_MNG,
            abi::DCMI_VMNG_SUB_CMD_GET_VDEV_RESOURCE,
            &mut query,
        ))?
        .ok_or(DcmiError::Unsupported { function: F })?;
        check(F, code)?;
        let template = c_text(
            F,
            "query_info.name",
            &c_chars_as_bytes(&query.query_info.name),
        )?;
        let aic = query.query_info.computing.aic;
        if !(aic.is_finite() && (0.0..=64.0).contains(&aic)) {
            return Err(DcmiError::invalid(
                F,
                format!("vNPU {vdev_id} AI cores {aic}"),
            ));
        }
        Ok((template, aic as u32))
    }

    /// Memory in MB: HBM for the 910 family, DDR (memory info v3) otherwise.
    pub fn memory_mb(&self, card: i32, device: u32, hbm: bool) -> Result<Option<u64>, DcmiError> {
        if hbm {
            let mut info = abi::DcmiHbmInfo::default();
            if let Some(0) = optional(self.sys.hbm_info(card, int(device), &mut info))? {
                return Ok(Some(info.memory_size).filter(|&mb| mb > 0 && mb < 1 << 24));
            }
        }
        let mut info = abi::DcmiGetMemoryInfoStru::default();
        match optional(self.sys.memory_info_v3(card, int(device), &mut info))? {
            Some(0) => Ok(Some(info.memory_size).filter(|&mb| mb > 0 && mb < 1 << 24)),
            _ => Ok(None),
        }
    }

    pub fn pci_address(&self, card: i32, device: u32) -> Result<Option<PciAddress>, DcmiError> {
        let mut info = abi::DcmiPcieInfoAll::default();
        match optional(self.sys.pcie_info_v2(card, int(device), &mut info))? {
            Some(0)
                if info.domain >= 0
                    && info.bdf_busid < 256
                    && info.bdf_deviceid < 32
                    && info.bdf_funcid < 8 =>
            {
                Ok(Some(PciAddress {
                    domain: info.domain.unsigned_abs(),
                    bus: info.bdf_busid,
                    device: info.bdf_deviceid,
                    function: info.bdf_funcid,
                }))
            }
            _ => Ok(None),
        }
    }

    /// `(CHIP_INF, SPOD_INFO)`; `None` where the chip has no super pod.
    pub fn spod_info(&self, card: i32, device: u32) -> Result<Option<SpodInfo>, DcmiError> {
        let mut info = abi::DcmiSpodInfo::default();
        match optional(self.sys.device_info(
            card,
            int(device),
            abi::DCMI_MAIN_CMD_CHIP_INF,
            abi::DCMI_CHIP_INF_SUB_CMD_SPOD_INFO,
            &mut info,
        ))? {
            Some(0) => Ok(Some(SpodInfo {
                sdid: info.sdid,
                super_pod_id: info.super_pod_id,
                server_index: info.server_id,
            })),
            _ => Ok(None),
        }
    }

    /// 0 normal, 1 minor, 2 major, 3 critical, 0xFFFFFFFF missing.
    /// A dropped card is `Err` with [`DcmiError::is_card_dropped`].
    pub fn health(&self, card: i32, device: u32) -> Result<u32, DcmiError> {
        const F: &str = "dcmi_get_device_health";
        let mut health: c_uint = 0;
        let code = self.sys.health(card, int(device), &mut health)?;
        check(F, code)?;
        if health > 3 && health != u32::MAX {
            return Err(DcmiError::invalid(F, format!("health value {health}")));
        }
        Ok(health)
    }

    /// Active fault codes (at most 128).
    pub fn error_codes(&self, card: i32, device: u32) -> Result<Vec<u32>, DcmiError> {
        const F: &str = "dcmi_get_device_errorcode_v2";
        let mut n: c_int = 0;
        let mut codes = [0 as c_uint; abi::DCMI_ERROR_CODE_MAX_COUNT];
        let code = self
            .sys
            .errorcode_v2(card, int(device), &mut n, &mut codes)?;
        check(F, code)?;
        let n = count(F, "error_count", i64::from(n), 0, codes.len() as i64)?;
        Ok(codes[..n].to_vec())
    }

    /// Raw RoCE network health; see [`NETWORK_OK`].
    pub fn network_health(&self, card: i32, device: u32) -> Result<u32, DcmiError> {
        const F: &str = "dcmi_get_device_network_health";
        let mut result: abi::DcmiRdfxDetectResult = 0;
        check(F, self.sys.network_health(card, int(device), &mut result)?)?;
        Ok(result)
    }

    pub fn subscribe(
        &self,
        sink: tokio::sync::mpsc::Sender<super::FaultEvent>,
    ) -> Result<(), DcmiError> {
        check("dcmi_subscribe_fault_event", self.sys.subscribe(sink)?)
    }

    /// Creates a vNPU from `template`; returns its vdev id (>= 100).
    pub fn create_vnpu(&self, card: i32, device: u32, template: &str) -> Result<u32, DcmiError> {
        const F: &str = "dcmi_create_vdevice";
        let mut request = abi::DcmiCreateVdevResStru {
            vdev_id: u32::MAX,
            vfg_id: u32::MAX,
            ..Default::default()
        };
        let bytes = template.as_bytes();
        if bytes.len() >= request.template_name.len() || bytes.contains(&0) {
            return Err(DcmiError::invalid(F, format!("template name {template:?}")));
        }
        for (slot, byte) in request.template_name.iter_mut().zip(bytes) {
            *slot = c_char::from_ne_bytes([*byte]);
        }
        let mut out = abi::DcmiCreateVdevOut::default();
        check(
            F,
            self.sys
                .create_vdevice(card, int(device), &mut request, &mut out)?,
        )?;
        if !(100..=65535).contains(&out.vdev_id) {
            return Err(DcmiError::invalid(F, format!("vdev id {}", out.vdev_id)));
        }
        Ok(out.vdev_id)
    }

    /// Resets a chip through the in-band (PCIe) or out-of-band (BMC) channel.
    pub fn reset(&self, card: i32, device: u32, inband: bool) -> Result<(), DcmiError> {
        let channel = if inband {
            abi::INBAND_CHANNEL
        } else {
            abi::OUTBAND_CHANNEL
        };
        check(
            "dcmi_set_device_reset",
            self.sys.set_device_reset(card, int(device), channel)?,
        )
    }

    /// Boot status; [`abi::DCMI_SYSTEM_START_FINISH`] (16) means started.
    pub fn boot_status(&self, card: i32, device: u32) -> Result<u32, DcmiError> {
        let mut status: abi::DcmiBootStatus = 0;
        check(
            "dcmi_get_device_boot_status",
            self.sys.boot_status(card, int(device), &mut status)?,
        )?;
        Ok(status)
    }

    /// How many processes use the chip.
    pub fn process_count(&self, card: i32, device: u32) -> Result<usize, DcmiError> {
        const F: &str = "dcmi_get_device_resource_info";
        let mut procs = [abi::DcmiProcMemInfo::default(); abi::DCMI_MAX_PROC_NUM];
        let mut n: c_int = 0;
        check(
            F,
            self.sys
                .resource_info(card, int(device), &mut procs, &mut n)?,
        )?;
        count(
            F,
            "proc_num",
            i64::from(n),
            0,
            abi::DCMI_MAX_PROC_NUM as i64,
        )
    }

    /// Whether the out-of-band channel can reset the chip (state 1).
    pub fn outband_ready(&self, card: i32, device: u32) -> Result<bool, DcmiError> {
        let mut state: c_int = 0;
        check(
            "dcmi_get_device_outband_channel_state",
            self.sys.outband_state(card, int(device), &mut state)?,
        )?;
        Ok(state == 1)
    }

    pub fn pre_reset(&self, card: i32, device: u32) -> Result<(), DcmiError> {
        check(
            "dcmi_pre_reset_soc",
            self.sys.pre_reset_soc(card, int(device))?,
        )
    }

    pub fn rescan(&self, card: i32, device: u32) -> Result<(), DcmiError> {
        check("dcmi_rescan_soc", self.sys.rescan_soc(card, int(device))?)
    }

    /// The A3 card paired with this one over the network (its "brother").
    pub fn brother_card(&self, card: i32, device: u32) -> Result<i32, DcmiError> {
        const F: &str = "dcmi_get_netdev_brother_device";
        let mut brother: c_int = -1;
        check(F, self.sys.brother_device(card, int(device), &mut brother)?)?;
        if brother < 0 {
            return Err(DcmiError::invalid(F, format!("brother card {brother}")));
        }
        Ok(brother)
    }

    pub fn destroy_vnpu(&self, card: i32, device: u32, vdev_id: u32) -> Result<(), DcmiError> {
        check(
            "dcmi_set_destroy_vdevice",
            self.sys.destroy_vdevice(card, int(device), vdev_id)?,
        )
    }
}

/// An optional symbol's return code, or `None` when the symbol is absent.
fn optional(result: Result<c_int, DcmiError>) -> Result<Option<c_int>, DcmiError> {
    match result {
        Ok(code) => Ok(Some(code)),
        Err(DcmiError::Unsupported { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

/// A PCI address, as the driver reports it; used to find the chip's NUMA
/// node in sysfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PciAddress {
    pub domain: u32,
    pub bus: u32,
    pub device: u32,
    pub function: u32,
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}
