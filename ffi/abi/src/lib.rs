//! The `libdcmi.so` C ABI (Ascend driver management library) as Rust types.
//!
//! Mirrors `ffi/dcmi.h` one to one: `#[repr(C)]` structs named in CamelCase
//! after the C struct (`dcmi_chip_info` -> [`DcmiChipInfo`]) with the C field
//! names, enums as 4-byte integer aliases plus constants, every return code,
//! and a function-pointer alias per exported function (`dcmi_get_card_list`
//! -> [`FnGetCardList`]). No behaviour and no `unsafe` here: the binding and
//! the simulator both build on these definitions, and `tests/layout.rs`
//! proves them equal to the header field by field.

mod chip;
mod codes;
mod consts;
mod event;
mod functions;
mod functions_v2;
mod stats;
mod vnpu;

pub use chip::*;
pub use codes::*;
pub use consts::*;
pub use event::*;
pub use functions::*;
pub use functions_v2::*;
pub use stats::*;
pub use vnpu::*;
