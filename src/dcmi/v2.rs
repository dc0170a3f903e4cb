//! The v2 API's discovery calls (Ascend 950): the chip list and each
//! chip's identity by logic id, validated like their v1 twins. Per-chip
//! health and reset calls dispatch inside [`Api`]'s v1-shaped methods.

use std::ffi::{c_char, c_int, c_uint};

use dcmi_abi as abi;

use super::api::{Api, ChipInfo};
use super::error::{DcmiError, check};
use super::text::{c_chars_as_bytes, c_text, chip_id, count};
use crate::dcmi::PciAddress;

/// Chips a v2 node may have (logic ids are 0..=255).
const MAX_V2_CHIPS: usize = 256;

/// An optional v2 symbol the library lacks answers like the driver's
/// "not supported" (-8255), which the callers treat as "unknown".
fn absent_as_unsupported(result: Result<c_int, DcmiError>) -> Result<c_int, DcmiError> {
    match result {
        Err(DcmiError::Unsupported { .. }) => Ok(super::error::NOT_SUPPORTED),
        other => other,
    }
}

fn logic_arg(logic: u32) -> c_int {
    c_int::try_from(logic).unwrap_or(c_int::MAX)
}

impl Api {
    fn v2_symbols(&self, function: &'static str) -> Result<&super::sys::V2Symbols, DcmiError> {
        self.sys
            .v2()
            .filter(|_| self.v2)
            .ok_or(DcmiError::Unsupported { function })
    }

    /// Every chip's logic id: `dcmiv2_get_device_list`, checked against
    /// `dcmiv2_get_all_device_count` (they must agree), each id in 0..=255
    /// and listed once.
    pub fn v2_logic_ids(&self) -> Result<Vec<u32>, DcmiError> {
        const F: &str = "dcmiv2_get_device_list";
        let v2 = self.v2_symbols(F)?;
        let mut list = vec![0 as c_int; MAX_V2_CHIPS];
        let mut num: c_int = 0;
        check(F, v2.device_list(&mut list, &mut num))?;
        let n = count(F, "device_num", i64::from(num), 0, list.len() as i64)?;
        let mut total: c_int = 0;
        check(
            "dcmiv2_get_all_device_count",
            v2.all_device_count(&mut total),
        )?;
        if i64::from(total) != n as i64 {
            return Err(DcmiError::invalid(
                F,
                format!("{n} chips listed but dcmiv2_get_all_device_count says {total}"),
            ));
        }
        let mut ids = Vec::with_capacity(n);
        for &raw in &list[..n] {
            let id = chip_id(F, "logic id", i64::from(raw))?;
            if ids.contains(&id) {
                return Err(DcmiError::invalid(F, format!("logic id {id} listed twice")));
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// Logic id -> physical id (`dcmiv2_get_chip_phy_id_by_dev_id`).
    pub fn v2_phy_id(&self, logic: u32) -> Result<u32, DcmiError> {
        const F: &str = "dcmiv2_get_chip_phy_id_by_dev_id";
        let v2 = self.v2_symbols(F)?;
        let mut phy: c_uint = c_uint::MAX;
        check(F, v2.phy_id(logic, &mut phy))?;
        chip_id(F, "phy id", i64::from(phy))
    }

    pub fn v2_chip_info(&self, logic: u32) -> Result<ChipInfo, DcmiError> {
        const F: &str = "dcmiv2_get_device_chip_info";
        let v2 = self.v2_symbols(F)?;
        let mut info = abi::DcmiChipInfoV2::default();
        check(F, v2.chip_info(logic_arg(logic), &mut info))?;
        let npu_name = c_text(F, "npu_name", &info.npu_name)?;
        Ok(ChipInfo {
            chip_type: c_text(F, "chip_type", &info.chip_type)?,
            chip_name: c_text(F, "chip_name", &info.chip_name)?,
            chip_version: c_text(F, "chip_ver", &info.chip_ver)?,
            aicore: info.aicore_cnt,
            npu_name: (!npu_name.is_empty()).then_some(npu_name),
        })
    }

    /// Board id; `None` when unsupported or reported invalid (0xFFFFFFFF).
    pub fn v2_board_id(&self, logic: u32) -> Result<Option<u32>, DcmiError> {
        const F: &str = "dcmiv2_get_device_board_info";
        let v2 = self.v2_symbols(F)?;
        let mut info = abi::DcmiBoardInfo::default();
        match absent_as_unsupported(v2.board_info(logic_arg(logic), &mut info))? {
            0 if info.board_id != u32::MAX => Ok(Some(info.board_id)),
            0 | super::error::NOT_SUPPORTED => Ok(None),
            code => Err(DcmiError::Call { function: F, code }),
        }
    }

    /// Main board id (`dcmiv2_get_mainboard_id`); `None` when unsupported.
    pub fn v2_mainboard_id(&self, logic: u32) -> Result<Option<u32>, DcmiError> {
        const F: &str = "dcmiv2_get_mainboard_id";
        let v2 = self.v2_symbols(F)?;
        let mut id: c_uint = 0;
        match absent_as_unsupported(v2.mainboard_id(logic_arg(logic), &mut id))? {
            0 => Ok(Some(id)),
            super::error::NOT_SUPPORTED => Ok(None),
            code => Err(DcmiError::Call { function: F, code }),
        }
    }

    /// HBM size in MB; `None` when unsupported or out of range.
    pub fn v2_memory_mb(&self, logic: u32) -> Result<Option<u64>, DcmiError> {
        const F: &str = "dcmiv2_get_device_hbm_info";
        let v2 = self.v2_symbols(F)?;
        let mut info = abi::DcmiHbmInfo::default();
        match absent_as_unsupported(v2.hbm_info(logic_arg(logic), &mut info))? {
            0 => Ok(Some(info.memory_size).filter(|&mb| mb > 0 && mb < 1 << 24)),
            super::error::NOT_SUPPORTED => Ok(None),
            code => Err(DcmiError::Call { function: F, code }),
        }
    }

    pub fn v2_pci_address(&self, logic: u32) -> Result<Option<PciAddress>, DcmiError> {
        const F: &str = "dcmiv2_get_device_pcie_info";
        let v2 = self.v2_symbols(F)?;
        let mut info = abi::DcmiPcieInfoAll::default();
        match absent_as_unsupported(v2.pcie_info(logic_arg(logic), &mut info))? {
            0 if info.domain >= 0
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

    /// The five die id words of `kind` (NDIE 0, VDIE 1, DDIE 2; v2 accepts all three).
    pub fn v2_die_id(&self, logic: u32, kind: abi::DcmiDieType) -> Result<[u32; 5], DcmiError> {
        const F: &str = "dcmiv2_get_device_die_id";
        let v2 = self.v2_symbols(F)?;
        let mut die = abi::DcmiDieId::default();
        check(F, v2.die_id(logic_arg(logic), kind, &mut die)?)?;
        Ok(die.soc_die)
    }

    pub fn v2_dcmi_version(&self) -> Result<Option<String>, DcmiError> {
        const F: &str = "dcmiv2_get_dcmi_version";
        let v2 = self.v2_symbols(F)?;
        let mut buffer = [0 as c_char; 64];
        match absent_as_unsupported(v2.dcmi_version(&mut buffer))? {
            0 => c_text(F, "version", &c_chars_as_bytes(&buffer)).map(Some),
            super::error::NOT_SUPPORTED => Ok(None),
            code => Err(DcmiError::Call { function: F, code }),
        }
    }
}
