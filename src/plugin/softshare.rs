//! Soft share's side of Allocate (recovery spec §4.6): the chip's
//! shared-memory file and the pod's `npu_info.config`, created on the host
//! and mounted into the container. Content and naming are pure functions;
//! [`SoftShareFiles`] does the filesystem work.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::allocate::MountPoint;
use crate::cluster::softshare::SoftShareRequest;

/// Where the chip's shared-memory file appears in the container (+ die id).
pub const SHM_DIR: &str = "/dev/shm";
/// Where the pod's `npu_info.config` directory appears in the container.
pub const VCANN_RT: &str = "/etc/enpu/vcann-rt/";
/// The file the soft-share runtime reads.
pub const CONFIG_FILE: &str = "npu_info.config";
/// Marks a pod directory this plugin made (outside what the container
/// sees): only such directories are ever removed.
pub const OWNER_MARK: &str = ".ascend-device-plugin";
/// Virtual NPU ids per chip: one per percent.
pub const MAX_VID: u32 = 100;

/// A soft-share Allocate could not prepare its files; names the path.
#[derive(Debug, thiserror::Error)]
pub enum SoftShareError {
    #[error("soft share: no die id known for chip with phy id {phy}")]
    NoDieId { phy: u32 },
    #[error("soft share: {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A die id as upstream names the shared-memory file: five 8-digit
/// upper-case hex groups joined by `-`.
pub fn die_id_name(words: [u32; 5]) -> String {
    words
        .iter()
        .map(|w| format!("{w:08X}"))
        .collect::<Vec<_>>()
        .join("-")
}

/// The smallest vid 0..100 not in `used`; when all are used, max + 1 (as
/// upstream; the quotas of one chip cannot add up to that many pods).
pub fn free_vid(used: &BTreeSet<u32>) -> u32 {
    (0..MAX_VID)
        .find(|vid| !used.contains(vid))
        .unwrap_or_else(|| used.last().map_or(0, |max| max + 1))
}

/// `npu_info.config`: `key=value` lines (none is empty here).
pub fn npu_info_config(request: &SoftShareRequest, vid: u32, die: &str) -> String {
    format!(
        "physical-npu-id={}\nvirtual-npu-id={vid}\naicore-quota={}\nmemory-quota={}\nshm-id={die}\nscheduling-policy={}\n",
        request.phy, request.aicore, request.hbm_mb, request.policy
    )
}

/// `<ns>.<pod>`: the directory of one pod's configs under the enpu dir.
/// (Upstream keys it by Volcano job; the container sees only its own
/// `<phy>_<vid>`, and a directory per pod can be removed exactly when that
/// pod is gone.)
pub fn pod_dir_name(namespace: &str, pod: &str) -> String {
    format!("{namespace}.{pod}")
}

/// The host side of soft share on this node.
#[derive(Debug)]
pub struct SoftShareFiles {
    /// `-softShareDevConfigDir`.
    pub dir: PathBuf,
    /// The enpu directory (upstream `/etc/enpu`).
    pub enpu_dir: PathBuf,
    /// Each chip's VDIE id, named as [`die_id_name`] does, by phy id.
    pub die_ids: BTreeMap<u32, String>,
    /// One preparation at a time, so two pods never take the same vid.
    lock: Mutex<()>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SoftShareError + '_ {
    move |source| SoftShareError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn make_dir(path: &Path) -> Result<(), SoftShareError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(io(path))
}

impl SoftShareFiles {
    pub fn new(dir: PathBuf, enpu_dir: PathBuf, die_ids: BTreeMap<u32, String>) -> Self {
        Self {
            dir,
            enpu_dir,
            die_ids,
            lock: Mutex::new(()),
        }
    }

    /// Removes the config directories of pods `live` no longer knows, then
    /// creates the chip's shared-memory file (if absent) and the pod's
    /// config; answers the two mounts.
    pub fn prepare(
        &self,
        namespace: &str,
        pod: &str,
        request: &SoftShareRequest,
        live: impl Fn(&str, &str) -> bool,
    ) -> Result<Vec<MountPoint>, SoftShareError> {
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let die = self
            .die_ids
            .get(&request.phy)
            .ok_or(SoftShareError::NoDieId { phy: request.phy })?;
        self.sweep(&live);
        let chip_dir = self.dir.join(request.phy.to_string());
        make_dir(&chip_dir)?;
        let shm = chip_dir.join(die);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o666)
            .open(&shm)
            .map_err(io(&shm))?;
        let vid = free_vid(&self.used_vids(request.phy));
        let config_dir = self
            .enpu_dir
            .join(pod_dir_name(namespace, pod))
            .join(format!("{}_{vid}", request.phy));
        make_dir(&config_dir)?;
        let mark = config_dir.parent().map(|pod_dir| pod_dir.join(OWNER_MARK));
        if let Some(mark) = mark {
            std::fs::write(&mark, b"").map_err(io(&mark))?;
        }
        write_file(&config_dir, &npu_info_config(request, vid, die))?;
        tracing::info!(
            aicore_quota = request.aicore,
            hbm_quota_mb = request.hbm_mb,
            policy = request.policy,
            "soft-share quota prepared"
        );
        Ok(vec![
            MountPoint {
                host_path: shm.display().to_string(),
                container_path: format!("{SHM_DIR}/{die}"),
                read_only: false,
            },
            MountPoint {
                host_path: config_dir.display().to_string(),
                container_path: VCANN_RT.to_owned(),
                read_only: true,
            },
        ])
    }

    /// Vids in use on chip `phy`: every `<enpu>/*/<phy>_<n>` directory.
    fn used_vids(&self, phy: u32) -> BTreeSet<u32> {
        let prefix = format!("{phy}_");
        let Ok(pods) = std::fs::read_dir(&self.enpu_dir) else {
            return BTreeSet::new();
        };
        pods.flatten()
            .filter_map(|pod| std::fs::read_dir(pod.path()).ok())
            .flat_map(|entries| entries.flatten())
            .filter_map(|entry| {
                let name = entry.file_name();
                let vid = name.to_str()?.strip_prefix(&prefix)?.parse::<u32>().ok()?;
                entry.file_type().ok()?.is_dir().then_some(vid)
            })
            .collect()
    }

    /// Removes `<enpu>/<ns>.<pod>` of every pod `live` does not know (it
    /// ended or was deleted). Only directories named like ours and holding
    /// only `<phy>_<vid>` directories are touched.
    fn sweep(&self, live: &impl Fn(&str, &str) -> bool) {
        let Ok(entries) = std::fs::read_dir(&self.enpu_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some((namespace, pod)) = name.to_str().and_then(|n| n.split_once('.')) else {
                continue;
            };
            if live(namespace, pod) || !is_ours(&entry.path()) {
                continue;
            }
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => {
                    tracing::info!(%namespace, %pod, "soft-share config of a pod that is gone removed")
                }
                Err(error) => {
                    tracing::warn!(%namespace, %pod, %error, "cannot remove the soft-share config of a pod that is gone")
                }
            }
        }
    }
}

/// A pod directory we made: a real directory holding [`OWNER_MARK`] and
/// otherwise only `<phy>_<vid>` directories. Directories another plugin
/// made (the Go plugin's `<ns>.<job>`, whose pods may still run after a
/// migration) have no mark and are left alone.
fn is_ours(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_dir() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    let mut marked = false;
    let only_configs = entries.flatten().all(|entry| {
        let name = entry.file_name();
        if name == OWNER_MARK {
            marked = true;
            return entry.file_type().is_ok_and(|t| t.is_file());
        }
        let named = name
            .to_str()
            .and_then(|n| n.split_once('_'))
            .is_some_and(|(p, v)| p.parse::<u32>().is_ok() && v.parse::<u32>().is_ok());
        named && entry.file_type().is_ok_and(|t| t.is_dir())
    });
    marked && only_configs
}

/// Writes `npu_info.config` (0644) through a temporary file and a rename.
fn write_file(dir: &Path, content: &str) -> Result<(), SoftShareError> {
    let path = dir.join(CONFIG_FILE);
    let temp = dir.join(format!(".{CONFIG_FILE}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o644)
        .open(&temp)
        .map_err(io(&temp))?;
    file.write_all(content.as_bytes()).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    std::fs::rename(&temp, &path).map_err(io(&path))
}

#[cfg(test)]
mod tests;

/// Soft share's files on this node, when `-softShareDevConfigDir` is set:
/// every chip's VDIE id read once (bounded by `--dcmi-timeout`); a chip
/// whose id cannot be read stops the start, naming it.
pub async fn open(
    config: &crate::config::Config,
    dcmi: &crate::dcmi::Dcmi,
    inventory: &crate::device::model::Inventory,
) -> anyhow::Result<Option<std::sync::Arc<SoftShareFiles>>> {
    let Some(settings) = &config.modes.soft_share else {
        return Ok(None);
    };
    // Both folders exist before the first Allocate: a missing or read-only
    // volume stops the start, instead of failing an Allocate after its pod
    // was claimed.
    for (flag, dir) in [
        ("-softShareDevConfigDir", &settings.dir),
        ("--soft-share-enpu-dir", &settings.enpu_dir),
    ] {
        make_dir(dir).map_err(|error| anyhow::anyhow!("{flag}: {error}"))?;
    }
    let mut die_ids = BTreeMap::new();
    for chip in &inventory.chips {
        let (card, device) = (
            chip.card_id,
            u32::try_from(chip.device_index).unwrap_or_default(),
        );
        let read: Result<[u32; 5], crate::dcmi::DcmiError> = dcmi
            .call("die_id", config.dcmi_timeout, move |api| {
                api.vdie_id(card, device)
            })
            .await;
        let words = read.map_err(|error| {
            anyhow::anyhow!(
                "-softShareDevConfigDir: cannot read the die id of chip {}: {error}",
                chip.name()
            )
        })?;
        die_ids.insert(chip.phy_id, die_id_name(words));
    }
    tracing::info!(
        dir = %settings.dir.display(),
        chips = die_ids.len(),
        "soft share on: each chip advertised 100 times"
    );
    Ok(Some(std::sync::Arc::new(SoftShareFiles::new(
        settings.dir.clone(),
        settings.enpu_dir.clone(),
        die_ids,
    ))))
}
