//! Keeps the loaded library in memory for the rest of the process.
//!
//! The watcher thread runs code of this library; if a consumer dlclose'd it
//! and the loader unmapped it, that thread would jump into unmapped memory.
//! Instead of joining the thread on unload, the library re-opens itself with
//! `RTLD_NODELETE` at the first `dcmi_init`: later `dlclose` calls then leave
//! it mapped, and a later `dlopen` returns the same instance (its state is
//! rebuilt by the next `dcmi_init`). `ASCEND_SIM_NO_PIN=1` turns this off, so
//! a test can show that the consumer itself never unloads the library.

use std::ffi::{CStr, c_void};
use std::sync::OnceLock;

/// Pins the object that contains this function; idempotent. Does nothing
/// when `ASCEND_SIM_NO_PIN=1` (a real driver may not pin itself either).
pub(crate) fn pin_library() -> Result<(), String> {
    static PINNED: OnceLock<Result<(), String>> = OnceLock::new();
    PINNED
        .get_or_init(|| if pinning() { pin_once() } else { Ok(()) })
        .clone()
}

/// False when `ASCEND_SIM_NO_PIN=1`.
pub(crate) fn pinning() -> bool {
    std::env::var_os(crate::runtime::ENV_NO_PIN).is_none_or(|v| v != "1")
}

fn pin_once() -> Result<(), String> {
    let anchor = pin_library as fn() -> Result<(), String> as *const c_void;
    // SAFETY: all-zero bytes are a valid `Dl_info` (null pointers); dladdr
    // only writes into it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `anchor` is an address inside this object and `info` is a
    // valid, writable Dl_info.
    let found = unsafe { libc::dladdr(anchor, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return Err("dladdr found no object for this library".into());
    }
    // SAFETY: dladdr set `dli_fname` to the loader's NUL-terminated path of
    // the object, valid while the object stays loaded (it is: we run in it).
    // RTLD_NOLOAD only takes another reference to the loaded object and
    // RTLD_NODELETE marks it as never unloaded; the handle is deliberately
    // never closed.
    let handle = unsafe {
        libc::dlopen(
            info.dli_fname,
            libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
        )
    };
    if handle.is_null() {
        // SAFETY: dlerror returns NULL or a NUL-terminated message owned by the loader.
        let message = unsafe { libc::dlerror() };
        let reason = if message.is_null() {
            "dlopen failed".to_owned()
        } else {
            // SAFETY: non-NULL `message` is a NUL-terminated string (above).
            unsafe { CStr::from_ptr(message) }
                .to_string_lossy()
                .into_owned()
        };
        return Err(reason);
    }
    Ok(())
}
