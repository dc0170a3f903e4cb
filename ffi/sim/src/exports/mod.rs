//! Every exported `dcmi_*` function, grouped like dcmi.h. Each body runs in
//! [`call`]: no panic crosses into C (a panic returns -8005), and chaos mode
//! `hang` blocks here. Argument order of checks: NULL pointers (-8001), then
//! initialisation (-8005), then ids (-8007), then a dropped card (-8012).

mod device_info;
mod discovery;
mod health;
mod identity;
mod library;
mod memory;
mod network;
mod ptr;
mod reset;
mod sensors;
mod signatures;
mod v2;
mod vnpu;

use std::ffi::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use dcmi_abi::{DCMI_ERR_CODE_INNER_ERR, DCMI_OK};

use crate::chaos::{Chaos, ChaosMode};

/// Runs an export's body after any `hang`, turning a panic into -8005.
pub(crate) fn call(body: impl FnOnce() -> Result<(), c_int>) -> c_int {
    run(|| {
        crate::runtime::wait_while_hanging();
        if crate::runtime::chaos_has(ChaosMode::Fail) {
            return Err(DCMI_ERR_CODE_INNER_ERR);
        }
        body()
    })
}

/// Like [`call`] but never hangs (for `dcmi_init`).
pub(crate) fn call_without_hang(body: impl FnOnce() -> Result<(), c_int>) -> c_int {
    run(body)
}

fn run(body: impl FnOnce() -> Result<(), c_int>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => DCMI_OK,
        Ok(Err(code)) => code,
        Err(_) => DCMI_ERR_CODE_INNER_ERR,
    }
}

/// A fixed-size `unsigned char` string field.
pub(crate) fn text_u8<const N: usize>(chaos: &Chaos, text: &str) -> [u8; N] {
    let mut field = [0u8; N];
    field.copy_from_slice(&chaos.c_string(text, N));
    field
}

/// A fixed-size `char` string field.
pub(crate) fn text_char<const N: usize>(chaos: &Chaos, text: &str) -> [c_char; N] {
    text_u8::<N>(chaos, text).map(|byte| byte as c_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_an_export_body_becomes_inner_error() {
        let code = call(|| panic!("simulated bug"));
        assert_eq!(code, DCMI_ERR_CODE_INNER_ERR);
        assert_eq!(call(|| Ok(())), DCMI_OK);
        assert_eq!(call(|| Err(-8001)), -8001);
    }
}
