//! Fault event structs and the subscription callback type.

use core::ffi::{c_char, c_int, c_uchar, c_uint, c_ulonglong, c_ushort};

use crate::DcmiEventType;
use crate::consts::{
    DCMI_MAX_EVENT_DATA_LENGTH, DCMI_MAX_EVENT_NAME_LENGTH, DCMI_MAX_EVENT_RESV_LENGTH,
};

/// `struct dcmi_dms_fault_event` (352 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DcmiDmsFaultEvent {
    /// The fault code, e.g. 0x80E01801.
    pub event_id: c_uint,
    /// The chip's LOGIC id.
    pub deviceid: c_ushort,
    /// Node type.
    pub node_type: c_uchar,
    /// Node id.
    pub node_id: c_uchar,
    /// Sub-node type.
    pub sub_node_type: c_uchar,
    /// Sub-node id.
    pub sub_node_id: c_uchar,
    /// 0 warning, 1 minor, 2 major, 3 critical.
    pub severity: c_uchar,
    /// 0 recovered, 1 occurred, 2 one-off.
    pub assertion: c_uchar,
    /// Serial number of the event.
    pub event_serial_num: c_int,
    /// Serial number of the notification.
    pub notify_serial_num: c_int,
    /// Milliseconds since the epoch.
    pub alarm_raised_time: c_ulonglong,
    /// NUL-terminated description.
    pub event_name: [c_char; DCMI_MAX_EVENT_NAME_LENGTH],
    /// Additional data.
    pub additional_info: [c_char; DCMI_MAX_EVENT_DATA_LENGTH],
    /// Reserved (newer vendor headers split it into named fields of the same size).
    pub resv: [c_uchar; DCMI_MAX_EVENT_RESV_LENGTH],
}

impl Default for DcmiDmsFaultEvent {
    fn default() -> Self {
        Self {
            event_id: 0,
            deviceid: 0,
            node_type: 0,
            node_id: 0,
            sub_node_type: 0,
            sub_node_id: 0,
            severity: 0,
            assertion: 0,
            event_serial_num: 0,
            notify_serial_num: 0,
            alarm_raised_time: 0,
            event_name: [0; DCMI_MAX_EVENT_NAME_LENGTH],
            additional_info: [0; DCMI_MAX_EVENT_DATA_LENGTH],
            resv: [0; DCMI_MAX_EVENT_RESV_LENGTH],
        }
    }
}

/// `union dcmi_event_union` (352 bytes). The union has a single member, so a
/// struct with that member has the same layout and needs no `unsafe` to read.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiEventUnion {
    /// Valid when `dcmi_event::type` is `DCMI_DMS_FAULT_EVENT`.
    pub dms_event: DcmiDmsFaultEvent,
}

/// `struct dcmi_event` (360 bytes): what the fault callback receives.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiEvent {
    /// `DCMI_DMS_FAULT_EVENT` (0).
    pub r#type: DcmiEventType,
    /// The event.
    pub event_t: DcmiEventUnion,
}

/// `struct dcmi_event_filter` (48 bytes), passed BY VALUE; all zero = every event.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiEventFilter {
    /// `DCMI_EVENT_FILTER_FLAG_*` bits; 0 = no filtering.
    pub filter_flag: c_ulonglong,
    /// Fault code to match.
    pub event_id: c_uint,
    /// Severity to match.
    pub severity: c_uchar,
    /// Node type to match.
    pub node_type: c_uchar,
    /// Reserved.
    pub resv: [c_uchar; DCMI_MAX_EVENT_RESV_LENGTH],
}

/// `dcmi_fault_event_callback`: called on a library thread; it must copy the
/// event out and return quickly. `None` is the C NULL pointer.
pub type FaultEventCallback = Option<unsafe extern "C" fn(event: *mut DcmiEvent)>;
