//! Proves that the Rust `#[repr(C)]` types, `ffi/dcmi.h` and the measured
//! reference layout agree: every struct's size and alignment, every field's
//! offset, size and alignment.
//!
//! The C side comes from `ffi/probe/layout.c`, compiled against our header
//! with the target's C compiler and run; the reference numbers (x86_64, gcc)
//! are hard-coded below from the vendor-layout measurements. The compiler is
//! `cc`, or `$DCMI_PROBE_CC` when the tests are built for another target
//! (`scripts/cross.sh` sets `aarch64-linux-gnu-gcc` and runs everything under
//! emulation); the probe names the architecture it was built for, and a
//! mismatch with this build fails the tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ffi::{c_char, c_long};
use std::mem::{align_of, align_of_val, offset_of, size_of, size_of_val};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use dcmi_abi::*;

/// "struct NAME" -> (size, align); "field NAME FIELD" -> (offset, size, align);
/// "enum NAME" -> (size, 0, 0).
type Layout = BTreeMap<String, (usize, usize, usize)>;

macro_rules! rust_layout {
    ($out:ident; $($ty:ty => $cname:literal { $($field:ident),* $(,)? })*) => {
        $(
            $out.insert(
                format!("struct {}", $cname),
                (size_of::<$ty>(), align_of::<$ty>(), 0),
            );
            let value = <$ty>::default();
            $(
                let name = stringify!($field).trim_start_matches("r#");
                $out.insert(
                    format!("field {} {}", $cname, name),
                    (offset_of!($ty, $field), size_of_val(&value.$field), align_of_val(&value.$field)),
                );
            )*
        )*
    };
}

fn rust_side() -> Layout {
    let mut out = Layout::new();
    for name in [
        "dcmi_unit_type",
        "dcmi_ip_addr_type",
        "dcmi_port_type",
        "dcmi_rdfx_detect_result",
        "dcmi_main_cmd",
        "dcmi_freq_type",
        "dcmi_reset_channel",
        "dcmi_boot_status",
        "dcmi_device_type",
        "dcmi_event_type",
        "dcmi_die_type",
        "dcmi_multi_die_policy",
    ] {
        out.insert(format!("enum {name}"), (4, 0, 0));
    }
    // Each enum alias is a 4-byte integer.
    let enum_sizes = [
        size_of::<DcmiUnitType>(),
        size_of::<DcmiIpAddrType>(),
        size_of::<DcmiPortType>(),
        size_of::<DcmiRdfxDetectResult>(),
        size_of::<DcmiMainCmd>(),
        size_of::<DcmiFreqType>(),
        size_of::<DcmiResetChannel>(),
        size_of::<DcmiBootStatus>(),
        size_of::<DcmiDeviceType>(),
        size_of::<DcmiEventType>(),
        size_of::<DcmiDieType>(),
        size_of::<DcmiMultiDiePolicy>(),
    ];
    assert!(enum_sizes.iter().all(|size| *size == 4), "{enum_sizes:?}");

    rust_layout! { out;
        DcmiChipInfo => "dcmi_chip_info" { chip_type, chip_name, chip_ver, aicore_cnt }
        DcmiChipInfoV2 => "dcmi_chip_info_v2" { chip_type, chip_name, chip_ver, aicore_cnt, npu_name }
        DcmiBoardInfo => "dcmi_board_info" { board_id, pcb_id, bom_id, slot_id }
        DcmiDieId => "dcmi_die_id" { soc_die }
        DcmiPcieInfoAll => "dcmi_pcie_info_all" {
            venderid, subvenderid, deviceid, subdeviceid, domain, bdf_busid, bdf_deviceid,
            bdf_funcid, reserve,
        }
        DcmiElabelInfo => "dcmi_elabel_info" {
            product_name, model, manufacturer, manufacturer_date, serial_number,
        }
        DcmiSpodInfo => "dcmi_spod_info" {
            sdid, scale_type, super_pod_id, server_id, chassis_id, super_pod_type, reserve,
        }
        DcmiHbmInfo => "dcmi_hbm_info" { memory_size, freq, memory_usage, temp, bandwith_util_rate }
        DcmiGetMemoryInfoStru => "dcmi_get_memory_info_stru" {
            memory_size, memory_available, freq, hugepagesize, hugepages_total, hugepages_free,
            utiliza, reserve,
        }
        DcmiMemoryInfoStru => "dcmi_memory_info_stru" { memory_size, freq, utiliza }
        DcmiIpAddrUnion => "dcmi_ip_addr_union" { ip6 }
        DcmiIpAddr => "dcmi_ip_addr" { u_addr, ip_type }
        DcmiEccInfo => "dcmi_ecc_info" {
            enable_flag, single_bit_error_cnt, double_bit_error_cnt, total_single_bit_error_cnt,
            total_double_bit_error_cnt, single_bit_isolated_pages_cnt,
            double_bit_isolated_pages_cnt, single_bit_next_isolated_pages_cnt,
            double_bit_next_isolated_pages_cnt,
        }
        DcmiMultiUtilizationInfo => "dcmi_multi_utilization_info" {
            aic_util, aiv_util, aicore_util, npu_util, reserved,
        }
        DcmiProcMemInfo => "dcmi_proc_mem_info" { proc_id, proc_mem_usage }
        DcmiPcieLinkBandwidthInfo => "dcmi_pcie_link_bandwidth_info" {
            profiling_time, tx_p_bw, tx_np_bw, tx_cpl_bw, tx_np_lantency, rx_p_bw, rx_np_bw,
            rx_cpl_bw,
        }
        DcmiHccsStatisticInfo => "dcmi_hccs_statistic_info" {
            tx_cnt, rx_cnt, crc_err_cnt, retry_cnt, reserved_field_cnt,
        }
        DcmiHccsStatisticInfoU64 => "dcmi_hccs_statistic_info_u64" {
            tx_cnt, rx_cnt, crc_err_cnt, retry_cnt, reserved,
        }
        DcmiHccsBandwidthInfo => "dcmi_hccs_bandwidth_info" {
            profiling_time, total_txbw, total_rxbw, tx_bandwidth, rx_bandwidth,
        }
        DcmiSioCrcErrStatisticInfo => "dcmi_sio_crc_err_statistic_info" {
            tx_error_count, rx_error_count, reserved,
        }
        DcmiBaseResource => "dcmi_base_resource" {
            token, token_max, task_timeout, vfg_id, vip_mode, reserved,
        }
        DcmiComputingResource => "dcmi_computing_resource" {
            aic, aiv, dsa, rtsq, acsq, cdqm, c_core, ffts, sdma, pcie_dma, memory_size, event_id,
            notify_id, stream_id, model_id, topic_schedule_aicpu, host_ctrl_cpu, host_aicpu,
            device_aicpu, topic_ctrl_cpu_slot, vdev_aicore_utilization, vdev_memory_total,
            vdev_memory_free, reserved,
        }
        DcmiMediaResource => "dcmi_media_resource" { jpegd, jpege, vpc, vdec, pngd, venc, reserved }
        DcmiCreateVdevResStru => "dcmi_create_vdev_res_stru" { vdev_id, vfg_id, template_name, reserved }
        DcmiCreateVdevOut => "dcmi_create_vdev_out" {
            vdev_id, pcie_bus, pcie_device, pcie_func, vfg_id, reserved,
        }
        DcmiVdevQueryInfo => "dcmi_vdev_query_info" {
            name, status, is_container_used, vfid, vfg_id, container_id, base, computing, media,
        }
        DcmiVdevQueryStru => "dcmi_vdev_query_stru" { vdev_id, query_info }
        DcmiSocFreeResource => "dcmi_soc_free_resource" { vfg_num, vfg_bitmap, base, computing, media }
        DcmiSocTotalResource => "dcmi_soc_total_resource" {
            vdev_num, vdev_id, vfg_num, vfg_bitmap, base, computing, media,
        }
        DcmiDmsFaultEvent => "dcmi_dms_fault_event" {
            event_id, deviceid, node_type, node_id, sub_node_type, sub_node_id, severity,
            assertion, event_serial_num, notify_serial_num, alarm_raised_time, event_name,
            additional_info, resv,
        }
        DcmiEventUnion => "dcmi_event_union" { dms_event }
        DcmiEvent => "dcmi_event" { r#type, event_t }
        DcmiEventFilter => "dcmi_event_filter" { filter_flag, event_id, severity, node_type, resv }
    }

    // A struct stands in for `union dcmi_ip_addr_union`; its C member `ip4`
    // is the first four bytes of `ip6`, read through `DcmiIpAddrUnion::ip4`.
    let ip = DcmiIpAddrUnion::default();
    out.insert(
        "field dcmi_ip_addr_union ip4".into(),
        (0, size_of_val(&ip.ip4()), align_of_val(&ip.ip4())),
    );
    out
}

/// What the probe says about the target its compiler built for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TargetAbi {
    arch: String,
    char_signed: bool,
    long_size: usize,
    pointer_size: usize,
}

/// The C probe's lines, parsed (compiled and run once per test process).
fn c_probe() -> &'static (Layout, TargetAbi) {
    static C_LAYOUT: OnceLock<(Layout, TargetAbi)> = OnceLock::new();
    C_LAYOUT.get_or_init(run_c_probe)
}

fn c_side() -> Layout {
    c_probe().0.clone()
}

/// Compiles and runs the C probe; returns its lines parsed.
fn run_c_probe() -> (Layout, TargetAbi) {
    let ffi = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let source = ffi.join("probe").join("layout.c");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dcmi-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("layout-probe");
    let compiler = std::env::var("DCMI_PROBE_CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&compiler)
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .unwrap_or_else(|error| panic!("the C compiler `{compiler}` runs: {error}"));
    assert!(
        status.success(),
        "{compiler} failed to compile {}",
        source.display()
    );
    let output = Command::new(&binary)
        .output()
        .expect("the layout probe runs");
    assert!(output.status.success(), "the layout probe failed");
    std::fs::remove_dir_all(&dir).ok();

    let text = String::from_utf8(output.stdout).unwrap();
    let mut layout = Layout::new();
    let mut abi = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let number = |i: usize| -> usize { words[i].parse().unwrap() };
        let (key, value) = match words.first().copied() {
            Some("abi") => {
                let found = TargetAbi {
                    arch: words[1].to_owned(),
                    char_signed: number(2) == 1,
                    long_size: number(3),
                    pointer_size: number(4),
                };
                assert!(abi.replace(found).is_none(), "two abi lines");
                continue;
            }
            Some("enum") => (format!("enum {}", words[1]), (number(2), 0, 0)),
            Some("struct") => (format!("struct {}", words[1]), (number(2), number(3), 0)),
            Some("field") => (
                format!("field {} {}", words[1], words[2]),
                (number(3), number(4), number(5)),
            ),
            _ => panic!("unexpected probe line {line:?}"),
        };
        assert!(
            layout.insert(key, value).is_none(),
            "duplicate probe line {line:?}"
        );
    }
    (layout, abi.expect("the probe prints its abi line"))
}

#[test]
fn the_probe_was_compiled_for_the_target_of_this_build() {
    // Figures from a compiler for another architecture would prove nothing
    // about this one: cross builds must set DCMI_PROBE_CC.
    let rust = TargetAbi {
        arch: std::env::consts::ARCH.to_owned(),
        char_signed: c_char::MIN != 0,
        long_size: size_of::<c_long>(),
        pointer_size: size_of::<*const u8>(),
    };
    assert_eq!(
        c_probe().1,
        rust,
        "C probe (left) and this Rust build (right)"
    );
    // Signedness of `char` differs between the two targets we ship for;
    // dcmi-abi uses `c_char`, so its arrays follow it on either.
    match rust.arch.as_str() {
        "x86_64" => assert!(rust.char_signed),
        "aarch64" => assert!(!rust.char_signed),
        other => panic!("no layout reference for {other}"),
    }
}

#[test]
fn every_struct_and_field_matches_between_rust_and_the_c_header() {
    let c = c_side();
    let rust = rust_side();
    let only_c: Vec<&String> = c.keys().filter(|key| !rust.contains_key(*key)).collect();
    let only_rust: Vec<&String> = rust.keys().filter(|key| !c.contains_key(*key)).collect();
    assert!(
        only_c.is_empty(),
        "in dcmi.h but not in dcmi-abi: {only_c:?}"
    );
    assert!(
        only_rust.is_empty(),
        "in dcmi-abi but not in dcmi.h: {only_rust:?}"
    );
    for (key, c_value) in &c {
        assert_eq!(
            &rust[key], c_value,
            "{key}: Rust (left) differs from C (right)"
        );
    }
    assert_eq!(
        c.keys().filter(|key| key.starts_with("struct ")).count(),
        33
    );
}

#[test]
fn the_fields_of_each_struct_cover_it_with_padding_only_between_them() {
    let c = c_side();
    let mut structs: BTreeMap<&str, Vec<(usize, usize, usize)>> = BTreeMap::new();
    for (key, value) in &c {
        if let Some(rest) = key.strip_prefix("field ") {
            let name = rest.split(' ').next().unwrap();
            structs.entry(name).or_default().push(*value);
        }
    }
    for (name, mut fields) in structs {
        let (size, align, _) = c[&format!("struct {name}")];
        fields.sort();
        if name.ends_with("_union") {
            let largest = fields.iter().map(|(_, size, _)| *size).max().unwrap();
            assert!(fields.iter().all(|(offset, _, _)| *offset == 0), "{name}");
            assert_eq!(largest, size, "{name}: union size is its largest member");
            continue;
        }
        let mut end = 0;
        for (offset, field_size, field_align) in fields {
            assert!(offset >= end, "{name}: fields overlap at {offset}");
            assert!(
                offset - end < field_align,
                "{name}: a gap of {} bytes before offset {offset} hides a field",
                offset - end
            );
            end = offset + field_size;
        }
        assert!(
            size - end < align,
            "{name}: {} bytes after the last field",
            size - end
        );
    }
}

/// Sizes and offsets measured with gcc on x86_64 for the vendor layout.
const REFERENCE_SIZES: [(&str, usize); 31] = [
    ("dcmi_chip_info", 100),
    ("dcmi_chip_info_v2", 132),
    ("dcmi_board_info", 16),
    ("dcmi_die_id", 20),
    ("dcmi_hbm_info", 32),
    ("dcmi_get_memory_info_stru", 112),
    ("dcmi_memory_info_stru", 16),
    ("dcmi_ip_addr", 20),
    ("dcmi_pcie_info_all", 64),
    ("dcmi_base_resource", 64),
    ("dcmi_computing_resource", 96),
    ("dcmi_media_resource", 56),
    ("dcmi_create_vdev_out", 52),
    ("dcmi_create_vdev_res_stru", 104),
    ("dcmi_vdev_query_info", 256),
    ("dcmi_vdev_query_stru", 264),
    ("dcmi_soc_free_resource", 224),
    ("dcmi_soc_total_resource", 360),
    ("dcmi_spod_info", 48),
    ("dcmi_dms_fault_event", 352),
    ("dcmi_event", 360),
    ("dcmi_event_filter", 48),
    ("dcmi_proc_mem_info", 16),
    ("dcmi_elabel_info", 1280),
    ("dcmi_ecc_info", 36),
    ("dcmi_multi_utilization_info", 48),
    ("dcmi_hccs_statistic_info", 512),
    ("dcmi_hccs_statistic_info_u64", 1024),
    ("dcmi_hccs_bandwidth_info", 280),
    ("dcmi_sio_crc_err_statistic_info", 12),
    ("dcmi_pcie_link_bandwidth_info", 88),
];

const REFERENCE_OFFSETS: [(&str, &str, usize); 25] = [
    ("dcmi_chip_info", "aicore_cnt", 96),
    ("dcmi_chip_info_v2", "npu_name", 100),
    ("dcmi_hbm_info", "memory_usage", 16),
    ("dcmi_hbm_info", "temp", 24),
    ("dcmi_get_memory_info_stru", "hugepagesize", 24),
    ("dcmi_get_memory_info_stru", "utiliza", 48),
    ("dcmi_computing_resource", "memory_size", 24),
    ("dcmi_computing_resource", "topic_schedule_aicpu", 48),
    ("dcmi_computing_resource", "vdev_aicore_utilization", 60),
    ("dcmi_computing_resource", "vdev_memory_total", 64),
    ("dcmi_vdev_query_info", "container_id", 32),
    ("dcmi_vdev_query_info", "base", 40),
    ("dcmi_vdev_query_info", "computing", 104),
    ("dcmi_vdev_query_info", "media", 200),
    ("dcmi_vdev_query_stru", "query_info", 8),
    ("dcmi_soc_total_resource", "vfg_num", 132),
    ("dcmi_soc_total_resource", "base", 144),
    ("dcmi_dms_fault_event", "event_serial_num", 12),
    ("dcmi_dms_fault_event", "alarm_raised_time", 24),
    ("dcmi_dms_fault_event", "event_name", 32),
    ("dcmi_dms_fault_event", "additional_info", 288),
    ("dcmi_dms_fault_event", "resv", 320),
    ("dcmi_event", "event_t", 8),
    ("dcmi_event_filter", "event_id", 8),
    ("dcmi_event_filter", "resv", 14),
];

#[test]
fn the_header_and_the_rust_types_have_the_measured_reference_sizes_and_offsets() {
    let c = c_side();
    let rust = rust_side();
    for side in [&c, &rust] {
        for (name, size) in REFERENCE_SIZES {
            assert_eq!(side[&format!("struct {name}")].0, size, "sizeof({name})");
        }
        for (name, field, offset) in REFERENCE_OFFSETS {
            assert_eq!(
                side[&format!("field {name} {field}")].0,
                offset,
                "offsetof({name}, {field})"
            );
        }
        for (key, (size, _, _)) in side.iter() {
            if key.starts_with("enum ") {
                assert_eq!(*size, 4, "{key}");
            }
        }
    }
}

#[test]
fn default_values_are_all_zero() {
    let event = DcmiEvent::default();
    assert_eq!(event.r#type, 0);
    assert!(
        event
            .event_t
            .dms_event
            .event_name
            .iter()
            .all(|byte| *byte == 0)
    );
    assert!(
        DcmiElabelInfo::default()
            .serial_number
            .iter()
            .all(|byte| *byte == 0)
    );
    assert!(
        DcmiHccsStatisticInfoU64::default()
            .reserved
            .iter()
            .all(|word| *word == 0)
    );
    assert_eq!(DcmiSocTotalResource::default().computing.aic, 0.0);
    let mut ip = DcmiIpAddrUnion::default();
    ip.set_ip4([192, 168, 100, 101]);
    assert_eq!(ip.ip4(), [192, 168, 100, 101]);
    assert_eq!(ip.ip6[4..], [0; 12]);
}

/// The `dcmiv2_*` functions `ffi/dcmi.h` declares, in order.
fn header_v2_functions() -> Vec<String> {
    let header =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dcmi.h"))
            .unwrap();
    header
        .lines()
        .filter_map(|line| line.strip_prefix("int dcmiv2_"))
        .map(|rest| format!("dcmiv2_{}", rest.split('(').next().unwrap()))
        .collect()
}

#[test]
fn every_v2_function_of_the_header_has_its_rust_prototype_and_no_other() {
    assert_eq!(header_v2_functions(), EXPORTED_V2_FUNCTIONS);
    assert_eq!(DDIE, 2);
}
