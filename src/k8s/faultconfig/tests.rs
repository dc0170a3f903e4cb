#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use super::*;
use crate::device::faults::{FaultCode, FaultLevel};

fn cm(value: Option<&str>) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(NAME.into()),
            namespace: Some(NAMESPACE.into()),
            ..Default::default()
        },
        data: value.map(|v| BTreeMap::from([(KEY.to_owned(), v.to_owned())])),
        ..Default::default()
    }
}

const GOOD: &str = r#"{"SeparateNPUCodes":["80E01801"],"NotHandleFaultCodes":["8C084E00"]}"#;

fn level(table: &FaultTable, code: u32) -> FaultLevel {
    table.level(FaultCode::from(code), None)
}

#[test]
fn a_good_table_is_put_in_force() {
    let mut state =
        FaultConfigState::new(Arc::new(FaultTables::new(Arc::new(FaultTable::builtin()))));
    let table = state
        .on_event(Event::Apply(cm(Some(GOOD))))
        .expect("adopted");
    assert_eq!(level(&table, 0x8C08_4E00), FaultLevel::NotHandleFault);
}

#[test]
fn bad_tables_are_refused_and_the_table_in_force_stays() {
    let mut state =
        FaultConfigState::new(Arc::new(FaultTables::new(Arc::new(FaultTable::builtin()))));
    assert!(state.on_event(Event::Apply(cm(Some(GOOD)))).is_some());
    let huge = format!(
        r#"{{"SeparateNPUCodes":["{}"]}}"#,
        "A".repeat(MAX_FAULT_TABLE)
    );
    for bad in [
        Some("{not json"),
        Some(r#"{"SeparateNPUCodes":"80E01801"}"#),
        Some("{}"),
        Some(huge.as_str()),
        None,
    ] {
        assert!(
            state.on_event(Event::Apply(cm(bad))).is_none(),
            "{:?}",
            bad.map(|b| &b[..b.len().min(40)])
        );
    }
    let error = table_from(&cm(None)).unwrap_err();
    assert!(error.contains("has no faultCode.json key"), "{error}");
    let error = table_from(&cm(Some(&huge))).unwrap_err();
    assert!(error.contains("mindx-dl-fault-config"), "{error}");
}

#[test]
fn deleting_the_configmap_returns_to_the_start_up_table() {
    let base = Arc::new(FaultTable::builtin());
    let tables = Arc::new(FaultTables::new(Arc::clone(&base)));
    let mut state = FaultConfigState::new(Arc::clone(&tables));
    // Never used: a delete or an empty listing changes nothing.
    assert!(state.on_event(Event::Delete(cm(Some(GOOD)))).is_none());
    assert!(state.on_event(Event::Init).is_none());
    assert!(state.on_event(Event::InitDone).is_none());
    assert!(state.on_event(Event::Apply(cm(Some(GOOD)))).is_some());
    let back = state
        .on_event(Event::Delete(cm(Some(GOOD))))
        .expect("reverted");
    assert!(Arc::ptr_eq(&back, &base));
    // Gone while the watch was down: the re-list no longer has it.
    assert!(state.on_event(Event::Apply(cm(Some(GOOD)))).is_some());
    assert!(state.on_event(Event::Init).is_none());
    assert!(state.on_event(Event::InitDone).is_some());
    // Still there in the re-list: stays.
    assert!(state.on_event(Event::Init).is_none());
    assert!(state.on_event(Event::InitApply(cm(Some(GOOD)))).is_some());
    assert!(state.on_event(Event::InitDone).is_none());
}

#[test]
fn a_sighup_reload_does_not_undo_the_configmap_table() {
    let tables = Arc::new(FaultTables::new(Arc::new(FaultTable::builtin())));
    let mut state = FaultConfigState::new(Arc::clone(&tables));
    let from_cm = state.on_event(Event::Apply(cm(Some(GOOD)))).unwrap();
    let reloaded = Arc::new(FaultTable::builtin());
    let in_force = tables.set_base(Arc::clone(&reloaded));
    assert!(
        Arc::ptr_eq(&in_force, &from_cm),
        "the ConfigMap's table stays"
    );
    let back = state.on_event(Event::Delete(cm(Some(GOOD)))).unwrap();
    assert!(
        Arc::ptr_eq(&back, &reloaded),
        "then the reloaded start-up table"
    );
}

fn rules_cm(value: Option<&str>) -> ConfigMap {
    let mut map = cm(None);
    map.data = value.map(|v| BTreeMap::from([(CUSTOMIZATION_KEY.to_owned(), v.to_owned())]));
    map
}

const ONE_RULE: &str = r#"{"FaultFrequency":[{"EventId":["80E01801"],"TimeWindow":60,"Times":1,"FaultHandling":"ManuallySeparateNPU"}]}"#;

#[test]
fn rules_from_the_configmap_are_put_in_force_once_and_refused_when_bad() {
    let mut state = CustomizationState::new(Arc::new(Customization::builtin()));
    let rules = state
        .on_event(&Event::Apply(rules_cm(Some(ONE_RULE))))
        .expect("adopted");
    assert_eq!(rules.frequency.len(), 1);
    assert!(
        state
            .on_event(&Event::Apply(rules_cm(Some(ONE_RULE))))
            .is_none(),
        "the same rules are not sent again"
    );
    assert!(state.on_event(&Event::Apply(rules_cm(Some("{")))).is_none());
    assert!(
        state
            .on_event(&Event::Apply(rules_cm(Some(r#"{"FaultFrequency":3}"#))))
            .is_none()
    );
}

#[test]
fn a_missing_key_or_a_deleted_configmap_returns_to_the_start_up_rules() {
    let base = Arc::new(Customization::builtin());
    let mut state = CustomizationState::new(Arc::clone(&base));
    state.on_event(&Event::Apply(rules_cm(Some(ONE_RULE))));
    let back = state
        .on_event(&Event::Apply(rules_cm(None)))
        .expect("reverted");
    assert_eq!(*back, *base);
    state.on_event(&Event::Apply(rules_cm(Some(ONE_RULE))));
    let back = state
        .on_event(&Event::Delete(rules_cm(None)))
        .expect("reverted");
    assert_eq!(*back, *base);
    assert!(state.on_event(&Event::Delete(rules_cm(None))).is_none());
}

#[test]
fn a_configmap_gone_while_the_watch_was_away_returns_to_the_start_up_rules() {
    let base = Arc::new(Customization::default());
    let mut state = CustomizationState::new(Arc::clone(&base));
    state.on_event(&Event::Apply(rules_cm(Some(ONE_RULE))));
    assert!(state.on_event(&Event::Init).is_none());
    assert_eq!(*state.on_event(&Event::InitDone).expect("reverted"), *base);
}
