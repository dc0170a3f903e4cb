//! Return codes of every DCMI function, and their symbolic names.

use core::ffi::c_int;

/// Success.
pub const DCMI_OK: c_int = 0;
/// Base of the error range; not returned itself.
pub const DCMI_ERROR_CODE_BASE: c_int = -8000;
/// A NULL pointer, a buffer too small, a list too short, an unknown name.
pub const DCMI_ERR_CODE_INVALID_PARAMETER: c_int = -8001;
/// Operation not permitted.
pub const DCMI_ERR_CODE_OPER_NOT_PERMITTED: c_int = -8002;
/// Memory operation failed.
pub const DCMI_ERR_CODE_MEM_OPERATE_FAIL: c_int = -8003;
/// A secure C function failed.
pub const DCMI_ERR_CODE_SECURE_FUN_FAIL: c_int = -8004;
/// Internal error (also: library not initialised, bad topology in the simulator).
pub const DCMI_ERR_CODE_INNER_ERR: c_int = -8005;
/// Timed out.
pub const DCMI_ERR_CODE_TIME_OUT: c_int = -8006;
/// Unknown card id or device index.
pub const DCMI_ERR_CODE_INVALID_DEVICE_ID: c_int = -8007;
/// The device does not exist.
pub const DCMI_ERR_CODE_DEVICE_NOT_EXIST: c_int = -8008;
/// ioctl failed.
pub const DCMI_ERR_CODE_IOCTL_FAIL: c_int = -8009;
/// Sending a message to the device failed.
pub const DCMI_ERR_CODE_SEND_MSG_FAIL: c_int = -8010;
/// Receiving a message from the device failed.
pub const DCMI_ERR_CODE_RECV_MSG_FAIL: c_int = -8011;
/// Device not ready: the card dropped off the bus (consumers map it to the
/// synthetic fault `40F84E00`). The vendor header spells it `NOT_REDAY`.
pub const DCMI_ERR_CODE_NOT_READY: c_int = -8012;
/// The vendor spelling of [`DCMI_ERR_CODE_NOT_READY`].
pub const DCMI_ERR_CODE_NOT_REDAY: c_int = DCMI_ERR_CODE_NOT_READY;
/// Not supported inside a container.
pub const DCMI_ERR_CODE_NOT_SUPPORT_IN_CONTAINER: c_int = -8013;
/// File operation failed.
pub const DCMI_ERR_CODE_FILE_OPERATE_FAIL: c_int = -8014;
/// Reset failed.
pub const DCMI_ERR_CODE_RESET_FAIL: c_int = -8015;
/// Operation aborted.
pub const DCMI_ERR_CODE_ABORT_OPERATE: c_int = -8016;
/// The device is being upgraded.
pub const DCMI_ERR_CODE_IS_UPGRADING: c_int = -8017;
/// Resource occupied (for example: not enough free AI cores for a vNPU).
pub const DCMI_ERR_CODE_RESOURCE_OCCUPIED: c_int = -8020;
/// Partition not right.
pub const DCMI_ERR_CODE_PARTITION_NOT_RIGHT: c_int = -8022;
/// Configuration information does not exist.
pub const DCMI_ERR_CODE_CONFIG_INFO_NOT_EXIST: c_int = -8023;
/// The function or sub command is not supported on this chip.
pub const DCMI_ERR_CODE_NOT_SUPPORT: c_int = -8255;

/// Every return code with its symbolic name (-8012 under the corrected
/// spelling `DCMI_ERR_CODE_NOT_READY`).
pub const RETURN_CODES: [(c_int, &str); 23] = [
    (DCMI_OK, "DCMI_OK"),
    (
        DCMI_ERR_CODE_INVALID_PARAMETER,
        "DCMI_ERR_CODE_INVALID_PARAMETER",
    ),
    (
        DCMI_ERR_CODE_OPER_NOT_PERMITTED,
        "DCMI_ERR_CODE_OPER_NOT_PERMITTED",
    ),
    (
        DCMI_ERR_CODE_MEM_OPERATE_FAIL,
        "DCMI_ERR_CODE_MEM_OPERATE_FAIL",
    ),
    (
        DCMI_ERR_CODE_SECURE_FUN_FAIL,
        "DCMI_ERR_CODE_SECURE_FUN_FAIL",
    ),
    (DCMI_ERR_CODE_INNER_ERR, "DCMI_ERR_CODE_INNER_ERR"),
    (DCMI_ERR_CODE_TIME_OUT, "DCMI_ERR_CODE_TIME_OUT"),
    (
        DCMI_ERR_CODE_INVALID_DEVICE_ID,
        "DCMI_ERR_CODE_INVALID_DEVICE_ID",
    ),
    (
        DCMI_ERR_CODE_DEVICE_NOT_EXIST,
        "DCMI_ERR_CODE_DEVICE_NOT_EXIST",
    ),
    (DCMI_ERR_CODE_IOCTL_FAIL, "DCMI_ERR_CODE_IOCTL_FAIL"),
    (DCMI_ERR_CODE_SEND_MSG_FAIL, "DCMI_ERR_CODE_SEND_MSG_FAIL"),
    (DCMI_ERR_CODE_RECV_MSG_FAIL, "DCMI_ERR_CODE_RECV_MSG_FAIL"),
    (DCMI_ERR_CODE_NOT_READY, "DCMI_ERR_CODE_NOT_READY"),
    (
        DCMI_ERR_CODE_NOT_SUPPORT_IN_CONTAINER,
        "DCMI_ERR_CODE_NOT_SUPPORT_IN_CONTAINER",
    ),
    (
        DCMI_ERR_CODE_FILE_OPERATE_FAIL,
        "DCMI_ERR_CODE_FILE_OPERATE_FAIL",
    ),
    (DCMI_ERR_CODE_RESET_FAIL, "DCMI_ERR_CODE_RESET_FAIL"),
    (DCMI_ERR_CODE_ABORT_OPERATE, "DCMI_ERR_CODE_ABORT_OPERATE"),
    (DCMI_ERR_CODE_IS_UPGRADING, "DCMI_ERR_CODE_IS_UPGRADING"),
    (
        DCMI_ERR_CODE_RESOURCE_OCCUPIED,
        "DCMI_ERR_CODE_RESOURCE_OCCUPIED",
    ),
    (
        DCMI_ERR_CODE_PARTITION_NOT_RIGHT,
        "DCMI_ERR_CODE_PARTITION_NOT_RIGHT",
    ),
    (
        DCMI_ERR_CODE_CONFIG_INFO_NOT_EXIST,
        "DCMI_ERR_CODE_CONFIG_INFO_NOT_EXIST",
    ),
    (DCMI_ERR_CODE_NOT_SUPPORT, "DCMI_ERR_CODE_NOT_SUPPORT"),
    (DCMI_ERROR_CODE_BASE, "DCMI_ERROR_CODE_BASE"),
];

/// The symbolic name of a DCMI return code, as the constant is named here
/// (`-8012` is `"DCMI_ERR_CODE_NOT_READY"`, the corrected spelling of the
/// vendor's `NOT_REDAY`); `None` for a number DCMI does not define.
pub fn return_code_name(code: c_int) -> Option<&'static str> {
    RETURN_CODES
        .iter()
        .find(|(value, _)| *value == code)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_has_its_symbolic_name() {
        assert_eq!(return_code_name(0), Some("DCMI_OK"));
        assert_eq!(
            return_code_name(-8001),
            Some("DCMI_ERR_CODE_INVALID_PARAMETER")
        );
        assert_eq!(return_code_name(-8012), Some("DCMI_ERR_CODE_NOT_READY"));
        assert_eq!(
            return_code_name(-8020),
            Some("DCMI_ERR_CODE_RESOURCE_OCCUPIED")
        );
        assert_eq!(return_code_name(-8255), Some("DCMI_ERR_CODE_NOT_SUPPORT"));
        let numbers: Vec<c_int> = RETURN_CODES.iter().map(|(code, _)| *code).collect();
        let mut expected: Vec<c_int> = (1..=17).map(|n| -8000 - n).collect();
        expected.extend([0, -8000, -8020, -8022, -8023, -8255]);
        for code in expected {
            assert!(numbers.contains(&code), "{code} has no name");
        }
    }

    #[test]
    fn numbers_outside_the_dcmi_range_have_no_name() {
        assert_eq!(return_code_name(-8018), None);
        assert_eq!(return_code_name(1), None);
        assert_eq!(return_code_name(-99998), None);
    }

    #[test]
    fn no_two_codes_share_a_number_or_a_name() {
        for (i, (code, name)) in RETURN_CODES.iter().enumerate() {
            for (other_code, other_name) in &RETURN_CODES[i + 1..] {
                assert_ne!(code, other_code);
                assert_ne!(name, other_name);
            }
        }
    }
}
