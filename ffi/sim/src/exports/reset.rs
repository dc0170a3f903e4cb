//! Reset and super-pod node status.

use std::ffi::{c_int, c_uint};

use dcmi_abi::{
    DCMI_ERR_CODE_INVALID_PARAMETER, DCMI_ERR_CODE_NOT_SUPPORT, DCMI_ERR_CODE_RESET_FAIL,
    DcmiResetChannel, INBAND_CHANNEL, OUTBAND_CHANNEL,
};

use super::call;
use super::ptr::Out;
use crate::runtime::{with_chip, with_sim};

/// Resets the chip: its faults clear and it boots for the state's
/// `reset.boot_ms`. -8015 for a chip in `reset.fail` (in-band) or
/// `reset.outband_down` (out-of-band).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_set_device_reset(
    card_id: c_int,
    device_id: c_int,
    channel_type: DcmiResetChannel,
) -> c_int {
    call(|| {
        if channel_type != OUTBAND_CHANNEL && channel_type != INBAND_CHANNEL {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        with_sim(|sim| {
            let phy = sim.chip(card_id, device_id)?.1.phy_id;
            let refused = if channel_type == INBAND_CHANNEL {
                &sim.state.reset.fail
            } else {
                &sim.state.reset.outband_down
            };
            if refused.contains(&phy) {
                return Err(DCMI_ERR_CODE_RESET_FAIL);
            }
            sim.reset_chip(phy);
            Ok(())
        })
    })
}

/// 1 (channel OK), or 0 for a chip in `reset.outband_down`.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_outband_channel_state(
    card_id: c_int,
    device_id: c_int,
    channel_state: *mut c_int,
) -> c_int {
    call(|| {
        let out = Out::new(channel_state)?;
        let down = with_chip(card_id, device_id, |ctx| {
            Ok(ctx.state.reset.outband_down.contains(&ctx.chip.phy_id))
        })?;
        out.write(if down { 0 } else { 1 });
        Ok(())
    })
}

/// Accepted and ignored.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_pre_reset_soc(card_id: c_int, device_id: c_int) -> c_int {
    call(|| with_chip(card_id, device_id, |_| Ok(())))
}

/// Accepted and ignored.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_rescan_soc(card_id: c_int, device_id: c_int) -> c_int {
    call(|| with_chip(card_id, device_id, |_| Ok(())))
}

/// The status last set for `sdid` (initially 0); -8255 off A3.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_spod_node_status(
    card_id: c_int,
    device_id: c_int,
    sdid: c_uint,
    status: *mut c_uint,
) -> c_int {
    call(|| {
        let out = Out::new(status)?;
        let value = with_sim(|sim| {
            let (_, chip) = sim.chip(card_id, device_id)?;
            chip.spod.as_ref().ok_or(DCMI_ERR_CODE_NOT_SUPPORT)?;
            Ok(sim
                .spod_status
                .get(&(chip.phy_id, sdid))
                .copied()
                .unwrap_or(0))
        })?;
        out.write(value);
        Ok(())
    })
}

/// Stores a status for `sdid`; -8255 off A3.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_set_spod_node_status(
    card_id: c_int,
    device_id: c_int,
    sdid: c_uint,
    status: c_uint,
) -> c_int {
    call(|| {
        with_sim(|sim| {
            let (_, chip) = sim.chip(card_id, device_id)?;
            chip.spod.as_ref().ok_or(DCMI_ERR_CODE_NOT_SUPPORT)?;
            let phy = chip.phy_id;
            sim.spod_status.insert((phy, sdid), status);
            Ok(())
        })
    })
}
