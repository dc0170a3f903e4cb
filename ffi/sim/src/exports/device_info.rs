//! `dcmi_get_device_info`: vNPU resources (main command 52) and super-pod
//! placement (main command 12, A3 only). Other commands: -8255.

use std::ffi::{c_int, c_uint, c_void};

use dcmi_abi::{
    DCMI_CHIP_INF_SUB_CMD_SPOD_INFO, DCMI_ERR_CODE_INVALID_DEVICE_ID,
    DCMI_ERR_CODE_INVALID_PARAMETER, DCMI_ERR_CODE_NOT_SUPPORT, DCMI_MAIN_CMD_CHIP_INF,
    DCMI_MAIN_CMD_VDEV_MNG, DCMI_SOC_SPLIT_MAX, DCMI_VMNG_SUB_CMD_GET_FREE_RESOURCE,
    DCMI_VMNG_SUB_CMD_GET_TOTAL_RESOURCE, DCMI_VMNG_SUB_CMD_GET_VDEV_ACTIVITY,
    DCMI_VMNG_SUB_CMD_GET_VDEV_RESOURCE, DcmiComputingResource, DcmiMainCmd, DcmiSocFreeResource,
    DcmiSocTotalResource, DcmiSpodInfo, DcmiVdevQueryInfo, DcmiVdevQueryStru,
};

use super::ptr::{Out, read_in};
use super::{call, text_char};
use crate::runtime::{ChipCtx, with_chip};
use crate::vnpu::{template_aicore, used_aicore};

/// Checks the caller's `*size` against the struct, writes it, updates `*size`.
fn answer<T: Copy>(
    buf: *mut c_void,
    size: &Out<c_uint>,
    given: c_uint,
    value: T,
) -> Result<(), c_int> {
    let needed = std::mem::size_of::<T>();
    if (given as usize) < needed {
        return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
    }
    Out::new(buf.cast::<T>())?.write(value);
    size.write(needed as c_uint);
    Ok(())
}

fn memory_share(ctx: &ChipCtx<'_>, cores: u32) -> u64 {
    ctx.chip.memory.main_mb() * u64::from(cores) / u64::from(ctx.chip.aicore.max(1))
}

fn total(ctx: &ChipCtx<'_>) -> DcmiSocTotalResource {
    let mut vdev_id = [0; DCMI_SOC_SPLIT_MAX];
    for (slot, vnpu) in vdev_id.iter_mut().zip(ctx.vnpus) {
        *slot = ctx.chaos.vdev_id(vnpu.vdev_id);
    }
    let count = ctx.vnpus.len();
    DcmiSocTotalResource {
        vdev_num: ctx.chaos.count(count, DCMI_SOC_SPLIT_MAX) as c_uint,
        vdev_id,
        vfg_num: count as c_uint,
        vfg_bitmap: ((1u64 << count) - 1) as c_uint,
        computing: DcmiComputingResource {
            aic: ctx.chip.aicore as f32,
            memory_size: ctx.chip.memory.main_mb(),
            ..DcmiComputingResource::default()
        },
        ..DcmiSocTotalResource::default()
    }
}

fn free(ctx: &ChipCtx<'_>) -> DcmiSocFreeResource {
    let used = used_aicore(ctx.vnpus);
    let free_cores = ctx.chip.aicore.saturating_sub(used);
    let free_groups = DCMI_SOC_SPLIT_MAX.saturating_sub(ctx.vnpus.len());
    DcmiSocFreeResource {
        vfg_num: free_groups as c_uint,
        vfg_bitmap: 0,
        computing: DcmiComputingResource {
            aic: free_cores as f32,
            memory_size: memory_share(ctx, free_cores),
            ..DcmiComputingResource::default()
        },
        ..DcmiSocFreeResource::default()
    }
}

fn vdev(ctx: &ChipCtx<'_>, vdev_id: c_uint) -> Result<DcmiVdevQueryStru, c_int> {
    let (index, vnpu) = ctx
        .vnpus
        .iter()
        .enumerate()
        .find(|(_, vnpu)| vnpu.vdev_id == vdev_id)
        .ok_or(DCMI_ERR_CODE_INVALID_DEVICE_ID)?;
    let cores = template_aicore(&vnpu.template).unwrap_or(0);
    let memory = memory_share(ctx, cores);
    Ok(DcmiVdevQueryStru {
        vdev_id,
        query_info: DcmiVdevQueryInfo {
            name: text_char(&ctx.chaos, &vnpu.template),
            vfid: index as c_uint + 1,
            vfg_id: index as c_uint,
            computing: DcmiComputingResource {
                aic: cores as f32,
                memory_size: memory,
                vdev_memory_total: memory,
                vdev_memory_free: memory,
                ..DcmiComputingResource::default()
            },
            ..DcmiVdevQueryInfo::default()
        },
    })
}

fn spod(ctx: &ChipCtx<'_>) -> Result<DcmiSpodInfo, c_int> {
    let spod = ctx.chip.spod.as_ref().ok_or(DCMI_ERR_CODE_NOT_SUPPORT)?;
    Ok(DcmiSpodInfo {
        sdid: spod.sdid,
        scale_type: spod.scale_type,
        super_pod_id: spod.super_pod_id,
        server_id: spod.server_index,
        chassis_id: spod.chassis_id,
        super_pod_type: spod.super_pod_type,
        reserve: [0; 6],
    })
}

/// Fills the struct a (main, sub) command names; `*size` must be at least its size.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_info(
    card_id: c_int,
    device_id: c_int,
    main_cmd: DcmiMainCmd,
    sub_cmd: c_uint,
    buf: *mut c_void,
    size: *mut c_uint,
) -> c_int {
    call(|| {
        let given = read_in(size.cast_const())?;
        let size = Out::new(size)?;
        if buf.is_null() {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        with_chip(card_id, device_id, |ctx| match (main_cmd, sub_cmd) {
            (
                DCMI_MAIN_CMD_VDEV_MNG,
                DCMI_VMNG_SUB_CMD_GET_VDEV_RESOURCE | DCMI_VMNG_SUB_CMD_GET_VDEV_ACTIVITY,
            ) => {
                if (given as usize) < std::mem::size_of::<DcmiVdevQueryStru>() {
                    return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
                }
                let wanted = read_in(buf.cast::<c_uint>().cast_const())?;
                answer(buf, &size, given, vdev(&ctx, wanted)?)
            }
            (DCMI_MAIN_CMD_VDEV_MNG, DCMI_VMNG_SUB_CMD_GET_TOTAL_RESOURCE) => {
                answer(buf, &size, given, total(&ctx))
            }
            (DCMI_MAIN_CMD_VDEV_MNG, DCMI_VMNG_SUB_CMD_GET_FREE_RESOURCE) => {
                answer(buf, &size, given, free(&ctx))
            }
            (DCMI_MAIN_CMD_CHIP_INF, DCMI_CHIP_INF_SUB_CMD_SPOD_INFO) => {
                answer(buf, &size, given, spod(&ctx)?)
            }
            _ => Err(DCMI_ERR_CODE_NOT_SUPPORT),
        })
    })
}
