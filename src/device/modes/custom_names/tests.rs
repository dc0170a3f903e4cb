#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::device::model::Family;
use crate::device::naming::{AdvertisedDevice, Backing};

fn parse(text: &str) -> Result<Option<PublicNames>, NamesError> {
    PublicNames::parse(text.as_bytes(), Path::new("/etc/names.json"))
}

fn entry(resource: &str, public: &str, prefix: &str, config: &str) -> String {
    format!(
        r#"{{"ResourceType":"{resource}","DevicePublicType":"{public}","DevicePublicNamePre":"{prefix}","PodConfigurationName":"{config}"}}"#
    )
}

fn field_error(text: &str) -> (usize, &'static str, String) {
    match parse(text) {
        Err(NamesError::Field {
            entry,
            field,
            reason,
            path,
        }) => {
            assert_eq!(path, Path::new("/etc/names.json"));
            let message = NamesError::Field {
                path,
                entry,
                field,
                reason: reason.clone(),
            }
            .to_string();
            assert!(
                message.contains("/etc/names.json") && message.contains(field),
                "{message}"
            );
            (entry, field, reason)
        }
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn the_shipped_placeholder_file_renames_nothing() {
    let shipped = format!("[{}]", entry("", "", "", ""));
    assert_eq!(parse(&shipped).unwrap(), None);
    assert_eq!(parse("[]").unwrap(), None);
}

#[test]
fn a_valid_file_names_each_type_and_an_empty_configuration_name_keeps_the_default() {
    let text = format!(
        "[{},{}]",
        entry("Ascend910", "vendor.com/npu910", "npu910-", ""),
        entry("Ascend310P", "vendor.com/npu310p", "npu310p-", "")
    );
    let names = parse(&text).unwrap().unwrap();
    let npu910 = &names.by_type["Ascend910"];
    assert_eq!(npu910.public_type, "vendor.com/npu910");
    assert_eq!(npu910.prefix, "npu910-");
    assert_eq!(npu910.pod_configuration_name, None);
    assert!(names.by_type.contains_key("Ascend310P"));
}

#[test]
fn every_bad_field_is_named_with_its_entry() {
    let good = entry("Ascend910", "vendor.com/npu910", "npu910-", "");
    let cases = [
        (
            entry("Ascend950", "vendor.com/npu950", "npu950-", ""),
            "ResourceType",
        ),
        (
            entry("", "vendor.com/npu910", "npu910-", ""),
            "ResourceType",
        ),
        (
            entry("Ascend910", "vendor.com/npu910", "npu-", ""),
            "ResourceType",
        ),
        (
            entry("Ascend310", "short/n", "npu310-", ""),
            "DevicePublicType",
        ),
        (
            entry("Ascend310", "vendorcomnpu310", "npu310-", ""),
            "DevicePublicType",
        ),
        (
            entry("Ascend310", "vendor.com/a/b310", "npu310-", ""),
            "DevicePublicType",
        ),
        (
            entry("Ascend310", "kubernetes.io/npu310", "npu310-", ""),
            "DevicePublicType",
        ),
        (
            entry("Ascend310", "vendor.com/npu910", "npu310-", ""),
            "DevicePublicType",
        ),
        (
            entry("Ascend310", "vendor.com/npu310", "3npu", ""),
            "DevicePublicNamePre",
        ),
        (
            entry("Ascend310", "vendor.com/npu310", "npu_310", ""),
            "DevicePublicNamePre",
        ),
        (
            entry("Ascend310", "vendor.com/npu310", "npu910-", ""),
            "DevicePublicNamePre",
        ),
        (
            entry("Ascend310", "vendor.com/npu310", "n", ""),
            "DevicePublicNamePre",
        ),
        (
            entry(
                "Ascend310",
                "vendor.com/npu310",
                "npu310-",
                "vendor.com/npu310-config",
            ),
            "PodConfigurationName",
        ),
    ];
    for (bad, field) in cases {
        let (index, got, reason) = field_error(&format!("[{good},{bad}]"));
        assert_eq!((index, got), (1, field), "{bad}: {reason}");
    }
    let (index, got, _) = field_error(&format!(
        "[{}]",
        entry("Ascend910", "vendor.com/npu910", "npu910-", "bad config!")
    ));
    assert_eq!((index, got), (0, "PodConfigurationName"));
}

#[test]
fn malformed_json_and_unknown_keys_name_the_file() {
    for text in [
        "{",
        r#"[{"ResourceType":"Ascend910","Colour":"red"}]"#,
        "{}",
    ] {
        match parse(text) {
            Err(error @ NamesError::Json { .. }) => {
                assert!(error.to_string().contains("/etc/names.json"), "{error}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn a_missing_file_renames_nothing_and_a_huge_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(
        PublicNames::load(&tmp.path().join("none.json")).unwrap(),
        None
    );
    let huge = tmp.path().join("huge.json");
    std::fs::write(&huge, vec![b' '; 70 * 1024]).unwrap();
    assert!(matches!(
        PublicNames::load(&huge),
        Err(NamesError::TooLarge { .. })
    ));
}

fn resource(type_name: &str, family: Family) -> Resource {
    Resource {
        type_name: type_name.into(),
        family,
        is_virtual: type_name.contains('-'),
        devices: vec![AdvertisedDevice {
            id: format!("{type_name}-0"),
            backing: Backing::Chip { phy_id: 0 },
        }],
    }
}

#[test]
fn resources_and_ids_are_renamed_both_ways_keeping_vnpu_suffixes() {
    let text = format!(
        "[{},{}]",
        entry("Ascend910", "vendor.com/npu910", "npu910-", ""),
        entry("Ascend310P", "vendor.com/npu310p", "npu310p-", "")
    );
    let names = parse(&text).unwrap().unwrap();
    let chips = names
        .for_resource(&resource("Ascend910", Family::Ascend910B))
        .unwrap();
    assert_eq!(chips.resource_name, "vendor.com/npu910");
    assert_eq!(chips.id_out("Ascend910-3"), "npu910-3");
    assert_eq!(chips.id_out("Ascend910-3-7"), "npu910-3-7");
    assert_eq!(chips.id_in("npu910-3").as_deref(), Some("Ascend910-3"));
    assert_eq!(chips.id_in("other-3"), None);
    assert_eq!(
        chips.id_in("Ascend910-3"),
        None,
        "kubelet never saw inner IDs"
    );
    let vnpu = names
        .for_resource(&resource("Ascend310P-2c", Family::Ascend310P))
        .unwrap();
    assert_eq!(vnpu.resource_name, "vendor.com/npu310p-2c");
    assert_eq!(vnpu.id_out("Ascend310P-2c-100-0"), "npu310p-2c-100-0");
    assert_eq!(
        vnpu.id_in("npu310p-2c-100-0").as_deref(),
        Some("Ascend310P-2c-100-0")
    );
    assert_eq!(
        names.for_resource(&resource("Ascend310", Family::Ascend310)),
        None
    );
    let resources = [
        resource("Ascend310P", Family::Ascend310P),
        resource("Ascend310P-2c", Family::Ascend310P),
    ];
    let (inner, _) = names.inner_of("vendor.com/npu310p-2c", &resources).unwrap();
    assert_eq!(inner, "Ascend310P-2c");
    assert!(
        names
            .inner_of("huawei.com/Ascend310P", &resources)
            .is_none()
    );
}
