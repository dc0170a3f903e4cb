//! The v2 API (`dcmiv2_*`) of Ascend 950 drivers: a chip is addressed by its
//! logic id alone. Each call resolves the logic id to the topology's (card,
//! device) and answers exactly like its v1 twin, so both APIs share one
//! set of argument checks, faults, chaos modes and reset behaviour. Only a
//! topology with `"dcmi_api": 2` initialises through [`dcmiv2_init`].

use std::ffi::{c_char, c_int, c_uint, c_void};

use dcmi_abi::{
    DCMI_ERR_CODE_INVALID_DEVICE_ID, DCMI_ERR_CODE_INVALID_PARAMETER, DDIE, DcmiBoardInfo,
    DcmiBootStatus, DcmiChipInfoV2, DcmiDieId, DcmiDieType, DcmiEventFilter, DcmiHbmInfo,
    DcmiMainCmd, DcmiPcieInfoAll, DcmiProcMemInfo, DcmiRdfxDetectResult, DcmiResetChannel,
    DcmiUnitType, FaultEventCallback,
};

use super::ptr::{Out, OutArray};
use super::{call, call_without_hang, device_info, discovery, health, identity, library};
use super::{memory, reset, sensors};
use crate::chaos::ChaosMode;
use crate::runtime::{self, with_chip, with_sim};

/// The (card, device) of the chip with logic id `dev_id`: -8007 when no
/// chip has it (a negative id included).
fn locate(dev_id: c_int) -> Result<(c_int, c_int), c_int> {
    let logic = c_uint::try_from(dev_id).map_err(|_| DCMI_ERR_CODE_INVALID_DEVICE_ID)?;
    with_sim(|sim| {
        sim.topology
            .by_logic(logic)
            .map(|(card, chip)| (card.card_id, chip.dev))
            .ok_or(DCMI_ERR_CODE_INVALID_DEVICE_ID)
    })
}

/// Runs the v1 twin for the chip with logic id `dev_id`.
fn by_logic(dev_id: c_int, v1: impl FnOnce(c_int, c_int) -> c_int) -> c_int {
    match locate(dev_id) {
        Ok((card, device)) => v1(card, device),
        Err(code) => code,
    }
}

/// Initialises a topology whose driver serves the v2 API; -8255 for a v1 one.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_init() -> c_int {
    call_without_hang(|| runtime::init_api(2))
}

/// The topology's `dcmi_version`.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_dcmi_version(dcmi_ver: *mut c_char, buf_size: c_int) -> c_int {
    match c_uint::try_from(buf_size) {
        Ok(len) => library::dcmi_get_dcmi_version(dcmi_ver, len),
        Err(_) => DCMI_ERR_CODE_INVALID_PARAMETER,
    }
}

/// The logic id of every chip (dropped cards included), in topology order.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_list(
    device_list: *mut c_int,
    device_num: *mut c_int,
    list_len: c_int,
) -> c_int {
    call(|| {
        let num = Out::new(device_num)?;
        if list_len <= 0 {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        let list = OutArray::new(device_list, list_len as usize)?;
        with_sim(|sim| {
            let chaos = sim.chaos();
            let ids: Vec<c_int> = sim
                .topology
                .chips()
                .map(|(_, chip)| chaos.logic_id(chip.logic_id) as c_int)
                .collect();
            let lying = chaos.has(ChaosMode::NegativeCount) || chaos.has(ChaosMode::CountOverflow);
            if ids.len() > list.len() && !lying {
                return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
            }
            list.fill(ids.iter().copied());
            num.write(chaos.count(ids.len(), list.len()) as c_int);
            Ok(())
        })
    })
}

/// How many chips the node has.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_all_device_count(all_device_count: *mut c_int) -> c_int {
    call(|| {
        let out = Out::new(all_device_count)?;
        with_sim(|sim| {
            let count = sim.topology.chips().count();
            out.write(sim.chaos().count(count, 256) as c_int);
            Ok(())
        })
    })
}

/// Logic id -> physical id.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_chip_phy_id_by_dev_id(dev_id: c_uint, phyid: *mut c_uint) -> c_int {
    discovery::dcmi_get_device_phyid_from_logicid(dev_id, phyid)
}

/// Physical id -> logic id.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_dev_id_by_chip_phy_id(phyid: c_uint, dev_id: *mut c_uint) -> c_int {
    discovery::dcmi_get_device_logicid_from_phyid(phyid, dev_id)
}

/// Always `NPU_TYPE`.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_type(dev_id: c_int, device_type: *mut DcmiUnitType) -> c_int {
    by_logic(dev_id, |card, device| {
        discovery::dcmi_get_device_type(card, device, device_type)
    })
}

/// Chip type, name, version, AI cores and NPU name.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_chip_info(
    dev_id: c_int,
    chip_info: *mut DcmiChipInfoV2,
) -> c_int {
    by_logic(dev_id, |card, device| {
        identity::dcmi_get_device_chip_info_v2(card, device, chip_info)
    })
}

/// Board, PCB, BOM and slot ids.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_board_info(
    dev_id: c_int,
    board_info: *mut DcmiBoardInfo,
) -> c_int {
    by_logic(dev_id, |card, device| {
        identity::dcmi_get_device_board_info(card, device, board_info)
    })
}

/// The topology's `mainboard_id`.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_mainboard_id(dev_id: c_int, mainboard_id: *mut c_uint) -> c_int {
    by_logic(dev_id, |card, device| {
        identity::dcmi_get_mainboard_id(card, device, mainboard_id)
    })
}

/// PCIe ids and bus/device/function.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_pcie_info(
    dev_id: c_int,
    pcie_info: *mut DcmiPcieInfoAll,
) -> c_int {
    by_logic(dev_id, |card, device| {
        identity::dcmi_get_device_pcie_info_v2(card, device, pcie_info)
    })
}

/// NDIE and VDIE as v1 answers them; DDIE (v2 only) derived from the ids.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_die_id(
    dev_id: c_int,
    input_type: DcmiDieType,
    die_id: *mut DcmiDieId,
) -> c_int {
    if input_type != DDIE {
        return by_logic(dev_id, |card, device| {
            identity::dcmi_get_device_die_v2(card, device, input_type, die_id)
        });
    }
    call(|| {
        let out = Out::new(die_id)?;
        let (card, device) = locate(dev_id)?;
        out.write(with_chip(card, device, |ctx| {
            Ok(DcmiDieId {
                soc_die: [
                    0x5d00_0000 | ctx.chip.phy_id,
                    ctx.card.card_id as c_uint,
                    ctx.chip.dev as c_uint,
                    ctx.chip.board_id,
                    0x0000_0950,
                ],
            })
        })?);
        Ok(())
    })
}

/// HBM size and usage.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_hbm_info(dev_id: c_int, hbm_info: *mut DcmiHbmInfo) -> c_int {
    by_logic(dev_id, |card, device| {
        memory::dcmi_get_device_hbm_info(card, device, hbm_info)
    })
}

/// The (main, sub) commands `dcmi_get_device_info` answers (super-pod info,
/// vNPU resources).
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_info(
    dev_id: c_int,
    main_cmd: DcmiMainCmd,
    sub_cmd: c_uint,
    buf: *mut c_void,
    size: *mut c_uint,
) -> c_int {
    by_logic(dev_id, |card, device| {
        device_info::dcmi_get_device_info(card, device, main_cmd, sub_cmd, buf, size)
    })
}

/// 0 normal .. 3 critical; -8012 for a dropped chip.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_health(dev_id: c_int, health: *mut c_uint) -> c_int {
    by_logic(dev_id, |card, device| {
        health::dcmi_get_device_health(card, device, health)
    })
}

/// The active fault codes; -8001 when the list is too short for them.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_error_code_list(
    dev_id: c_int,
    error_count: *mut c_int,
    error_code_list: *mut c_uint,
    list_len: c_uint,
) -> c_int {
    by_logic(dev_id, |card, device| {
        health::dcmi_get_device_errorcode_v2(card, device, error_count, error_code_list, list_len)
    })
}

/// Network health; -8255 for a chip without a RoCE port.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_network_health(
    dev_id: c_int,
    result: *mut DcmiRdfxDetectResult,
) -> c_int {
    by_logic(dev_id, |card, device| {
        health::dcmi_get_device_network_health(card, device, result)
    })
}

/// Registers `handler` for one chip's fault events, or every chip's with -1.
/// The event is the v1 `dcmi_event`; its `deviceid` is the logic id.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_subscribe_fault_event(
    dev_id: c_int,
    filter: DcmiEventFilter,
    handler: FaultEventCallback,
) -> c_int {
    if dev_id == -1 {
        return health::dcmi_subscribe_fault_event(-1, -1, filter, handler);
    }
    by_logic(dev_id, |card, device| {
        health::dcmi_subscribe_fault_event(card, device, filter, handler)
    })
}

/// In-band (1) or out-of-band (0) reset, as `dcmi_set_device_reset`.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_reset_device(dev_id: c_int, channel_type: DcmiResetChannel) -> c_int {
    by_logic(dev_id, |card, device| {
        reset::dcmi_set_device_reset(card, device, channel_type)
    })
}

/// 1 (channel OK), or 0 for a chip in `reset.outband_down`.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_outband_channel_state(
    dev_id: c_int,
    channel_state: *mut c_int,
) -> c_int {
    by_logic(dev_id, |card, device| {
        reset::dcmi_get_device_outband_channel_state(card, device, channel_state)
    })
}

/// Accepted.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_pre_reset_device(dev_id: c_int) -> c_int {
    by_logic(dev_id, |card, device| {
        reset::dcmi_pre_reset_soc(card, device)
    })
}

/// Accepted.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_rescan_device(dev_id: c_int) -> c_int {
    by_logic(dev_id, |card, device| reset::dcmi_rescan_soc(card, device))
}

/// 16 (started), or the step a reset chip's boot has reached.
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_boot_status(
    dev_id: c_int,
    boot_status: *mut DcmiBootStatus,
) -> c_int {
    by_logic(dev_id, |card, device| {
        health::dcmi_get_device_boot_status(card, device, boot_status)
    })
}

/// The chip's processes (`processes[phy]` of the state file).
#[unsafe(no_mangle)]
pub extern "C" fn dcmiv2_get_device_proc_mem_info(
    dev_id: c_int,
    proc_info: *mut DcmiProcMemInfo,
    proc_num: *mut c_int,
) -> c_int {
    by_logic(dev_id, |card, device| {
        sensors::dcmi_get_device_resource_info(card, device, proc_info, proc_num)
    })
}
