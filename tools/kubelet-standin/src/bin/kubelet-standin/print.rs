//! Human-readable output of the demo: registrations, device tables,
//! allocations.

use std::time::Duration;

use kubelet_standin::proto::deviceplugin::ContainerAllocateResponse;
use kubelet_standin::{Device, RegisterRequest};

/// One line per registration.
pub fn registration(request: &RegisterRequest) {
    let options = request.options.unwrap_or_default();
    println!(
        "  registered {} on {} (api {}, preferred allocation: {}, pre-start: {})",
        request.resource_name,
        request.endpoint,
        request.version,
        yes_no(options.get_preferred_allocation_available),
        yes_no(options.pre_start_required),
    );
}

/// The device list as an `ID  HEALTH  NUMA` table.
pub fn devices(devices: &[Device]) {
    let width = devices.iter().map(|d| d.id.len()).max().unwrap_or(0).max(2);
    println!("    {:<width$}  {:<9}  NUMA", "ID", "HEALTH");
    for device in devices {
        println!(
            "    {:<width$}  {:<9}  {}",
            device.id,
            device.health,
            numa(device)
        );
    }
    println!("    ({} devices)", devices.len());
}

/// One device as `ID HEALTH (NUMA n)`.
pub fn device_line(device: &Device) -> String {
    format!("{} {} (NUMA {})", device.id, device.health, numa(device))
}

/// The envs, device specs, mounts, annotations and CDI names of one
/// container's Allocate answer, sorted where the protocol has no order.
pub fn allocation(container: &ContainerAllocateResponse) {
    let mut envs: Vec<_> = container.envs.iter().collect();
    envs.sort();
    for (key, value) in envs {
        println!("    env        {key}={value}");
    }
    for spec in &container.devices {
        println!(
            "    device     {} -> {} ({})",
            spec.host_path, spec.container_path, spec.permissions
        );
    }
    for mount in &container.mounts {
        let mode = if mount.read_only { "ro" } else { "rw" };
        println!(
            "    mount      {} -> {} ({mode})",
            mount.host_path, mount.container_path
        );
    }
    let mut annotations: Vec<_> = container.annotations.iter().collect();
    annotations.sort();
    for (key, value) in annotations {
        println!("    annotation {key}={value}");
    }
    for cdi in &container.cdi_devices {
        println!("    cdi        {}", cdi.name);
    }
}

/// Milliseconds with one decimal.
pub fn millis(elapsed: Duration) -> String {
    format!("{:.1} ms", elapsed.as_secs_f64() * 1000.0)
}

fn numa(device: &Device) -> String {
    let nodes: Vec<String> = device
        .topology
        .iter()
        .flat_map(|topology| topology.nodes.iter().map(|node| node.id.to_string()))
        .collect();
    if nodes.is_empty() {
        "-".to_string()
    } else {
        nodes.join(",")
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}
