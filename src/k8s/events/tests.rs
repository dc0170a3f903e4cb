#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::device::model::Family;
use crate::device::model::fixtures::{chip, inventory};
use crate::k8s::mock::{self, snapshot};

fn names() -> BTreeMap<u32, String> {
    (0..4)
        .map(|phy| (phy, format!("Ascend910-{phy}")))
        .collect()
}

#[test]
fn only_health_flips_are_transitions() {
    let before = snapshot(4, &[1]);
    let after = snapshot(4, &[2]);
    let found = transitions(&before, &after, &names());
    assert_eq!(found.len(), 2);
    assert_eq!(
        (found[0].chip.as_str(), found[0].healthy),
        ("Ascend910-1", true)
    );
    assert_eq!(
        (found[1].chip.as_str(), found[1].healthy),
        ("Ascend910-2", false)
    );
    assert!(transitions(&after, &after, &names()).is_empty());
}

#[test]
fn events_name_the_node_the_chip_and_its_state() {
    let now = Timestamp::from_second(1_700_000_000).unwrap();
    let down = Transition {
        chip: "Ascend910-3".into(),
        healthy: false,
        faults: vec!["80E01801 (RestartNPU)".into()],
    };
    let event = transition_event("node-a", &down, now);
    assert_eq!(event.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(event.involved_object.kind.as_deref(), Some("Node"));
    assert_eq!(event.involved_object.name.as_deref(), Some("node-a"));
    assert_eq!(event.reason.as_deref(), Some(REASON_UNHEALTHY));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(
        event.message.as_deref(),
        Some("Ascend910-3 is Unhealthy; faults: 80E01801 (RestartNPU)")
    );
    let up = Transition {
        healthy: true,
        faults: vec![],
        ..down
    };
    let event = transition_event("node-a", &up, now);
    assert_eq!(event.reason.as_deref(), Some(REASON_RECOVERED));
    assert_eq!(event.type_.as_deref(), Some("Normal"));
}

#[test]
fn the_bucket_allows_a_burst_then_one_every_six_seconds() {
    let start = Instant::now();
    let mut bucket = Bucket::new(start);
    assert!((0..10).all(|_| bucket.take(start)));
    assert!(!bucket.take(start));
    assert!(!bucket.take(start + Duration::from_secs(5)));
    assert_eq!(bucket.suppressed, 2);
    assert!(bucket.take(start + Duration::from_secs(6)));
    assert!(!bucket.take(start + Duration::from_secs(7)));
    // A long quiet spell refills to the burst, not beyond.
    let later = start + Duration::from_secs(3600);
    assert_eq!((0..20).filter(|_| bucket.take(later)).count(), 10);
}

#[tokio::test]
async fn a_fault_becomes_one_event_posted_to_default() {
    let (client, log) = mock::client(mock::echo);
    let (tx, snapshots) = watch::channel(Arc::new(snapshot(4, &[])));
    let chips = (0..4).map(|phy| chip(phy, Family::Ascend910)).collect();
    let reporter = EventReporter {
        client,
        node: "node-a".into(),
        inventory: Arc::new(inventory(chips)),
        snapshots,
        metrics: crate::telemetry::metrics::Metrics::new(),
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(reporter.run(stop.clone()));
    // Let the reporter take its first snapshot before the fault.
    tokio::time::sleep(Duration::from_millis(50)).await;
    tx.send_replace(Arc::new(snapshot(4, &[3])));
    for _ in 0..200 {
        if !log.writes().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    task.await.unwrap();
    let writes = log.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].method.as_str(), writes[0].path()),
        ("POST", "/api/v1/namespaces/default/events")
    );
    assert_eq!(writes[0].body["involvedObject"]["kind"], "Node");
    assert_eq!(writes[0].body["reason"], REASON_UNHEALTHY);
    assert!(
        writes[0].body["message"]
            .as_str()
            .unwrap()
            .starts_with("Ascend910-3 is Unhealthy")
    );
}

#[test]
fn a_released_reason_becomes_one_normal_event_with_upstreams_json() {
    use crate::device::faults::{FaultCode, FaultLevel};
    use crate::device::upgrade::{ReasonCode, UpgradeType};
    let reason = UpgradeReason {
        code: ReasonCode::Code(FaultCode(0x80E0_1801)),
        level: FaultLevel::ManuallySeparateNPU,
        kind: UpgradeType::FaultFrequency,
        time_ms: 5,
    };
    let mut before = snapshot(4, &[]);
    before.chips.get_mut(&1).unwrap().reasons = vec![reason.clone()];
    let after = snapshot(4, &[]);
    let released = released_reasons(&before, &after, &names());
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].1, std::slice::from_ref(&reason));
    assert!(
        released_reasons(&after, &before, &names()).is_empty(),
        "added, not released"
    );
    assert!(released_reasons(&before, &before, &names()).is_empty());
    let event = release_event(
        "node-a",
        &released[0].0,
        &released[0].1,
        Timestamp::UNIX_EPOCH,
    );
    assert_eq!(event.reason.as_deref(), Some(REASON_RELEASE_UPGRADE));
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert!(
        event
            .message
            .unwrap()
            .contains(r#""fault_code":"80e01801","fault_level":"ManuallySeparateNPU","upgrade_type":"FaultFrequency""#)
    );
}
