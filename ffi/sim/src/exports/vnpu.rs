//! vNPU creation and destruction, sharing and work mode.

use std::ffi::{c_int, c_uchar, c_uint};

use dcmi_abi::{
    DCMI_ERR_CODE_INVALID_DEVICE_ID, DCMI_ERR_CODE_INVALID_PARAMETER, DCMI_ERR_CODE_NOT_SUPPORT,
    DCMI_ERR_CODE_RESOURCE_OCCUPIED, DCMI_SOC_SPLIT_MAX, DcmiCreateVdevOut, DcmiCreateVdevResStru,
};

use super::call;
use super::ptr::{Out, read_in};
use crate::runtime::{with_chip, with_sim};
use crate::vnpu::{FIRST_VDEV_ID, LAST_VDEV_ID, Vnpu, next_free_id, template_aicore, used_aicore};

/// "Let the library choose" for `vdev_id` and `vfg_id`.
const ANY_ID: c_uint = u32::MAX;

/// The NUL-terminated template name of the request; -8001 if not terminated or not text.
fn template_name(request: &DcmiCreateVdevResStru) -> Result<String, c_int> {
    let bytes: Vec<u8> = request
        .template_name
        .iter()
        .map(|byte| *byte as u8)
        .collect();
    let end = bytes
        .iter()
        .position(|byte| *byte == 0)
        .ok_or(DCMI_ERR_CODE_INVALID_PARAMETER)?;
    String::from_utf8(bytes[..end].to_vec()).map_err(|_| DCMI_ERR_CODE_INVALID_PARAMETER)
}

/// Creates a vNPU from a template: -8001 for an unknown template or a bad
/// id, -8020 when the chip lacks free AI cores or the id is taken, -8255 on
/// chips without virtualisation.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_create_vdevice(
    card_id: c_int,
    device_id: c_int,
    vdev: *mut DcmiCreateVdevResStru,
    out: *mut DcmiCreateVdevOut,
) -> c_int {
    call(|| {
        let request = read_in(vdev.cast_const())?;
        let out = Out::new(out)?;
        let template = template_name(&request)?;
        let created = with_sim(|sim| {
            let (_, chip) = sim.chip(card_id, device_id)?;
            if !chip.virtualization {
                return Err(DCMI_ERR_CODE_NOT_SUPPORT);
            }
            let cores = template_aicore(&template).ok_or(DCMI_ERR_CODE_INVALID_PARAMETER)?;
            let (phy, aicore, pcie) = (chip.phy_id, chip.aicore, chip.pcie.clone());
            let all = || sim.vnpus.values().flatten();
            let vdev_id = if request.vdev_id == ANY_ID {
                next_free_id(all()).ok_or(DCMI_ERR_CODE_RESOURCE_OCCUPIED)?
            } else if !(FIRST_VDEV_ID..=LAST_VDEV_ID).contains(&request.vdev_id) {
                return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
            } else if all().any(|vnpu| vnpu.vdev_id == request.vdev_id) {
                return Err(DCMI_ERR_CODE_RESOURCE_OCCUPIED);
            } else {
                request.vdev_id
            };
            let on_chip = sim.vnpus.entry(phy).or_default();
            if used_aicore(on_chip) + cores > aicore || on_chip.len() >= DCMI_SOC_SPLIT_MAX {
                return Err(DCMI_ERR_CODE_RESOURCE_OCCUPIED);
            }
            on_chip.push(Vnpu { vdev_id, template });
            let index = on_chip.len() as c_uint - 1;
            sim.save_vnpus();
            Ok(DcmiCreateVdevOut {
                vdev_id: sim.chaos().vdev_id(vdev_id),
                pcie_bus: pcie.bus,
                pcie_device: pcie.device,
                pcie_func: index + 1,
                vfg_id: index,
                reserved: [0; 32],
            })
        })?;
        out.write(created);
        Ok(())
    })
}

/// Destroys a vNPU of the chip; -8007 for an id the chip does not have.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_set_destroy_vdevice(
    card_id: c_int,
    device_id: c_int,
    vdevid: c_uint,
) -> c_int {
    call(|| {
        with_sim(|sim| {
            let phy = sim.chip(card_id, device_id)?.1.phy_id;
            let on_chip = sim.vnpus.entry(phy).or_default();
            let index = on_chip
                .iter()
                .position(|vnpu| vnpu.vdev_id == vdevid)
                .ok_or(DCMI_ERR_CODE_INVALID_DEVICE_ID)?;
            on_chip.remove(index);
            sim.save_vnpus();
            Ok(())
        })
    })
}

/// 1 when the topology enables sharing, else 0.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_share_enable(
    card_id: c_int,
    device_id: c_int,
    enable_flag: *mut c_int,
) -> c_int {
    call(|| {
        let out = Out::new(enable_flag)?;
        out.write(with_chip(card_id, device_id, |ctx| {
            Ok(c_int::from(ctx.chip.share_enable))
        })?);
        Ok(())
    })
}

/// The card's work mode (0 AMP, 1 SMP).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_npu_work_mode(card_id: c_int, work_mode: *mut c_uchar) -> c_int {
    call(|| {
        let out = Out::new(work_mode)?;
        out.write(with_sim(|sim| Ok(sim.card(card_id)?.work_mode))?);
        Ok(())
    })
}
