//! Library-level calls: init, version, multi-die policy.

use std::ffi::{c_char, c_int, c_uint};

use dcmi_abi::{DCMI_ERR_CODE_INVALID_PARAMETER, DCMI_MULTI_DIE_POLICY_MAX, DcmiMultiDiePolicy};

use super::ptr::{Out, OutArray};
use super::{call, call_without_hang};
use crate::chaos::ChaosMode;
use crate::runtime::{self, with_sim};

/// (Re)initialises the library from `ASCEND_SIM_TOPOLOGY`, `ASCEND_SIM_STATE`
/// and `ASCEND_SIM_CHAOS`; -8005 (with one line on stderr) for a bad topology,
/// -8255 (uninitialised) for a topology whose driver serves the v2 API.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_init() -> c_int {
    call_without_hang(|| runtime::init_api(1))
}

/// The topology's `dcmi_version`, which is also the simulated driver version.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_dcmi_version(dcmi_ver: *mut c_char, len: c_uint) -> c_int {
    call(|| {
        let out = OutArray::new(dcmi_ver, len as usize)?;
        let (chaos, version) =
            with_sim(|sim| Ok((sim.chaos(), sim.topology.dcmi_version.clone())))?;
        if out.len() <= version.len() && !chaos.has(ChaosMode::NoNul) {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        out.fill(
            chaos
                .c_string(&version, out.len())
                .into_iter()
                .map(|byte| byte as c_char),
        );
        Ok(())
    })
}

/// The policy last set (initially union).
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_multi_die_policy(policy: *mut DcmiMultiDiePolicy) -> c_int {
    call(|| {
        let out = Out::new(policy)?;
        out.write(with_sim(|sim| Ok(sim.multi_die_policy))?);
        Ok(())
    })
}

/// Stores the policy; -8001 outside the enum.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_set_multi_die_policy(policy: DcmiMultiDiePolicy) -> c_int {
    call(|| {
        if policy >= DCMI_MULTI_DIE_POLICY_MAX {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        with_sim(|sim| {
            sim.set_multi_die_policy(policy);
            Ok(())
        })
    })
}
