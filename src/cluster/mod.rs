//! What the plugin tells the cluster: the device-info ConfigMap Volcano
//! reads, serialised exactly as Go's encoding/json would.

pub mod deviceinfo;
pub mod gojson;
