//! Sensors and utilisation: plausible constants derived from the chip, so
//! exporters and dashboards have something steady to show.

use std::ffi::{c_char, c_int, c_uint};

use dcmi_abi::{
    DCMI_DEVICE_TYPE_DDR, DCMI_DEVICE_TYPE_HBM, DCMI_ERR_CODE_INVALID_PARAMETER,
    DCMI_ERR_CODE_NOT_SUPPORT, DCMI_FREQ_AICORE_CURRENT_, DCMI_FREQ_AICORE_MAX, DCMI_FREQ_CTRLCPU,
    DCMI_FREQ_DDR, DCMI_FREQ_HBM, DCMI_FREQ_VECTORCORE_CURRENT, DCMI_UTILIZATION_RATE_AICORE,
    DCMI_UTILIZATION_RATE_AICPU, DCMI_UTILIZATION_RATE_AICUBE, DCMI_UTILIZATION_RATE_CTRLCPU,
    DCMI_UTILIZATION_RATE_DDR, DCMI_UTILIZATION_RATE_DDR_BANDWIDTH, DCMI_UTILIZATION_RATE_HBM,
    DCMI_UTILIZATION_RATE_HBM_BANDWIDTH, DCMI_UTILIZATION_RATE_NPU,
    DCMI_UTILIZATION_RATE_VECTORCORE, DcmiDeviceType, DcmiEccInfo, DcmiFreqType,
    DcmiHccsBandwidthInfo, DcmiMultiUtilizationInfo, DcmiPcieLinkBandwidthInfo, DcmiProcMemInfo,
};

use super::call;
use super::ptr::{Out, OutArray};
use crate::runtime::{with_chip, with_sim};
use crate::topology::Chip;

/// Board power in 0.1 W: 10 W plus 6 W per AI core.
fn power_decawatts(chip: &Chip) -> c_int {
    (100 + 60 * chip.aicore) as c_int
}

/// Degrees C: 40 plus a little per chip so they differ.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_temperature(
    card_id: c_int,
    device_id: c_int,
    temperature: *mut c_int,
) -> c_int {
    call(|| {
        let out = Out::new(temperature)?;
        out.write(with_chip(card_id, device_id, |ctx| {
            Ok(40 + (ctx.chip.phy_id % 8) as c_int)
        })?);
        Ok(())
    })
}

/// 0.01 V: 0.85 V.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_voltage(
    card_id: c_int,
    device_id: c_int,
    voltage: *mut c_uint,
) -> c_int {
    call(|| {
        let out = Out::new(voltage)?;
        with_chip(card_id, device_id, |_| Ok(()))?;
        out.write(85);
        Ok(())
    })
}

/// 0.1 W.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_power_info(
    card_id: c_int,
    device_id: c_int,
    power: *mut c_int,
) -> c_int {
    call(|| {
        let out = Out::new(power)?;
        out.write(with_chip(card_id, device_id, |ctx| {
            Ok(power_decawatts(ctx.chip))
        })?);
        Ok(())
    })
}

/// 0.1 W for the whole card: its chips plus 30 W.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_mcu_get_power_info(card_id: c_int, power: *mut c_int) -> c_int {
    call(|| {
        let out = Out::new(power)?;
        out.write(with_sim(|sim| {
            Ok(300
                + sim
                    .card(card_id)?
                    .chips
                    .iter()
                    .map(power_decawatts)
                    .sum::<c_int>())
        })?);
        Ok(())
    })
}

/// MHz per clock; -8001 for an unknown clock, -8255 for HBM on a chip without.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_frequency(
    card_id: c_int,
    device_id: c_int,
    input_type: DcmiFreqType,
    frequency: *mut c_uint,
) -> c_int {
    call(|| {
        let out = Out::new(frequency)?;
        out.write(with_chip(card_id, device_id, |ctx| match input_type {
            DCMI_FREQ_DDR => Ok(3200),
            DCMI_FREQ_CTRLCPU => Ok(1900),
            DCMI_FREQ_HBM if ctx.chip.memory.hbm_mb.is_some() => Ok(1600),
            DCMI_FREQ_HBM => Err(DCMI_ERR_CODE_NOT_SUPPORT),
            DCMI_FREQ_AICORE_CURRENT_ | DCMI_FREQ_VECTORCORE_CURRENT => Ok(1000),
            DCMI_FREQ_AICORE_MAX => Ok(1800),
            _ => Err(DCMI_ERR_CODE_INVALID_PARAMETER),
        })?);
        Ok(())
    })
}

/// Percent per unit (an idle chip); -8001 for an unknown unit.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_utilization_rate(
    card_id: c_int,
    device_id: c_int,
    input_type: c_int,
    utilization_rate: *mut c_uint,
) -> c_int {
    call(|| {
        let out = Out::new(utilization_rate)?;
        out.write(with_chip(card_id, device_id, |ctx| match input_type {
            DCMI_UTILIZATION_RATE_DDR | DCMI_UTILIZATION_RATE_CTRLCPU => Ok(3),
            DCMI_UTILIZATION_RATE_HBM | DCMI_UTILIZATION_RATE_HBM_BANDWIDTH
                if ctx.chip.memory.hbm_mb.is_none() =>
            {
                Err(DCMI_ERR_CODE_NOT_SUPPORT)
            }
            DCMI_UTILIZATION_RATE_HBM => Ok(2),
            DCMI_UTILIZATION_RATE_AICORE
            | DCMI_UTILIZATION_RATE_AICPU
            | DCMI_UTILIZATION_RATE_DDR_BANDWIDTH
            | DCMI_UTILIZATION_RATE_HBM_BANDWIDTH
            | DCMI_UTILIZATION_RATE_VECTORCORE
            | DCMI_UTILIZATION_RATE_NPU
            | DCMI_UTILIZATION_RATE_AICUBE => Ok(0),
            _ => Err(DCMI_ERR_CODE_INVALID_PARAMETER),
        })?);
        Ok(())
    })
}

/// All zero (idle).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_multi_utilization_rate(
    card_id: c_int,
    device_id: c_int,
    util_info: *mut DcmiMultiUtilizationInfo,
) -> c_int {
    dcmi_get_device_multi_utilization_rate_period(card_id, device_id, util_info, 1)
}

/// All zero (idle); -8001 for a period below 1.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_multi_utilization_rate_period(
    card_id: c_int,
    device_id: c_int,
    util_info: *mut DcmiMultiUtilizationInfo,
    period: c_int,
) -> c_int {
    call(|| {
        let out = Out::new(util_info)?;
        if period < 1 {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        with_chip(card_id, device_id, |_| Ok(()))?;
        out.write(DcmiMultiUtilizationInfo::default());
        Ok(())
    })
}

/// ECC on, no errors; -8255 for HBM on a chip without it.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_ecc_info(
    card_id: c_int,
    device_id: c_int,
    input_type: DcmiDeviceType,
    device_ecc_info: *mut DcmiEccInfo,
) -> c_int {
    call(|| {
        let out = Out::new(device_ecc_info)?;
        with_chip(card_id, device_id, |ctx| match input_type {
            DCMI_DEVICE_TYPE_DDR => Ok(()),
            DCMI_DEVICE_TYPE_HBM if ctx.chip.memory.hbm_mb.is_some() => Ok(()),
            DCMI_DEVICE_TYPE_HBM => Err(DCMI_ERR_CODE_NOT_SUPPORT),
            _ => Err(DCMI_ERR_CODE_INVALID_PARAMETER),
        })?;
        out.write(DcmiEccInfo {
            enable_flag: 1,
            ..DcmiEccInfo::default()
        });
        Ok(())
    })
}

/// No process runs on a simulated chip: `*proc_num` = 0.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_resource_info(
    card_id: c_int,
    device_id: c_int,
    proc_info: *mut DcmiProcMemInfo,
    proc_num: *mut c_int,
) -> c_int {
    call(|| {
        let procs = OutArray::new(proc_info, dcmi_abi::DCMI_MAX_PROC_NUM)?;
        let count = Out::new(proc_num)?;
        let n = with_chip(card_id, device_id, |ctx| {
            Ok(ctx
                .state
                .processes
                .get(&ctx.chip.phy_id)
                .copied()
                .unwrap_or(0))
        })?;
        let n = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(dcmi_abi::DCMI_MAX_PROC_NUM);
        procs.fill((0..n).map(|i| DcmiProcMemInfo {
            proc_id: 1000 + c_int::try_from(i).unwrap_or(0),
            proc_mem_usage: 1 << 20,
        }));
        count.write(c_int::try_from(n).unwrap_or(0));
        Ok(())
    })
}

/// Not simulated: -8255 after the checks.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_pcie_link_bandwidth_info(
    card_id: c_int,
    device_id: c_int,
    info: *mut DcmiPcieLinkBandwidthInfo,
) -> c_int {
    call(|| {
        Out::new(info)?;
        with_chip(card_id, device_id, |_| Ok(()))?;
        Err(DCMI_ERR_CODE_NOT_SUPPORT)
    })
}

/// Not simulated: -8255 after the checks.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_hccs_link_bandwidth_info(
    card_id: c_int,
    device_id: c_int,
    info: *mut DcmiHccsBandwidthInfo,
) -> c_int {
    call(|| {
        Out::new(info)?;
        with_chip(card_id, device_id, |_| Ok(()))?;
        Err(DCMI_ERR_CODE_NOT_SUPPORT)
    })
}

/// Not simulated: -8255 after the checks (consumers read NUMA from sysfs).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_affinity_cpu_info_by_device_id(
    card_id: c_int,
    device_id: c_int,
    affinity_cpu: *mut c_char,
    length: *mut c_int,
) -> c_int {
    call(|| {
        Out::new(affinity_cpu)?;
        Out::new(length)?;
        with_chip(card_id, device_id, |_| Ok(()))?;
        Err(DCMI_ERR_CODE_NOT_SUPPORT)
    })
}
