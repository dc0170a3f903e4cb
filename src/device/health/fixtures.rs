//! Test-only: a snapshot of chips `0..n` where the `unhealthy` ones failed
//! their health read (the built-in fault table, autoStowing on).

use std::sync::Arc;

use super::{Policy, Reading, Snapshot, Tracker};
use crate::device::faults::FaultTable;

pub fn snapshot(n: u32, unhealthy: &[u32]) -> Snapshot {
    let mut tracker = Tracker::new(Policy::new(Arc::new(FaultTable::builtin()), true), 0..n);
    for &phy_id in unhealthy {
        let reading = Reading {
            phy_id,
            failed: true,
            ..Reading::default()
        };
        tracker.apply(reading, 1);
    }
    (*tracker.snapshot()).clone()
}
