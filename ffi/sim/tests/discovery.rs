//! Every shipped topology is discovered through the library exactly as the
//! plugin does it: card list, chips per card, ids, chip info, board, product,
//! IP, AI cores, memory, version, PCIe, super-pod info.

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::ffi::{c_char, c_int, c_uint};

use common::*;
use dcmi_abi::*;

struct Chip {
    card: c_int,
    dev: c_int,
    logic: c_int,
    phy: c_uint,
    name: String,
    npu_name: String,
    aicore: c_uint,
}

fn discover() -> Vec<Chip> {
    let mut chips = Vec::new();
    for card in cards() {
        let (rc, count) = device_num(card);
        assert_eq!(rc, DCMI_OK);
        assert!((1..=4).contains(&count));
        for dev in 0..count {
            let (rc, logic) = logic_id(card, dev);
            assert_eq!(rc, DCMI_OK);
            let (rc, phy) = phy_from_logic(logic as c_uint);
            assert_eq!(rc, DCMI_OK);
            let (rc, info) = chip_info_v2(card, dev);
            assert_eq!(rc, DCMI_OK);
            assert_eq!(c_text(&info.chip_type), "Ascend");
            chips.push(Chip {
                card,
                dev,
                logic,
                phy,
                name: c_text(&info.chip_name),
                npu_name: c_text(&info.npu_name),
                aicore: info.aicore_cnt,
            });
        }
    }
    chips
}

fn board_id(card: c_int, dev: c_int) -> c_uint {
    let mut board = DcmiBoardInfo::default();
    // SAFETY: `board` is a writable dcmi_board_info.
    let rc =
        unsafe { dcmi!(FnGetDeviceBoardInfo, "dcmi_get_device_board_info")(card, dev, &mut board) };
    assert_eq!(rc, DCMI_OK);
    board.board_id
}

fn device_ip(card: c_int, dev: c_int, family: DcmiIpAddrType) -> (c_int, DcmiIpAddr, DcmiIpAddr) {
    let mut ip = DcmiIpAddr {
        ip_type: family,
        ..DcmiIpAddr::default()
    };
    let mut mask = DcmiIpAddr::default();
    // SAFETY: both structs are writable; ip_type is set as the input.
    let rc = unsafe {
        dcmi!(FnGetDeviceIp, "dcmi_get_device_ip")(card, dev, DCMI_ROCE_PORT, 0, &mut ip, &mut mask)
    };
    (rc, ip, mask)
}

fn hbm_mb(card: c_int, dev: c_int) -> (c_int, u64) {
    let mut hbm = DcmiHbmInfo::default();
    // SAFETY: `hbm` is writable.
    let rc = unsafe { dcmi!(FnGetDeviceHbmInfo, "dcmi_get_device_hbm_info")(card, dev, &mut hbm) };
    (rc, hbm.memory_size)
}

fn ddr_mb(card: c_int, dev: c_int) -> (c_int, u64) {
    let mut memory = DcmiGetMemoryInfoStru::default();
    // SAFETY: `memory` is writable.
    let rc = unsafe {
        dcmi!(FnGetDeviceMemoryInfoV3, "dcmi_get_device_memory_info_v3")(card, dev, &mut memory)
    };
    assert!(memory.memory_available <= memory.memory_size);
    (rc, memory.memory_size)
}

#[test]
fn the_910_module_has_eight_first_generation_chips_one_per_card() {
    let _session = Session::start("910-8");
    assert_eq!(cards(), (0..8).collect::<Vec<_>>());
    let chips = discover();
    assert_eq!(chips.len(), 8);
    for (index, chip) in chips.iter().enumerate() {
        assert_eq!((chip.card, chip.dev), (index as c_int, 0));
        assert_eq!(chip.logic, index as c_int);
        assert_eq!(chip.phy, index as c_uint);
        assert_eq!(chip.name, "910ProB");
        assert_eq!(chip.aicore, 32);
        let (rc, ip, mask) = device_ip(chip.card, 0, DCMI_IPADDR_TYPE_V4);
        assert_eq!(rc, DCMI_OK);
        assert_eq!(ip.ip_type, DCMI_IPADDR_TYPE_V4);
        assert_eq!(ip.u_addr.ip4(), [192, 168, 100, 101 + index as u8]);
        assert_eq!(mask.u_addr.ip4(), [255, 255, 255, 0]);
        assert_eq!(hbm_mb(chip.card, 0), (DCMI_OK, 32768));
        let (rc, total) = total_resource(chip.card, 0);
        assert_eq!(rc, DCMI_OK);
        assert_eq!(total.computing.aic, 32.0);
        assert_eq!(total.vdev_num, 0);
        assert_eq!(network_health(chip.card, 0), (DCMI_OK, DCMI_RDFX_DETECT_OK));
    }
    assert_eq!(board_id(0, 0), 0x20);
}

#[test]
fn the_910b_node_has_sixteen_chips_on_cards_one_to_sixteen_with_logic_ids_unlike_phy_ids() {
    let _session = Session::start("910b-16");
    assert_eq!(cards(), (1..=16).collect::<Vec<_>>());
    let chips = discover();
    assert_eq!(chips.len(), 16);
    assert!(chips.iter().any(|chip| chip.logic as c_uint != chip.phy));
    for chip in &chips {
        assert_eq!(chip.name, "910B3");
        assert_eq!(chip.aicore, 20);
        assert_eq!(chip.phy, (chip.card - 1) as c_uint);
        assert_eq!(hbm_mb(chip.card, 0), (DCMI_OK, 65536));
        assert_eq!(board_id(chip.card, 0), 0x22);
        let mut back = 0;
        // SAFETY: `back` is writable.
        let rc = unsafe {
            dcmi!(
                FnGetDeviceLogicidFromPhyid,
                "dcmi_get_device_logicid_from_phyid"
            )(chip.phy, &mut back)
        };
        assert_eq!((rc, back as c_int), (DCMI_OK, chip.logic));
        let (mut card, mut dev) = (-1, -1);
        // SAFETY: both are writable.
        let rc = unsafe {
            dcmi!(
                FnGetCardIdDeviceIdFromLogicid,
                "dcmi_get_card_id_device_id_from_logicid"
            )(&mut card, &mut dev, chip.logic as c_uint)
        };
        assert_eq!((rc, card, dev), (DCMI_OK, chip.card, chip.dev));
    }
    let phys: std::collections::BTreeSet<c_uint> = chips.iter().map(|chip| chip.phy).collect();
    assert_eq!(phys, (0..16).collect());
}

#[test]
fn the_a3_node_has_eight_cards_of_two_dies_with_super_pod_info_and_ipv6() {
    let _session = Session::start("a3-16");
    let chips = discover();
    assert_eq!(chips.len(), 16);
    for chip in &chips {
        assert_eq!(
            chip.phy,
            (2 * chip.card + chip.dev) as c_uint,
            "card k holds dies 2k and 2k+1"
        );
        assert_eq!(chip.name, "Ascend910");
        assert_eq!(chip.npu_name, "Ascend910_9392");
        assert_eq!(chip.aicore, 24);
        assert_eq!(board_id(chip.card, chip.dev), 0xb0);
        let (rc, spod, size) = device_info(
            chip.card,
            chip.dev,
            DCMI_MAIN_CMD_CHIP_INF,
            DCMI_CHIP_INF_SUB_CMD_SPOD_INFO,
            DcmiSpodInfo::default(),
        );
        assert_eq!(rc, DCMI_OK);
        assert_eq!(size as usize, std::mem::size_of::<DcmiSpodInfo>());
        assert_eq!((spod.super_pod_id, spod.server_id), (1, 0));
        assert_eq!(spod.sdid & 0xff, chip.phy);
        assert_eq!(
            device_ip(chip.card, chip.dev, DCMI_IPADDR_TYPE_V4).0,
            DCMI_ERR_CODE_CONFIG_INFO_NOT_EXIST
        );
        let (rc, ip, mask) = device_ip(chip.card, chip.dev, DCMI_IPADDR_TYPE_V6);
        assert_eq!(rc, DCMI_OK);
        assert_eq!(ip.ip_type, DCMI_IPADDR_TYPE_V6);
        assert_eq!(&ip.u_addr.ip6[..4], &[0xfd, 0x00, 0x00, 0xa3]);
        assert_ne!(&ip.u_addr.ip6[..2], &[0xfe, 0x80]);
        assert_eq!(&mask.u_addr.ip6[..8], &[0xff; 8]);
    }
}

#[test]
fn the_310p_duo_node_reports_its_product_ddr_and_precreated_vnpus() {
    let _session = Session::start("310p-duo-vnpu");
    let chips = discover();
    assert_eq!(chips.len(), 4);
    assert_eq!(cards(), vec![1, 2]);
    for chip in &chips {
        assert_eq!(chip.name, "310P3");
        assert_eq!(chip.aicore, 8);
        let (rc, product) = product_type(chip.card, chip.dev, DCMI_PRODUCT_TYPE_LEN as c_int);
        assert_eq!(rc, DCMI_OK);
        assert_eq!(c_text(&product), "Atlas 300I Duo");
        assert_eq!(ddr_mb(chip.card, chip.dev), (DCMI_OK, 24576));
        assert_eq!(hbm_mb(chip.card, chip.dev).0, DCMI_ERR_CODE_NOT_SUPPORT);
        assert_eq!(
            device_ip(chip.card, chip.dev, DCMI_IPADDR_TYPE_V4).0,
            DCMI_ERR_CODE_NOT_SUPPORT
        );
        let mut unit = INVALID_TYPE;
        // SAFETY: `unit` is writable.
        let rc = unsafe {
            dcmi!(FnGetDeviceType, "dcmi_get_device_type")(chip.card, chip.dev, &mut unit)
        };
        assert_eq!((rc, unit), (DCMI_OK, NPU_TYPE));
    }
    let templates = |card, dev| -> Vec<(c_uint, String, f32)> {
        let (rc, total) = total_resource(card, dev);
        assert_eq!(rc, DCMI_OK);
        assert_eq!(total.computing.aic, 8.0);
        total.vdev_id[..total.vdev_num as usize]
            .iter()
            .map(|id| {
                let (rc, query) = vdev_resource(card, dev, *id);
                assert_eq!(rc, DCMI_OK);
                (
                    *id,
                    c_text_chars(&query.query_info.name),
                    query.query_info.computing.aic,
                )
            })
            .collect()
    };
    assert_eq!(
        templates(1, 0),
        vec![
            (100, "vir02".into(), 2.0),
            (101, "vir02".into(), 2.0),
            (102, "vir04".into(), 4.0)
        ]
    );
    assert_eq!(
        templates(1, 1),
        vec![(103, "vir01".into(), 1.0), (104, "vir01".into(), 1.0)]
    );
    assert!(templates(2, 0).is_empty());
    assert!(templates(2, 1).is_empty());
}

#[test]
fn the_310_card_has_four_chips_on_card_one() {
    let _session = Session::start("310-4");
    assert_eq!(cards(), vec![1]);
    let chips = discover();
    assert_eq!(
        chips
            .iter()
            .map(|chip| (chip.dev, chip.phy))
            .collect::<Vec<_>>(),
        vec![(0, 0), (1, 1), (2, 2), (3, 3)]
    );
    assert!(
        chips
            .iter()
            .all(|chip| chip.name == "310" && chip.aicore == 2)
    );
    assert_eq!(ddr_mb(1, 3), (DCMI_OK, 8192));
    assert_eq!(c_text(&product_type(1, 0, 65).1), "Atlas 300I");
    assert_eq!(create_vnpu(1, 0, "vir01").0, DCMI_ERR_CODE_NOT_SUPPORT);
}

#[test]
fn the_mixed_310p_node_has_three_products() {
    let _session = Session::start("310p-mixed");
    let products: Vec<String> = cards()
        .into_iter()
        .map(|card| c_text(&product_type(card, 0, 65).1))
        .collect();
    assert_eq!(
        products,
        vec!["Atlas 300V", "Atlas 300V Pro", "Atlas 300I Pro"]
    );
}

#[test]
fn the_310b_box_has_one_chip() {
    let _session = Session::start("310b-1");
    let chips = discover();
    assert_eq!(chips.len(), 1);
    assert_eq!(chips[0].name, "310B1");
}

#[test]
fn version_pcie_die_and_sensor_queries_answer_from_the_topology() {
    let _session = Session::start("910b-16");
    let mut version = [0 as c_char; DCMI_VERSION_LEN];
    // SAFETY: `version` holds 33 chars.
    let rc = unsafe {
        dcmi!(FnGetDcmiVersion, "dcmi_get_dcmi_version")(
            version.as_mut_ptr(),
            version.len() as c_uint,
        )
    };
    assert_eq!(rc, DCMI_OK);
    assert_eq!(c_text_chars(&version), "24.1.rc2");

    let mut pcie = DcmiPcieInfoAll::default();
    // SAFETY: `pcie` is writable.
    let rc =
        unsafe { dcmi!(FnGetDevicePcieInfoV2, "dcmi_get_device_pcie_info_v2")(1, 0, &mut pcie) };
    assert_eq!(rc, DCMI_OK);
    assert_eq!(
        (pcie.venderid, pcie.deviceid, pcie.domain, pcie.bdf_busid),
        (0x19e5, 0xd802, 0, 0x01)
    );

    let mut die = DcmiDieId::default();
    // SAFETY: `die` is writable.
    let rc = unsafe { dcmi!(FnGetDeviceDieV2, "dcmi_get_device_die_v2")(1, 0, VDIE, &mut die) };
    assert_eq!(rc, DCMI_OK);
    assert_ne!(die.soc_die, [0; 5]);

    let mut temperature = 0;
    // SAFETY: writable.
    let rc = unsafe {
        dcmi!(FnGetDeviceTemperature, "dcmi_get_device_temperature")(1, 0, &mut temperature)
    };
    assert_eq!(rc, DCMI_OK);
    assert!((20..100).contains(&temperature));
    let mut power = 0;
    // SAFETY: writable.
    let rc = unsafe { dcmi!(FnGetDevicePowerInfo, "dcmi_get_device_power_info")(1, 0, &mut power) };
    assert_eq!(rc, DCMI_OK);
    assert!(power > 0);
    let mut boot = 0;
    // SAFETY: writable.
    let rc =
        unsafe { dcmi!(FnGetDeviceBootStatus, "dcmi_get_device_boot_status")(1, 0, &mut boot) };
    assert_eq!((rc, boot), (DCMI_OK, DCMI_SYSTEM_START_FINISH));
    let mut rate = 1000;
    // SAFETY: writable.
    let rc = unsafe {
        dcmi!(
            FnGetDeviceUtilizationRate,
            "dcmi_get_device_utilization_rate"
        )(1, 0, DCMI_UTILIZATION_RATE_AICORE, &mut rate)
    };
    assert_eq!(rc, DCMI_OK);
    assert!(rate <= 100);
    let (rc, _, _) = device_info(
        1,
        0,
        DCMI_MAIN_CMD_CHIP_INF,
        DCMI_CHIP_INF_SUB_CMD_SPOD_INFO,
        DcmiSpodInfo::default(),
    );
    assert_eq!(rc, DCMI_ERR_CODE_NOT_SUPPORT, "super-pod info is A3 only");
}

#[test]
fn every_symbol_of_the_header_is_exported() {
    let _session = Session::start("910-8");
    for name in EXPORTED_FUNCTIONS {
        lib().sym::<FnInit>(name);
    }
}

#[test]
fn an_unknown_topology_name_or_a_bad_file_fails_init_and_later_calls() {
    let session = Session::start("910-8");
    let bad = session.dir.join("bad.json");
    std::fs::write(&bad, "{\"name\": \"x\", \"cards\": [").unwrap();
    set_env("ASCEND_SIM_TOPOLOGY", Some(bad.to_str().unwrap()));
    assert_eq!(session.init(), DCMI_ERR_CODE_INNER_ERR);
    assert_eq!(device_num(0).0, DCMI_ERR_CODE_INNER_ERR);
    set_env("ASCEND_SIM_TOPOLOGY", Some("no-such-topology"));
    assert_eq!(session.init(), DCMI_ERR_CODE_INNER_ERR);
    set_env("ASCEND_SIM_TOPOLOGY", None);
    assert_eq!(session.init(), DCMI_OK, "unset means 910-8");
    assert_eq!(cards().len(), 8);
}
