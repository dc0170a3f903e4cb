//! Health: fault codes, health value, network health, boot status, and the
//! fault event subscription.

use std::ffi::{c_int, c_uchar, c_uint};

use dcmi_abi::{
    DCMI_ERR_CODE_INVALID_PARAMETER, DCMI_ERR_CODE_NOT_SUPPORT, DCMI_ERR_CODE_RESOURCE_OCCUPIED,
    DCMI_RDFX_DETECT_OK, DCMI_RDFX_DETECT_UNREACH, DcmiBootStatus, DcmiEventFilter,
    DcmiRdfxDetectResult, FaultEventCallback,
};

use super::call;
use super::ptr::{Out, OutArray};
use crate::chaos::ChaosMode;
use crate::runtime::{ChipCtx, Subscriber, with_chip, with_sim};

/// Subscribers kept at most.
const MAX_SUBSCRIBERS: usize = 64;

/// The health override, else the highest severity of the active codes (0 = none).
fn health_value(ctx: &ChipCtx<'_>) -> c_uint {
    let phy = ctx.chip.phy_id;
    if let Some(value) = ctx.state.health.get(&phy) {
        return *value;
    }
    ctx.state
        .active(phy)
        .iter()
        .map(|fault| c_uint::from(fault.severity))
        .max()
        .unwrap_or(0)
}

/// 0 normal, 1 minor, 2 major, 3 critical; -8012 for a dropped card.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_health(
    card_id: c_int,
    device_id: c_int,
    health: *mut c_uint,
) -> c_int {
    call(|| {
        let out = Out::new(health)?;
        out.write(with_chip(card_id, device_id, |ctx| Ok(health_value(&ctx)))?);
        Ok(())
    })
}

/// The active fault codes; -8001 when the list is too short for them.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_errorcode_v2(
    card_id: c_int,
    device_id: c_int,
    error_count: *mut c_int,
    error_code_list: *mut c_uint,
    list_len: c_uint,
) -> c_int {
    call(|| {
        let count = Out::new(error_count)?;
        let list = OutArray::new(error_code_list, list_len as usize)?;
        with_chip(card_id, device_id, |ctx| {
            let codes: Vec<c_uint> = ctx
                .state
                .active(ctx.chip.phy_id)
                .iter()
                .map(|fault| fault.code.0)
                .collect();
            let lying =
                ctx.chaos.has(ChaosMode::NegativeCount) || ctx.chaos.has(ChaosMode::CountOverflow);
            if codes.len() > list.len() && !lying {
                return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
            }
            list.fill(codes.iter().copied());
            count.write(ctx.chaos.count(codes.len(), list.len()) as c_int);
            Ok(())
        })
    })
}

/// The old interface has no buffer length: not supported (-8255) after checks.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_errorcode(
    card_id: c_int,
    device_id: c_int,
    error_count: *mut c_int,
    error_code: *mut c_uint,
    error_width: *mut c_int,
) -> c_int {
    call(|| {
        Out::new(error_count)?;
        Out::new(error_code)?;
        Out::new(error_width)?;
        with_chip(card_id, device_id, |_| Ok(()))?;
        Err(DCMI_ERR_CODE_NOT_SUPPORT)
    })
}

/// The description of a code; `buf_size` must be at least 48.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_errorcode_string(
    card_id: c_int,
    device_id: c_int,
    error_code: c_uint,
    error_info: *mut c_uchar,
    buf_size: c_int,
) -> c_int {
    call(|| {
        if buf_size < 48 {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        let out = OutArray::new(error_info, buf_size as usize)?;
        let (chaos, text) = with_chip(card_id, device_id, |ctx| {
            let active = ctx.state.active(ctx.chip.phy_id);
            let named = active
                .iter()
                .find(|fault| fault.code.0 == error_code)
                .and_then(|fault| fault.name.clone());
            Ok((
                ctx.chaos,
                named.unwrap_or_else(|| format!("simulated fault {error_code:08X}")),
            ))
        })?;
        out.fill(chaos.c_string(&text, out.len()));
        Ok(())
    })
}

/// The override, else 3 (unreachable) when the link is down, else 0;
/// -8255 for a chip without a RoCE port.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_network_health(
    card_id: c_int,
    device_id: c_int,
    result: *mut DcmiRdfxDetectResult,
) -> c_int {
    call(|| {
        let out = Out::new(result)?;
        out.write(with_chip(card_id, device_id, |ctx| {
            let phy = ctx.chip.phy_id;
            if ctx.chip.roce.is_empty() {
                return Err(DCMI_ERR_CODE_NOT_SUPPORT);
            }
            Ok(match ctx.state.network_health.get(&phy) {
                Some(value) => *value,
                None if ctx.state.link_down.contains(&phy) => DCMI_RDFX_DETECT_UNREACH,
                None => DCMI_RDFX_DETECT_OK,
            })
        })?);
        Ok(())
    })
}

/// 16 (started), or the step a reset chip's boot has reached (0..3).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_boot_status(
    card_id: c_int,
    device_id: c_int,
    boot_status: *mut DcmiBootStatus,
) -> c_int {
    call(|| {
        let out = Out::new(boot_status)?;
        let status = with_sim(|sim| {
            let phy = sim.chip(card_id, device_id)?.1.phy_id;
            Ok(sim.boot_status(phy))
        })?;
        out.write(status);
        Ok(())
    })
}

/// Registers `handler` for fault events of one chip, or of every chip with
/// (-1, -1). Subscribing the same handler for the same chips again replaces
/// the filter. Events are delivered on the simulator's watcher thread.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_subscribe_fault_event(
    card_id: c_int,
    device_id: c_int,
    filter: DcmiEventFilter,
    handler: FaultEventCallback,
) -> c_int {
    call(|| {
        let handler = handler.ok_or(DCMI_ERR_CODE_INVALID_PARAMETER)?;
        with_sim(|sim| {
            if sim.chaos().has(ChaosMode::NoEvents) {
                return Err(DCMI_ERR_CODE_NOT_SUPPORT);
            }
            match (card_id, device_id) {
                (-1, -1) => {}
                (-1, _) | (_, -1) => return Err(DCMI_ERR_CODE_INVALID_PARAMETER),
                _ => {
                    sim.chip(card_id, device_id)?;
                }
            }
            let subscriber = Subscriber {
                card_id,
                device_id,
                filter,
                handler,
            };
            let same = |other: &Subscriber| {
                other.card_id == card_id
                    && other.device_id == device_id
                    && std::ptr::fn_addr_eq(other.handler, handler)
            };
            if let Some(existing) = sim.subscribers.iter_mut().find(|other| same(other)) {
                *existing = subscriber;
            } else if sim.subscribers.len() >= MAX_SUBSCRIBERS {
                return Err(DCMI_ERR_CODE_RESOURCE_OCCUPIED);
            } else {
                sim.subscribers.push(subscriber);
            }
            Ok(())
        })
    })
}
