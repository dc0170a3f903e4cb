//! CDI spec files, one per claim (`dra.md` §4.6): kind
//! `k8s.npu.huawei.com/claim`, file `k8s.npu.huawei.com-claim_<claimUID>.json`,
//! one CDI device `<claimUID>-<device>` per device (`npu-<phyID>`, or a
//! partition whose vNPU is `/dev/vdavinci<vdevID>`). A container gets only
//! the devices of the requests it names, never the claim's others.
//!
//! With device nodes (default) each CDI device carries its `/dev/davinciN`
//! and the spec carries the shared control nodes; with `-useAscendDocker`
//! each CDI device instead sets `ASCEND_VISIBLE_DEVICES` to the chips of its
//! own request, and the Ascend Docker Runtime adds the nodes.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::device::model::Family;

/// CDI vendor and class: the kind is `<vendor>/<class>`.
pub const VENDOR: &str = "k8s.npu.huawei.com";
pub const CLASS: &str = "claim";
/// The CDI version written (device nodes, env and `permissions`).
pub const CDI_VERSION: &str = "0.6.0";
/// Control nodes shared by every chip, added when present on the host.
pub const CONTROL_NODES: [&str; 3] = ["devmm_svm", "hisi_hdc", "dvpp_cmdlist"];

/// How the chips reach the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdiSettings {
    pub dir: PathBuf,
    /// The host's `/dev` (injected; tests use a temp dir).
    pub dev_root: PathBuf,
    /// `-useAscendDocker`: env for the Ascend Docker Runtime, not nodes.
    pub ascend_docker: bool,
}

/// One device of a claim (a chip, or a vNPU on it), with the visible ids
/// of the request it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipGrant {
    pub phy_id: u32,
    /// The DRA device name (`npu-<phy>` or a partition's).
    pub device: String,
    /// The vNPU created for a partition device.
    pub vdev_id: Option<u32>,
    /// The ids of every device of the same request, sorted (the env
    /// value): phy ids of chips, vdev ids of vNPUs.
    pub request_chips: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    #[serde(rename = "cdiVersion")]
    pub cdi_version: String,
    pub kind: String,
    pub devices: Vec<SpecDevice>,
    #[serde(rename = "containerEdits", default)]
    pub container_edits: Edits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecDevice {
    pub name: String,
    #[serde(rename = "containerEdits")]
    pub container_edits: Edits,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Edits {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(rename = "deviceNodes", default, skip_serializing_if = "Vec::is_empty")]
    pub device_nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub path: String,
    #[serde(rename = "hostPath", skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minor: Option<u64>,
    pub permissions: String,
}

/// A spec file that could not be written or removed, naming it.
#[derive(Debug, thiserror::Error)]
pub enum CdiError {
    #[error("cannot write CDI spec {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot remove CDI spec {path}: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `k8s.npu.huawei.com/claim`.
pub fn kind() -> String {
    format!("{VENDOR}/{CLASS}")
}

/// The CDI device name of a device of a claim: `<claimUID>-<device>`.
pub fn device_id(claim_uid: &str, device: &str) -> String {
    format!("{claim_uid}-{device}")
}

/// The fully qualified name kubelet hands the runtime.
pub fn qualified(claim_uid: &str, device: &str) -> String {
    format!("{}={}", kind(), device_id(claim_uid, device))
}

/// `<dir>/k8s.npu.huawei.com-claim_<claimUID>.json`.
pub fn spec_path(dir: &Path, claim_uid: &str) -> PathBuf {
    dir.join(format!("{VENDOR}-{CLASS}_{claim_uid}.json"))
}

/// The claim UID of one of our spec file names.
pub fn claim_of_file(name: &str) -> Option<&str> {
    name.strip_prefix(&format!("{VENDOR}-{CLASS}_"))?
        .strip_suffix(".json")
}

/// A device node as the host has it: type and numbers when it is a
/// character device, else the path alone (the runtime stats it).
fn node(settings: &CdiSettings, name: &str, container: &str) -> Node {
    let host = settings.dev_root.join(name);
    let (kind, major, minor) = match std::fs::metadata(&host) {
        Ok(meta) if meta.file_type().is_char_device() => {
            let rdev = meta.rdev();
            (
                Some("c".to_string()),
                Some(u64::from(libc::major(rdev))),
                Some(u64::from(libc::minor(rdev))),
            )
        }
        _ => (None, None, None),
    };
    Node {
        path: container.to_string(),
        host_path: Some(host.display().to_string()),
        kind,
        major,
        minor,
        permissions: "rw".to_string(),
    }
}

/// The spec of one claim (pure but for the host `stat`s of the nodes).
pub fn spec_for(
    settings: &CdiSettings,
    family: Family,
    claim_uid: &str,
    chips: &[ChipGrant],
) -> Spec {
    let devices = chips
        .iter()
        .map(|chip| {
            let container_edits = if settings.ascend_docker {
                let list: Vec<String> = chip.request_chips.iter().map(u32::to_string).collect();
                let mut env = vec![format!("ASCEND_VISIBLE_DEVICES={}", list.join(","))];
                if chip.vdev_id.is_some() {
                    env.push("ASCEND_RUNTIME_OPTIONS=VIRTUAL".to_string());
                }
                Edits {
                    env,
                    device_nodes: Vec::new(),
                }
            } else {
                // A vNPU: host `/dev/vdavinci<vdev>` as `/dev/davinci<vdev>`.
                let (host, container) = match chip.vdev_id {
                    Some(vdev) => (format!("vdavinci{vdev}"), format!("/dev/davinci{vdev}")),
                    None => (
                        format!("davinci{}", chip.phy_id),
                        format!("/dev/davinci{}", chip.phy_id),
                    ),
                };
                Edits {
                    env: Vec::new(),
                    device_nodes: vec![node(settings, &host, &container)],
                }
            };
            SpecDevice {
                name: device_id(claim_uid, &chip.device),
                container_edits,
            }
        })
        .collect();
    let mut shared = Edits::default();
    if !settings.ascend_docker {
        let manager_docker = family == Family::Ascend310B
            && settings.dev_root.join("davinci_manager_docker").exists();
        let manager = if manager_docker {
            "davinci_manager_docker"
        } else {
            "davinci_manager"
        };
        shared
            .device_nodes
            .push(node(settings, manager, "/dev/davinci_manager"));
        for name in CONTROL_NODES {
            if settings.dev_root.join(name).exists() {
                shared
                    .device_nodes
                    .push(node(settings, name, &format!("/dev/{name}")));
            }
        }
    }
    Spec {
        cdi_version: CDI_VERSION.to_string(),
        kind: kind(),
        devices,
        container_edits: shared,
    }
}

/// Writes a claim's spec atomically (temp file, fsync, rename), mode 0644.
pub fn write(dir: &Path, claim_uid: &str, spec: &Spec) -> Result<PathBuf, CdiError> {
    let path = spec_path(dir, claim_uid);
    let wrap = |source| CdiError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(wrap)?;
    let bytes = serde_json::to_vec_pretty(spec).map_err(|e| wrap(std::io::Error::other(e)))?;
    let temp = dir.join(format!(".{VENDOR}-{CLASS}_{claim_uid}.tmp"));
    let mut file = std::fs::File::create(&temp).map_err(wrap)?;
    file.write_all(&bytes).map_err(wrap)?;
    file.sync_all().map_err(wrap)?;
    std::fs::rename(&temp, &path).map_err(wrap)?;
    Ok(path)
}

/// Removes a claim's spec; a missing file is fine.
pub fn remove(dir: &Path, claim_uid: &str) -> Result<(), CdiError> {
    let path = spec_path(dir, claim_uid);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CdiError::Remove { path, source }),
    }
}

/// The claim UIDs of our spec files in `dir`.
pub fn claims_on_disk(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(claim_of_file)
                .map(str::to_owned)
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn grants() -> Vec<ChipGrant> {
        vec![
            ChipGrant {
                phy_id: 1,
                device: "npu-1-vir02-0".into(),
                vdev_id: Some(104),
                request_chips: vec![104],
            },
            ChipGrant {
                phy_id: 2,
                device: "npu-2".into(),
                vdev_id: None,
                request_chips: vec![2],
            },
        ]
    }

    #[test]
    fn a_vnpu_is_its_vdavinci_node_seen_as_davinci_and_a_chip_its_davinci_node() {
        let dir = tempfile::tempdir().unwrap();
        let settings = CdiSettings {
            dir: dir.path().join("cdi"),
            dev_root: dir.path().to_path_buf(),
            ascend_docker: false,
        };
        let spec = spec_for(&settings, Family::Ascend310P, "u", &grants());
        let vnpu = &spec.devices[0];
        assert_eq!(vnpu.name, "u-npu-1-vir02-0");
        let node = &vnpu.container_edits.device_nodes[0];
        assert_eq!(node.path, "/dev/davinci104");
        let host = dir.path().join("vdavinci104").display().to_string();
        assert_eq!(node.host_path.as_deref(), Some(host.as_str()));
        assert!(vnpu.container_edits.env.is_empty());
        let chip = &spec.devices[1];
        assert_eq!(chip.name, "u-npu-2");
        assert_eq!(chip.container_edits.device_nodes[0].path, "/dev/davinci2");
    }

    #[test]
    fn under_ascend_docker_a_vnpu_is_its_vdev_id_marked_virtual() {
        let settings = CdiSettings {
            dir: PathBuf::from("cdi"),
            dev_root: PathBuf::from("dev"),
            ascend_docker: true,
        };
        let spec = spec_for(&settings, Family::Ascend310P, "u", &grants());
        assert_eq!(
            spec.devices[0].container_edits.env,
            [
                "ASCEND_VISIBLE_DEVICES=104",
                "ASCEND_RUNTIME_OPTIONS=VIRTUAL"
            ]
        );
        assert_eq!(
            spec.devices[1].container_edits.env,
            ["ASCEND_VISIBLE_DEVICES=2"]
        );
        assert!(
            spec.devices
                .iter()
                .all(|d| d.container_edits.device_nodes.is_empty())
        );
    }
}
