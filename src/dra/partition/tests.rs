use super::*;
use crate::device::model::fixtures::chip;

fn chip_310p() -> Chip {
    let mut c = chip(2, Family::Ascend310P);
    c.aicore = 8;
    c.memory_mb = Some(24 << 10);
    c
}

fn chip_910b() -> Chip {
    let mut c = chip(5, Family::Ascend910B);
    c.aicore = 20;
    c.memory_mb = Some(64 << 10);
    c
}

#[test]
fn a_310p_template_takes_its_cores_and_memory_in_proportion() {
    let c = chip_310p();
    let s = share(&c, "vir02_1c").unwrap();
    assert_eq!(s.aicore, 2);
    assert_eq!(s.memory_mb, Some(6 << 10));
    assert_eq!(fits(&c, s), 4);
    assert_eq!(fits(&c, share(&c, "vir01").unwrap()), 8);
    assert_eq!(fits(&c, share(&c, "vir04_4c_dvpp").unwrap()), 2);
}

#[test]
fn a_910b_template_takes_the_memory_its_name_gives() {
    let c = chip_910b();
    let s = share(&c, "vir10_3c_32g").unwrap();
    assert_eq!(
        s,
        Share {
            aicore: 10,
            memory_mb: Some(32 << 10)
        }
    );
    assert_eq!(fits(&c, s), 2);
    // Six 3-core slices by cores, eight by memory: cores decide.
    assert_eq!(fits(&c, share(&c, "vir03_1c_8g").unwrap()), 6);
    let mut small = chip_910b();
    small.memory_mb = Some(32 << 10);
    // 16 GiB slices: two fit in 32 GiB though 20 cores would take three.
    assert_eq!(fits(&small, share(&small, "vir06_1c_16g").unwrap()), 2);
}

#[test]
fn a_template_larger_than_the_chip_or_malformed_has_no_share() {
    let mut c = chip_910b();
    c.memory_mb = Some(16 << 10);
    assert_eq!(share(&c, "vir10_3c_32g"), None);
    assert_eq!(share(&chip_310p(), "vir16"), None);
    assert_eq!(share(&chip_310p(), "bogus"), None);
    assert_eq!(share(&chip_310p(), "vir00"), None);
}

#[test]
fn the_partitions_of_a_chip_never_draw_more_than_its_counters() {
    for c in [chip_310p(), chip_910b()] {
        let set = counter_set(&c);
        let total_cores: u32 = set.counters[AICORE].value.0.parse().unwrap();
        assert_eq!(total_cores, c.aicore);
        let mut whole_chip = Device {
            name: device_name(c.phy_id),
            ..Default::default()
        };
        consume_whole(&c, &mut whole_chip);
        let drawn = &whole_chip.consumes_counters.as_ref().unwrap()[0];
        assert_eq!(drawn.counter_set, set.name);
        assert_eq!(drawn.counters, set.counters, "the whole chip takes it all");
        let parts = partition_devices(&c, &whole_chip);
        assert!(!parts.is_empty());
        for template in templates(c.family) {
            let s = share(&c, template).unwrap();
            let of_template: Vec<_> = parts
                .iter()
                .filter(|d| parse_partition(&d.name, c.family) == Some((c.phy_id, template)))
                .collect();
            assert_eq!(of_template.len() as u32, fits(&c, s), "{template}");
            assert!(
                of_template.len() as u32 * s.aicore <= c.aicore,
                "{template}"
            );
            if let (Some(total), Some(mb)) = (c.memory_mb, s.memory_mb) {
                assert!(of_template.len() as u64 * mb <= total, "{template}");
            }
        }
        for part in &parts {
            let used = &part.consumes_counters.as_ref().unwrap()[0];
            assert_eq!(used.counter_set, set.name);
            let kind = part.attributes.as_ref().unwrap()["type"].string.clone();
            assert_eq!(kind.as_deref(), Some("vnpu"));
        }
    }
}

#[test]
fn partition_names_are_dns_labels_and_parse_back_to_the_template() {
    let families = [(Family::Ascend310P, 8u32), (Family::Ascend910B, 16)];
    for (family, chips) in families {
        for template in templates(family) {
            for phy in [0, chips - 1] {
                let name = partition_name(phy, template, 7);
                assert!(name.len() <= 63, "{name}");
                assert!(
                    name.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "{name}"
                );
                assert!(!name.ends_with('-') && name.starts_with("npu-"), "{name}");
                assert_eq!(parse_partition(&name, family), Some((phy, *template)));
            }
        }
    }
    assert_eq!(
        partition_name(3, "vir10_3c_16g_nm", 1),
        "npu-3-vir10-3c-16g-nm-1"
    );
    for bad in [
        "npu-3",
        "npu-03-vir01-0",
        "npu-3-vir01-00",
        "npu-3-vir03-0",
        "npu-3-vir01-",
        "npu-3-VIR01-0",
        "npu-3-vir10-3c-32g-0",
    ] {
        assert_eq!(parse_partition(bad, Family::Ascend310P), None, "{bad}");
    }
}

#[test]
fn only_families_with_templates_and_known_cores_are_partitioned() {
    assert!(partitionable(&chip_310p()));
    assert!(partitionable(&chip_910b()));
    assert!(!partitionable(&chip(0, Family::Ascend910)));
    assert!(!partitionable(&chip(0, Family::Ascend910A3)));
    let mut unknown = chip_310p();
    unknown.aicore = 0;
    assert!(!partitionable(&unknown));
}
