//! Identity: chip info, board, product type, PCIe location, die ids.

use std::ffi::{c_char, c_int, c_uint};

use dcmi_abi::{
    DCMI_ERR_CODE_INVALID_PARAMETER, DCMI_ERR_CODE_NOT_SUPPORT, DcmiBoardInfo, DcmiChipInfo,
    DcmiChipInfoV2, DcmiDieId, DcmiDieType, DcmiElabelInfo, DcmiPcieInfoAll, NDIE, VDIE,
};

use super::ptr::{Out, OutArray};
use super::{call, text_u8};
use crate::chaos::ChaosMode;
use crate::runtime::{with_chip, with_sim};

/// Chip type, name, version and AI cores.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_chip_info(
    card_id: c_int,
    device_id: c_int,
    chip_info: *mut DcmiChipInfo,
) -> c_int {
    call(|| {
        let out = Out::new(chip_info)?;
        out.write(with_chip(card_id, device_id, |ctx| {
            Ok(DcmiChipInfo {
                chip_type: text_u8(&ctx.chaos, &ctx.chip.chip_type),
                chip_name: text_u8(&ctx.chaos, &ctx.chip.chip_name),
                chip_ver: text_u8(&ctx.chaos, &ctx.chip.chip_ver),
                aicore_cnt: ctx.chip.aicore,
            })
        })?);
        Ok(())
    })
}

/// Chip info plus the NPU name.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_chip_info_v2(
    card_id: c_int,
    device_id: c_int,
    chip_info: *mut DcmiChipInfoV2,
) -> c_int {
    call(|| {
        let out = Out::new(chip_info)?;
        out.write(with_chip(card_id, device_id, |ctx| {
            Ok(DcmiChipInfoV2 {
                chip_type: text_u8(&ctx.chaos, &ctx.chip.chip_type),
                chip_name: text_u8(&ctx.chaos, &ctx.chip.chip_name),
                chip_ver: text_u8(&ctx.chaos, &ctx.chip.chip_ver),
                aicore_cnt: ctx.chip.aicore,
                npu_name: text_u8(&ctx.chaos, &ctx.chip.npu_name),
            })
        })?);
        Ok(())
    })
}

/// Board, PCB, BOM and slot ids.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_board_info(
    card_id: c_int,
    device_id: c_int,
    board_info: *mut DcmiBoardInfo,
) -> c_int {
    call(|| {
        let out = Out::new(board_info)?;
        out.write(with_chip(card_id, device_id, |ctx| {
            Ok(DcmiBoardInfo {
                board_id: ctx.chip.board_id,
                pcb_id: ctx.chip.pcb_id,
                bom_id: ctx.chip.bom_id,
                slot_id: ctx.chip.slot_id,
            })
        })?);
        Ok(())
    })
}

/// The topology's `mainboard_id`.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_mainboard_id(
    card_id: c_int,
    device_id: c_int,
    mainboard_id: *mut c_uint,
) -> c_int {
    call(|| {
        let out = Out::new(mainboard_id)?;
        with_chip(card_id, device_id, |_| Ok(()))?;
        out.write(with_sim(|sim| Ok(sim.topology.mainboard_id))?);
        Ok(())
    })
}

/// The card's product type; -8001 when `buf_size` cannot hold it with its NUL.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_product_type(
    card_id: c_int,
    device_id: c_int,
    product_type_str: *mut c_char,
    buf_size: c_int,
) -> c_int {
    call(|| {
        if buf_size <= 0 {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        let out = OutArray::new(product_type_str, buf_size as usize)?;
        let (chaos, product) = with_chip(card_id, device_id, |ctx| {
            Ok((ctx.chaos, ctx.card.product_type.clone()))
        })?;
        if out.len() <= product.len() && !chaos.has(ChaosMode::NoNul) {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        out.fill(
            chaos
                .c_string(&product, out.len())
                .into_iter()
                .map(|byte| byte as c_char),
        );
        Ok(())
    })
}

/// Not simulated: -8255 for a known card.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_card_elabel_v2(
    card_id: c_int,
    elabel_info: *mut DcmiElabelInfo,
) -> c_int {
    call(|| {
        Out::new(elabel_info)?;
        with_sim(|sim| sim.card(card_id).map(|_| ()))?;
        Err(DCMI_ERR_CODE_NOT_SUPPORT)
    })
}

/// PCIe ids and bus/device/function.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_pcie_info_v2(
    card_id: c_int,
    device_id: c_int,
    pcie_info: *mut DcmiPcieInfoAll,
) -> c_int {
    call(|| {
        let out = Out::new(pcie_info)?;
        out.write(with_chip(card_id, device_id, |ctx| {
            let pcie = &ctx.chip.pcie;
            Ok(DcmiPcieInfoAll {
                venderid: pcie.vendor_id,
                subvenderid: pcie.subvendor_id,
                deviceid: pcie.device_id,
                subdeviceid: pcie.subdevice_id,
                domain: pcie.domain,
                bdf_busid: pcie.bus,
                bdf_deviceid: pcie.device,
                bdf_funcid: pcie.function,
                reserve: [0; 32],
            })
        })?);
        Ok(())
    })
}

/// NDIE or VDIE ids; derived from the ids when the topology gives none.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_die_v2(
    card_id: c_int,
    device_id: c_int,
    input_type: DcmiDieType,
    die_id: *mut DcmiDieId,
) -> c_int {
    call(|| {
        let out = Out::new(die_id)?;
        if input_type != NDIE && input_type != VDIE {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        out.write(with_chip(card_id, device_id, |ctx| {
            let soc_die = match (&ctx.chip.die_ids, input_type) {
                (Some(ids), NDIE) => ids.ndie,
                (Some(ids), _) => ids.vdie,
                (None, kind) => [
                    0x5a00_0000 | (kind << 16) | ctx.chip.phy_id,
                    ctx.card.card_id as c_uint,
                    ctx.chip.dev as c_uint,
                    ctx.chip.board_id,
                    0x0000_0a3d,
                ],
            };
            Ok(DcmiDieId { soc_die })
        })?);
        Ok(())
    })
}
