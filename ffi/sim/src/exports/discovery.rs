//! Discovery: cards, chips per card, and id conversions.

use std::ffi::{c_int, c_uint};

use dcmi_abi::{
    DCMI_ERR_CODE_INVALID_DEVICE_ID, DCMI_ERR_CODE_INVALID_PARAMETER, DcmiUnitType, NPU_TYPE,
};

use super::call;
use super::ptr::{Out, OutArray};
use crate::chaos::ChaosMode;
use crate::runtime::{Sim, with_chip, with_sim};
use crate::topology::{Card, Chip};

fn card_list(card_num: *mut c_int, card_list: *mut c_int, list_len: c_int) -> c_int {
    call(|| {
        let num = Out::new(card_num)?;
        if list_len <= 0 {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        let list = OutArray::new(card_list, list_len as usize)?;
        with_sim(|sim| {
            let chaos = sim.chaos();
            let ids: Vec<c_int> = sim.topology.cards.iter().map(|card| card.card_id).collect();
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

/// Every card id (dropped cards included), in topology order.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_card_list(
    card_num: *mut c_int,
    card_list_out: *mut c_int,
    list_len: c_int,
) -> c_int {
    card_list(card_num, card_list_out, list_len)
}

/// Same as `dcmi_get_card_list`.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_card_num_list(
    card_num: *mut c_int,
    card_list_out: *mut c_int,
    list_len: c_int,
) -> c_int {
    card_list(card_num, card_list_out, list_len)
}

/// Chips on the card (1..4).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_num_in_card(card_id: c_int, device_num: *mut c_int) -> c_int {
    call(|| {
        let out = Out::new(device_num)?;
        with_sim(|sim| {
            let count = sim.card(card_id)?.chips.len();
            out.write(sim.chaos().count(count, 4) as c_int);
            Ok(())
        })
    })
}

/// `device_id_max` = chips on the card; no MCU or CPU (-1).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_id_in_card(
    card_id: c_int,
    device_id_max: *mut c_int,
    mcu_id: *mut c_int,
    cpu_id: *mut c_int,
) -> c_int {
    call(|| {
        let (max, mcu, cpu) = (
            Out::new(device_id_max)?,
            Out::new(mcu_id)?,
            Out::new(cpu_id)?,
        );
        with_sim(|sim| {
            let count = sim.card(card_id)?.chips.len();
            max.write(sim.chaos().count(count, 4) as c_int);
            mcu.write(-1);
            cpu.write(-1);
            Ok(())
        })
    })
}

/// Always `NPU_TYPE`.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_type(
    card_id: c_int,
    device_id: c_int,
    device_type: *mut DcmiUnitType,
) -> c_int {
    call(|| {
        let out = Out::new(device_type)?;
        with_chip(card_id, device_id, |_| Ok(()))?;
        out.write(NPU_TYPE);
        Ok(())
    })
}

/// The chip's logic id (note: output first).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_logic_id(
    device_logic_id: *mut c_int,
    card_id: c_int,
    device_id: c_int,
) -> c_int {
    call(|| {
        let out = Out::new(device_logic_id)?;
        let logic = with_chip(card_id, device_id, |ctx| {
            Ok(ctx.chaos.logic_id(ctx.chip.logic_id))
        })?;
        out.write(logic as c_int);
        Ok(())
    })
}

/// Finds a chip by a predicate, checked for a dropped card, and maps it.
fn find_chip<R>(
    matches: impl Fn(&Chip) -> bool,
    f: impl FnOnce(&Sim, &Card, &Chip) -> R,
) -> Result<R, c_int> {
    with_sim(|sim| {
        let (card, chip) = sim
            .topology
            .chips()
            .find(|(_, chip)| matches(chip))
            .ok_or(DCMI_ERR_CODE_INVALID_DEVICE_ID)?;
        sim.chip(card.card_id, chip.dev)?;
        Ok(f(sim, card, chip))
    })
}

/// Logic id -> physical id.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_phyid_from_logicid(logicid: c_uint, phyid: *mut c_uint) -> c_int {
    call(|| {
        let out = Out::new(phyid)?;
        out.write(find_chip(
            |chip| chip.logic_id == logicid,
            |sim, _, chip| sim.chaos().phy_id(chip.phy_id),
        )?);
        Ok(())
    })
}

/// Physical id -> logic id.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_logicid_from_phyid(phyid: c_uint, logicid: *mut c_uint) -> c_int {
    call(|| {
        let out = Out::new(logicid)?;
        out.write(find_chip(
            |chip| chip.phy_id == phyid,
            |sim, _, chip| sim.chaos().logic_id(chip.logic_id),
        )?);
        Ok(())
    })
}

fn card_and_device(
    card_id: *mut c_int,
    device_id: *mut c_int,
    matches: impl Fn(&Chip) -> bool,
) -> c_int {
    call(|| {
        let (card_out, device_out) = (Out::new(card_id)?, Out::new(device_id)?);
        let (card, dev) = find_chip(matches, |_, card, chip| (card.card_id, chip.dev))?;
        card_out.write(card);
        device_out.write(dev);
        Ok(())
    })
}

/// Logic id -> (card id, device index).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_card_id_device_id_from_logicid(
    card_id: *mut c_int,
    device_id: *mut c_int,
    device_logic_id: c_uint,
) -> c_int {
    card_and_device(card_id, device_id, |chip| chip.logic_id == device_logic_id)
}

/// Physical id -> (card id, device index).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_card_id_device_id_from_phyid(
    card_id: *mut c_int,
    device_id: *mut c_int,
    device_phy_id: c_uint,
) -> c_int {
    card_and_device(card_id, device_id, |chip| chip.phy_id == device_phy_id)
}
