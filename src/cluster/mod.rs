//! What the plugin tells the cluster and reads from it: the device-info
//! ConfigMap Volcano reads (serialised exactly as Go's encoding/json would),
//! choosing the pod behind a Volcano Allocate, the pod write-back
//! annotations, node labels, and dynamic-vNPU requests. All pure: the API
//! client lives elsewhere.

pub mod annotations;
pub mod chip_list;
pub mod deviceinfo;
pub mod gojson;
pub mod labels;
pub mod npu_core;
pub mod reset_info;
pub mod slow_node;
pub mod softshare;
pub mod upgrade_reason;
pub mod volcano;
