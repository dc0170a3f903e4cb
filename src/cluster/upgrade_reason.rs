//! The `UpgradeFaultReason` value of the device-info ConfigMap (recovery
//! spec §2.6): chip name -> the reasons a rule raised its level, as upstream
//! writes them, so either plugin can read what the other persisted.
//! `{"Ascend910-3":[{"upgrade_time":1760000000000,"fault_code":"80e01801","fault_level":"ManuallySeparateNPU","upgrade_type":"FaultFrequency"}]}`

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::device::faults::{FaultCode, FaultLevel};
use crate::device::upgrade::{AUTOFILL_CODE, ReasonCode, UpgradeReason, UpgradeType};

/// One reason in upstream's field order.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    upgrade_time: u64,
    fault_code: String,
    fault_level: String,
    upgrade_type: String,
}

/// The value to write (`{}` when no chip has a reason). Keys sorted, as Go
/// sorts map keys.
pub fn format_upgrade_reasons<'a>(
    chips: impl IntoIterator<Item = (&'a str, &'a [UpgradeReason])>,
) -> String {
    let map: BTreeMap<&str, Vec<Wire>> = chips
        .into_iter()
        .filter(|(_, reasons)| !reasons.is_empty())
        .map(|(name, reasons)| {
            let wire = reasons
                .iter()
                .map(|r| Wire {
                    upgrade_time: r.time_ms,
                    fault_code: r.code.to_string(),
                    fault_level: r.level.as_str().to_owned(),
                    upgrade_type: r.kind.as_str().to_owned(),
                })
                .collect();
            (name, wire)
        })
        .collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

/// Chip name -> its reasons, as read back.
pub type ReasonsByName = BTreeMap<String, Vec<UpgradeReason>>;

/// Reads the value back: chip name -> reasons. A value that is not the
/// expected JSON is an error naming the key; an entry with an unknown
/// level, type or code is skipped with a warning.
pub fn parse_upgrade_reasons(value: &str) -> Result<(ReasonsByName, Vec<String>), String> {
    if value.trim().is_empty() {
        return Ok((BTreeMap::new(), Vec::new()));
    }
    let map: BTreeMap<String, Vec<Wire>> = serde_json::from_str(value)
        .map_err(|e| format!("UpgradeFaultReason is not a chip -> reasons JSON object: {e}"))?;
    let mut warnings = Vec::new();
    let mut out = BTreeMap::new();
    for (name, wires) in map {
        let mut reasons = Vec::new();
        for wire in wires {
            match reason_of(&wire) {
                Some(reason) => reasons.push(reason),
                None => warnings.push(format!(
                    "UpgradeFaultReason: skipping {name}'s reason {:?}/{:?}/{:?}",
                    clip(&wire.fault_code),
                    clip(&wire.fault_level),
                    clip(&wire.upgrade_type)
                )),
            }
        }
        out.insert(name, reasons);
    }
    Ok((out, warnings))
}

fn reason_of(wire: &Wire) -> Option<UpgradeReason> {
    let code = if wire.fault_code == AUTOFILL_CODE {
        ReasonCode::Autofill
    } else {
        ReasonCode::Code(FaultCode::parse(&wire.fault_code.to_ascii_uppercase()).ok()?)
    };
    let level = FaultLevel::from_upstream(&wire.fault_level)?;
    if level == FaultLevel::Normal {
        return None;
    }
    Some(UpgradeReason {
        code,
        level,
        kind: UpgradeType::from_upstream(&wire.upgrade_type)?,
        time_ms: wire.upgrade_time,
    })
}

fn clip(s: &str) -> String {
    s.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const EXAMPLE: &str = r#"{"Ascend910-3":[{"upgrade_time":1760000000000,"fault_code":"80e01801","fault_level":"ManuallySeparateNPU","upgrade_type":"FaultFrequency"}]}"#;

    #[test]
    fn the_spec_example_reads_back_and_writes_out_byte_for_byte() {
        let (map, warnings) = parse_upgrade_reasons(EXAMPLE).unwrap();
        assert!(warnings.is_empty());
        let reasons = &map["Ascend910-3"];
        assert_eq!(reasons[0].code, ReasonCode::Code(FaultCode(0x80E0_1801)));
        assert_eq!(reasons[0].kind, UpgradeType::FaultFrequency);
        let text = format_upgrade_reasons(map.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
        assert_eq!(text, EXAMPLE);
    }

    #[test]
    fn a_long_code_reason_round_trips_with_its_leading_zero() {
        let text = r#"{"npu-3":[{"upgrade_time":9,"fault_code":"020001002","fault_level":"ManuallySeparateNPU","upgrade_type":"FaultFrequency"},{"upgrade_time":9,"fault_code":"200001002","fault_level":"ManuallySeparateNPU","upgrade_type":"FaultDuration"}]}"#;
        let (map, warnings) = parse_upgrade_reasons(text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            map["npu-3"][0].code,
            ReasonCode::Code(FaultCode(0x2000_1002))
        );
        assert_eq!(
            map["npu-3"][1].code,
            ReasonCode::Code(FaultCode(0x2_0000_1002))
        );
        let out = format_upgrade_reasons(map.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
        assert_eq!(out, text);
    }

    #[test]
    fn no_reasons_is_an_empty_object_and_empty_text_reads_as_none() {
        assert_eq!(format_upgrade_reasons([("Ascend910-0", &[][..])]), "{}");
        assert!(parse_upgrade_reasons("").unwrap().0.is_empty());
        assert!(parse_upgrade_reasons("{}").unwrap().0.is_empty());
    }

    #[test]
    fn an_autofill_reason_keeps_its_marker() {
        let text = r#"{"Ascend910-1":[{"upgrade_time":5,"fault_code":"AutofillFaultCode","fault_level":"ManuallySeparateNPU","upgrade_type":"FaultAutofill"}]}"#;
        let (map, _) = parse_upgrade_reasons(text).unwrap();
        assert_eq!(map["Ascend910-1"][0].code, ReasonCode::Autofill);
        let out = format_upgrade_reasons(map.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
        assert_eq!(out, text);
    }

    #[test]
    fn a_bad_entry_is_skipped_and_bad_json_is_an_error_naming_the_key() {
        let text = r#"{"Ascend910-1":[{"upgrade_time":5,"fault_code":"zz","fault_level":"ManuallySeparateNPU","upgrade_type":"FaultAutofill"},{"upgrade_time":5,"fault_code":"80e01801","fault_level":"Bad","upgrade_type":"FaultFrequency"}]}"#;
        let (map, warnings) = parse_upgrade_reasons(text).unwrap();
        assert!(map["Ascend910-1"].is_empty());
        assert_eq!(warnings.len(), 2);
        assert!(
            parse_upgrade_reasons("[1]")
                .unwrap_err()
                .contains("UpgradeFaultReason")
        );
    }
}
