//! Memory: DDR (memory info v3 and v1) and HBM.

use std::ffi::c_int;

use dcmi_abi::{DCMI_ERR_CODE_NOT_SUPPORT, DcmiGetMemoryInfoStru, DcmiHbmInfo, DcmiMemoryInfoStru};

use super::call;
use super::ptr::Out;
use crate::runtime::with_chip;

/// DDR size in MB, 80 % available, 5 % used; -8255 without DDR.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_memory_info_v3(
    card_id: c_int,
    device_id: c_int,
    memory_info: *mut DcmiGetMemoryInfoStru,
) -> c_int {
    call(|| {
        let out = Out::new(memory_info)?;
        let ddr = with_chip(card_id, device_id, |ctx| {
            ctx.chip.memory.ddr_mb.ok_or(DCMI_ERR_CODE_NOT_SUPPORT)
        })?;
        out.write(DcmiGetMemoryInfoStru {
            memory_size: ddr,
            memory_available: ddr / 10 * 8,
            freq: 3200,
            hugepagesize: 2048,
            hugepages_total: 0,
            hugepages_free: 0,
            utiliza: 5,
            ..DcmiGetMemoryInfoStru::default()
        });
        Ok(())
    })
}

/// DDR size in MB (v1 interface); -8255 without DDR.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_memory_info(
    card_id: c_int,
    device_id: c_int,
    device_memory_info: *mut DcmiMemoryInfoStru,
) -> c_int {
    call(|| {
        let out = Out::new(device_memory_info)?;
        let ddr = with_chip(card_id, device_id, |ctx| {
            ctx.chip.memory.ddr_mb.ok_or(DCMI_ERR_CODE_NOT_SUPPORT)
        })?;
        out.write(DcmiMemoryInfoStru {
            memory_size: ddr,
            freq: 3200,
            utiliza: 5,
        });
        Ok(())
    })
}

/// HBM size in MB, 3 % used; -8255 without HBM (the 310 family).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_hbm_info(
    card_id: c_int,
    device_id: c_int,
    hbm_info: *mut DcmiHbmInfo,
) -> c_int {
    call(|| {
        let out = Out::new(hbm_info)?;
        let (hbm, temp) = with_chip(card_id, device_id, |ctx| {
            let hbm = ctx.chip.memory.hbm_mb.ok_or(DCMI_ERR_CODE_NOT_SUPPORT)?;
            Ok((hbm, 38 + (ctx.chip.phy_id % 8) as c_int))
        })?;
        out.write(DcmiHbmInfo {
            memory_size: hbm,
            freq: 1600,
            memory_usage: hbm * 3 / 100,
            temp,
            bandwith_util_rate: 0,
        });
        Ok(())
    })
}
