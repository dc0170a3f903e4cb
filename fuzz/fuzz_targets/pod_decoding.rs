#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ascend_device_plugin::fuzzing::pod_decoding(data));
