//! Fault events: what changed between two fault states, as `dcmi_event`s,
//! and delivering them to the subscribed callbacks.

use std::ffi::c_int;
use std::time::{SystemTime, UNIX_EPOCH};

use dcmi_abi::{
    DCMI_DMS_FAULT_EVENT, DCMI_EVENT_FILTER_FLAG_EVENT_ID, DCMI_EVENT_FILTER_FLAG_NODE_TYPE,
    DCMI_EVENT_FILTER_FLAG_SERVERITY, DcmiEvent,
};

use crate::chaos::Chaos;
use crate::runtime::{Sim, Subscriber};
use crate::state::{ActiveFault, FaultState};

/// `assertion`: the fault cleared.
pub const RECOVERED: u8 = 0;
/// `assertion`: the fault appeared.
pub const OCCURRED: u8 = 1;

/// An event and the chip it is about.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub card_id: c_int,
    pub device_id: c_int,
    pub event: DcmiEvent,
}

/// The events for every fault that appeared (or changed severity) or cleared
/// between `old` and `new`, for the chips of the topology.
pub(crate) fn changes(sim: &mut Sim, old: &FaultState, new: &FaultState) -> Vec<Delivery> {
    let chaos = sim.chaos();
    let mut found = Vec::new();
    for (card, chip) in sim.topology.chips() {
        let before = old.active(chip.phy_id);
        let after = new.active(chip.phy_id);
        for fault in &after {
            let same = before
                .iter()
                .any(|old| old.code == fault.code && old.severity == fault.severity);
            if !same {
                found.push((
                    card.card_id,
                    chip.dev,
                    chip.logic_id,
                    fault.clone(),
                    OCCURRED,
                ));
            }
        }
        for fault in &before {
            if !after.iter().any(|new| new.code == fault.code) {
                found.push((
                    card.card_id,
                    chip.dev,
                    chip.logic_id,
                    fault.clone(),
                    RECOVERED,
                ));
            }
        }
    }
    found
        .into_iter()
        .map(|(card_id, device_id, logic_id, fault, assertion)| {
            sim.event_serial = sim.event_serial.wrapping_add(1);
            let event = build(&chaos, logic_id, &fault, assertion, sim.event_serial);
            Delivery {
                card_id,
                device_id,
                event,
            }
        })
        .collect()
}

fn build(
    chaos: &Chaos,
    logic_id: u32,
    fault: &ActiveFault,
    assertion: u8,
    serial: c_int,
) -> DcmiEvent {
    let mut event = DcmiEvent {
        r#type: DCMI_DMS_FAULT_EVENT,
        ..DcmiEvent::default()
    };
    let dms = &mut event.event_t.dms_event;
    dms.event_id = fault.code.0;
    dms.deviceid = chaos.logic_id(logic_id).min(u32::from(u16::MAX)) as u16;
    dms.severity = fault.severity;
    dms.assertion = assertion;
    dms.event_serial_num = serial;
    dms.notify_serial_num = serial;
    dms.alarm_raised_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0);
    let name = fault
        .name
        .clone()
        .unwrap_or_else(|| format!("simulated fault {}", fault.code));
    let bytes = chaos.c_string(&name, dms.event_name.len());
    for (slot, byte) in dms.event_name.iter_mut().zip(bytes) {
        *slot = byte as std::ffi::c_char;
    }
    event
}

fn wanted(subscriber: &Subscriber, delivery: &Delivery) -> bool {
    let dms = &delivery.event.event_t.dms_event;
    let filter = &subscriber.filter;
    let chip_matches = (subscriber.card_id == -1 || subscriber.card_id == delivery.card_id)
        && (subscriber.device_id == -1 || subscriber.device_id == delivery.device_id);
    let flag = |bit| filter.filter_flag & bit != 0;
    chip_matches
        && (!flag(DCMI_EVENT_FILTER_FLAG_EVENT_ID) || filter.event_id == dms.event_id)
        && (!flag(DCMI_EVENT_FILTER_FLAG_SERVERITY) || dms.severity >= filter.severity)
        && (!flag(DCMI_EVENT_FILTER_FLAG_NODE_TYPE) || filter.node_type == dms.node_type)
}

/// Calls each subscriber for each event it asked for, on this thread, in
/// order. Must be called without the global lock held: a callback may call
/// back into the library.
pub(crate) fn deliver(subscribers: &[Subscriber], deliveries: &[Delivery]) {
    for delivery in deliveries {
        for subscriber in subscribers
            .iter()
            .filter(|subscriber| wanted(subscriber, delivery))
        {
            let mut event = delivery.event;
            // SAFETY: `handler` is the non-NULL `dcmi_fault_event_callback`
            // the consumer registered; the contract of dcmi.h is that it
            // accepts a pointer to a `struct dcmi_event` valid for the call,
            // which `event` (a local copy per call) is.
            unsafe { (subscriber.handler)(&mut event) };
        }
    }
}
