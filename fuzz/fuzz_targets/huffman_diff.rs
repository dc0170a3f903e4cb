#![no_main]

#[path = "../reference.rs"]
mod reference;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ascend_device_plugin::fuzzing::huffman_differential(data, reference::Loona::new)
});
