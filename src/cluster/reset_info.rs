//! The node annotation `ResetInfo` (recovery spec §3.2): chips a hot reset
//! left to an operator. `{"ThirdPartyResetDevs":[],"ManualResetDevs":[{"CardId":3,"DeviceId":0,"AssociatedCardId":0,"PhyID":3,"LogicID":3}]}`.
//! Entries of chips that are Healthy again are dropped (with or without
//! `-hotReset`, as upstream does), entries are unique by `PhyID`, and the
//! value is only rewritten when it changes (§6 #15).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::device::reset::ManualResetDev;

pub const RESET_INFO: &str = "ResetInfo";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Dev {
    #[serde(rename = "CardId")]
    card_id: i32,
    #[serde(rename = "DeviceId")]
    device_id: i32,
    #[serde(rename = "AssociatedCardId")]
    associated_card_id: i32,
    #[serde(rename = "PhyID")]
    phy_id: u32,
    #[serde(rename = "LogicID")]
    logic_id: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Info {
    #[serde(rename = "ThirdPartyResetDevs", default)]
    third_party: Vec<Dev>,
    #[serde(rename = "ManualResetDevs", default)]
    manual: Vec<Dev>,
}

/// The new `ResetInfo` value, or `None` when `existing` already says it
/// (an absent annotation with nothing to list stays absent). An unreadable
/// `existing` value is replaced.
pub fn reset_info_value(
    existing: Option<&str>,
    manual: &[ManualResetDev],
    healthy: impl Fn(u32) -> bool,
) -> Option<String> {
    let parsed: Option<Info> = existing.and_then(|text| serde_json::from_str(text).ok());
    let old = parsed.clone().unwrap_or_default();
    let keep = |devs: Vec<Dev>| -> BTreeMap<u32, Dev> {
        devs.into_iter()
            .filter(|d| !healthy(d.phy_id))
            .map(|d| (d.phy_id, d))
            .collect()
    };
    let third_party = keep(old.third_party);
    let mut listed = keep(old.manual);
    for dev in manual {
        listed.insert(
            dev.phy_id,
            Dev {
                card_id: dev.card_id,
                device_id: dev.device_id,
                associated_card_id: dev.associated_card_id,
                phy_id: dev.phy_id,
                logic_id: dev.logic_id,
            },
        );
    }
    let new = Info {
        third_party: third_party.into_values().collect(),
        manual: listed.into_values().collect(),
    };
    match (existing, parsed) {
        (None, _) if new == Info::default() => None,
        (Some(_), Some(parsed)) if parsed == new => None,
        _ => serde_json::to_string(&new).ok(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn dev(phy: u32) -> ManualResetDev {
        ManualResetDev {
            card_id: i32::try_from(phy).unwrap(),
            device_id: 0,
            associated_card_id: 0,
            phy_id: phy,
            logic_id: phy,
        }
    }

    #[test]
    fn a_chip_left_to_an_operator_is_listed_in_upstreams_shape() {
        let value = reset_info_value(None, &[dev(3)], |_| false).unwrap();
        assert_eq!(
            value,
            r#"{"ThirdPartyResetDevs":[],"ManualResetDevs":[{"CardId":3,"DeviceId":0,"AssociatedCardId":0,"PhyID":3,"LogicID":3}]}"#
        );
        assert_eq!(
            reset_info_value(Some(&value), &[dev(3)], |_| false),
            None,
            "unchanged: nothing to write"
        );
    }

    #[test]
    fn nothing_to_list_writes_nothing_and_healthy_chips_leave_the_list() {
        assert_eq!(reset_info_value(None, &[], |_| false), None);
        let both = reset_info_value(None, &[dev(1), dev(3)], |_| false).unwrap();
        let after = reset_info_value(Some(&both), &[], |phy| phy == 1).unwrap();
        assert!(!after.contains(r#""PhyID":1"#) && after.contains(r#""PhyID":3"#));
        let empty = reset_info_value(Some(&after), &[], |_| true).unwrap();
        assert_eq!(empty, r#"{"ThirdPartyResetDevs":[],"ManualResetDevs":[]}"#);
    }

    #[test]
    fn entries_are_unique_by_phy_id_and_an_unreadable_value_is_replaced() {
        let value = reset_info_value(None, &[dev(2), dev(2)], |_| false).unwrap();
        assert_eq!(value.matches("PhyID").count(), 1);
        let fixed = reset_info_value(Some("{broken"), &[], |_| false).unwrap();
        assert_eq!(fixed, r#"{"ThirdPartyResetDevs":[],"ManualResetDevs":[]}"#);
    }
}
