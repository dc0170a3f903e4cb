//! Allocate, as a pure function: device IDs in, container options out.
//!
//! `spec/compat.md` §3: validation first (nothing changes on a bad request),
//! then either envs for the Ascend Docker Runtime or `/dev/davinci*`
//! DeviceSpecs. One response per container request, in order.

use std::collections::{BTreeMap, BTreeSet};

use crate::device::model::Family;
use crate::device::naming::{Backing, Resource};

/// Upstream's limits; ours are the same.
pub const MAX_IDS_PER_REQUEST: usize = 800;
pub const MAX_ID_LEN: usize = 50;

/// Driver control nodes, mounted when present on the host.
pub const CONTROL_NODES: [&str; 3] = ["devmm_svm", "hisi_hdc", "dvpp_cmdlist"];

/// A rejected request; every variant names the offending ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocateError {
    #[error(
        "container request {container} asks for {count} devices (at most {MAX_IDS_PER_REQUEST})"
    )]
    TooMany { container: usize, count: usize },
    #[error("device ID {id:?} is longer than {MAX_ID_LEN} characters")]
    TooLong { id: String },
    #[error("device ID {id:?} is not a device of {resource}")]
    Unknown { id: String, resource: String },
    #[error("device ID {id:?} appears twice in container request {container}")]
    Duplicate { id: String, container: usize },
    #[error("container request {container} asks for more than one vNPU ({first:?}, {second:?})")]
    SeveralVnpus {
        container: usize,
        first: String,
        second: String,
    },
    #[error(
        "device ID {id:?} is an AI core of huawei.com/npu-core, which only Volcano can allocate"
    )]
    NeedsVolcano { id: String },
}

/// How responses are written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Style {
    /// Ascend Docker Runtime: envs only.
    pub ascend_docker: bool,
    /// Which optional device nodes exist on the host (file names under /dev).
    pub present_nodes: BTreeSet<String>,
    /// Also name devices through CDI (`huawei.com/npu=<n>`).
    pub cdi: bool,
    /// Ascend 950 nodes: logic ids and the HCCL topology file.
    pub a5: Option<crate::device::a5::A5Style>,
}

/// Directories whose every file is passed to a container that gets a chip
/// (the 950 generation's UB devices), when they exist on the host.
pub const UB_DEVICE_DIRS: [&str; 2] = ["uburma", "ummu"];

/// One container's answer, before it becomes protobuf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerGrant {
    pub envs: BTreeMap<String, String>,
    pub devices: Vec<DeviceNode>,
    pub cdi_devices: Vec<String>,
    /// Host files and directories for the container (soft share only).
    pub mounts: Vec<MountPoint>,
}

/// A host path mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    pub host_path: String,
    pub container_path: String,
    pub read_only: bool,
}

/// A device node for the runtime: host path -> container path, `rw`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub host_path: String,
    pub container_path: String,
}

impl DeviceNode {
    fn same(path: String) -> Self {
        Self {
            host_path: path.clone(),
            container_path: path,
        }
    }
}

/// Checks every container request before building any answer.
pub fn validate(
    resource: &Resource,
    requests: &[Vec<String>],
) -> Result<Vec<Vec<Backing>>, AllocateError> {
    check(resource, requests, false)
}

/// [`validate`] for a Volcano-mode Allocate, where AI cores (`npu-core`)
/// are allowed: Volcano's annotation says what they stand for.
pub fn validate_volcano(
    resource: &Resource,
    requests: &[Vec<String>],
) -> Result<Vec<Vec<Backing>>, AllocateError> {
    check(resource, requests, true)
}

fn check(
    resource: &Resource,
    requests: &[Vec<String>],
    volcano: bool,
) -> Result<Vec<Vec<Backing>>, AllocateError> {
    let mut out = Vec::with_capacity(requests.len());
    for (container, ids) in requests.iter().enumerate() {
        if ids.len() > MAX_IDS_PER_REQUEST {
            return Err(AllocateError::TooMany {
                container,
                count: ids.len(),
            });
        }
        let mut seen = BTreeSet::new();
        let mut vnpu: Option<&str> = None;
        let mut backings = Vec::with_capacity(ids.len());
        for id in ids {
            if id.len() > MAX_ID_LEN {
                return Err(AllocateError::TooLong { id: truncate(id) });
            }
            let device = resource.device(id).ok_or_else(|| AllocateError::Unknown {
                id: id.clone(),
                resource: resource.resource_name(),
            })?;
            if !seen.insert(id.as_str()) {
                return Err(AllocateError::Duplicate {
                    id: id.clone(),
                    container,
                });
            }
            match device.backing {
                Backing::Vnpu { .. } => {
                    if let Some(first) = vnpu {
                        return Err(AllocateError::SeveralVnpus {
                            container,
                            first: first.to_string(),
                            second: id.clone(),
                        });
                    }
                    vnpu = Some(id);
                }
                Backing::Core { .. } if !volcano => {
                    return Err(AllocateError::NeedsVolcano { id: id.clone() });
                }
                Backing::Core { .. } => {}
                Backing::Chip { .. } | Backing::Share { .. } => {}
            }
            backings.push(device.backing);
        }
        out.push(backings);
    }
    Ok(out)
}

/// `id` cut to [`MAX_ID_LEN`] characters, for an error message.
pub(crate) fn truncate(id: &str) -> String {
    id.chars().take(MAX_ID_LEN).collect::<String>() + "..."
}

/// The answer for one container whose devices passed [`validate`].
pub fn grant(family: Family, backings: &[Backing], style: &Style) -> ContainerGrant {
    let is_virtual = backings.iter().any(|b| matches!(b, Backing::Vnpu { .. }));
    // The number the runtime knows a device by: phy id, or vdev id for vNPUs.
    // A5: containers know a chip by its logic id (spec recovery §5.2).
    let a5 = style.a5.as_ref().filter(|_| family == Family::Ascend950);
    let numbers: BTreeSet<u32> = backings
        .iter()
        .map(|backing| match (*backing, a5) {
            (Backing::Vnpu { vdev_id, .. }, _) => vdev_id,
            (other, Some(a5)) => a5
                .logic_of_phy
                .get(&other.phy_id())
                .copied()
                .unwrap_or(other.phy_id()),
            (other, None) => other.phy_id(),
        })
        .collect();
    let mut grant = ContainerGrant::default();
    if let Some(path) = a5.and_then(|a5| a5.hccl_topo_file.as_ref()) {
        grant
            .envs
            .insert("HCCL_TOPO_FILE_PATH".into(), path.clone());
    }
    if style.cdi {
        grant.cdi_devices = numbers
            .iter()
            .map(|n| format!("huawei.com/npu={n}"))
            .collect();
    }
    if style.ascend_docker {
        let visible = numbers
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        grant.envs.insert("ASCEND_VISIBLE_DEVICES".into(), visible);
        let options = if is_virtual { "VIRTUAL" } else { "" };
        grant
            .envs
            .insert("ASCEND_RUNTIME_OPTIONS".into(), options.into());
        if family == Family::Ascend310B {
            grant.envs.insert("ASCEND_ALLOW_LINK".into(), "True".into());
        }
        return grant;
    }
    for number in &numbers {
        let node = if is_virtual {
            DeviceNode {
                host_path: format!("/dev/vdavinci{number}"),
                container_path: format!("/dev/davinci{number}"),
            }
        } else {
            DeviceNode::same(format!("/dev/davinci{number}"))
        };
        grant.devices.push(node);
    }
    let manager =
        if family == Family::Ascend310B && style.present_nodes.contains("davinci_manager_docker") {
            DeviceNode {
                host_path: "/dev/davinci_manager_docker".into(),
                container_path: "/dev/davinci_manager".into(),
            }
        } else {
            DeviceNode::same("/dev/davinci_manager".into())
        };
    grant.devices.push(manager);
    for node in CONTROL_NODES {
        if style.present_nodes.contains(node) {
            grant.devices.push(DeviceNode::same(format!("/dev/{node}")));
        }
    }
    if !numbers.is_empty() {
        let ub = style
            .present_nodes
            .iter()
            .filter(|node| UB_DEVICE_DIRS.iter().any(|dir| is_under(node, dir)));
        for node in ub {
            grant.devices.push(DeviceNode::same(format!("/dev/{node}")));
        }
    }
    // Listed only in edge mode (device::modes::edge).
    for node in crate::device::modes::edge::EDGE_NODES {
        if style.present_nodes.contains(node) {
            grant.devices.push(DeviceNode::same(format!("/dev/{node}")));
        }
    }
    grant
}

/// `node` is `<dir>/<file>`.
fn is_under(node: &str, dir: &str) -> bool {
    node.strip_prefix(dir)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|file| !file.is_empty() && !file.contains('/'))
}

/// Which optional nodes exist under the (injected) `/dev` root.
/// The files (any non-directory) of [`UB_DEVICE_DIRS`] come as `<dir>/<file>`.
pub fn present_nodes(dev_root: &std::path::Path) -> BTreeSet<String> {
    let mut nodes: BTreeSet<String> = CONTROL_NODES
        .iter()
        .chain(["davinci_manager", "davinci_manager_docker"].iter())
        .filter(|name| dev_root.join(name).exists())
        .map(|name| (*name).to_string())
        .collect();
    for dir in UB_DEVICE_DIRS {
        let Ok(entries) = std::fs::read_dir(dev_root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
            if let (false, Some(name)) = (is_dir, entry.file_name().to_str()) {
                nodes.insert(format!("{dir}/{name}"));
            }
        }
    }
    nodes
}

#[cfg(test)]
mod tests;
