//! kubelet-ID -> real-chip map of Volcano mode (compat §4 item 4). kubelet
//! believes it allocated the IDs it sent; the containers got Volcano's chips.
//! ListAndWatch reports each such ID with its real chip's health, so a fault
//! on the real chip reaches the pods that use it. The map is published on a
//! watch channel and persisted atomically (`volcano-map.json` in the state
//! directory) after every change; after a restart without the file it is
//! rebuilt from the pod-resources API and the pods' `AscendReal`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::dcmi::OwnerPolicy;

/// File name inside the state directory.
pub const FILE_NAME: &str = "volcano-map.json";
/// Largest state file read back (a full node has a few hundred entries).
const MAX_FILE_BYTES: u64 = 4 << 20;
const FORMAT_VERSION: u32 = 1;

/// One kubelet ID's real chip and the pod it went to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub real_phy: u32,
    /// The vNPU created for the pod (dynamic vNPU mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vdev_id: Option<u32>,
    pub pod: String,
    pub pod_uid: String,
    /// Unix seconds when recorded (young entries survive a stale listing).
    pub since: i64,
}

/// Resource type (`Ascend910`) -> kubelet ID -> assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignments {
    pub version: u32,
    pub resources: BTreeMap<String, BTreeMap<String, Assignment>>,
}

impl Assignments {
    /// The real chip behind kubelet ID `id` of `resource_type`.
    pub fn real_phy(&self, resource_type: &str, id: &str) -> Option<u32> {
        self.resources
            .get(resource_type)?
            .get(id)
            .map(|a| a.real_phy)
    }

    /// Records that `ids[i]` went to `phys[i]` for `pod`.
    pub fn record(
        &mut self,
        resource_type: &str,
        ids: &[String],
        phys: &[u32],
        pod: &str,
        pod_uid: &str,
        now: i64,
    ) {
        self.record_vnpu(resource_type, ids, phys, None, pod, pod_uid, now);
    }

    /// [`record`](Self::record), all IDs backed by vNPU `vdev_id` when set.
    #[allow(clippy::too_many_arguments)]
    pub fn record_vnpu(
        &mut self,
        resource_type: &str,
        ids: &[String],
        phys: &[u32],
        vdev_id: Option<u32>,
        pod: &str,
        pod_uid: &str,
        now: i64,
    ) {
        let entries = self.resources.entry(resource_type.to_owned()).or_default();
        for (id, &real_phy) in ids.iter().zip(phys) {
            entries.insert(
                id.clone(),
                Assignment {
                    real_phy,
                    vdev_id,
                    pod: pod.to_owned(),
                    pod_uid: pod_uid.to_owned(),
                    since: now,
                },
            );
        }
    }

    /// Keeps only IDs kubelet still reports allocated to the same pod
    /// (`allocated`: resource type -> ID -> `namespace/name`), and entries
    /// younger than `grace_s` (kubelet may not list an allocation it is
    /// still admitting). An ID kubelet now lists for another pod is a stale
    /// entry (a file from an earlier run) and goes. True if anything changed.
    pub fn retain_allocated(
        &mut self,
        allocated: &BTreeMap<String, BTreeMap<String, String>>,
        now: i64,
        grace_s: i64,
    ) -> bool {
        let before = self.clone();
        for (resource_type, entries) in &mut self.resources {
            let live = allocated.get(resource_type);
            entries.retain(|id, a| {
                let same_pod = live
                    .and_then(|l| l.get(id))
                    .is_some_and(|pod| *pod == a.pod);
                same_pod || now - a.since < grace_s
            });
        }
        self.resources.retain(|_, entries| !entries.is_empty());
        *self != before
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing state directory {path}: {rule}")]
    UnsafeDir { path: PathBuf, rule: String },
    #[error("state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The published map and its file.
#[derive(Debug, Clone)]
pub struct AssignmentStore {
    file: PathBuf,
    owner: OwnerPolicy,
    tx: Arc<watch::Sender<Arc<Assignments>>>,
}

impl AssignmentStore {
    /// Opens the store under `dir`, reading the previous map if the file is
    /// there and sound; an unreadable file is reported and ignored (the map
    /// is rebuilt from kubelet and the pods instead).
    pub fn open(dir: &Path) -> (AssignmentStore, Option<String>) {
        Self::open_as(dir, OwnerPolicy::current())
    }

    /// [`Self::open`] for a process whose files `owner` describes: the
    /// directory must belong to root or its uid (injected for tests).
    pub fn open_as(dir: &Path, owner: OwnerPolicy) -> (AssignmentStore, Option<String>) {
        let file = dir.join(FILE_NAME);
        let checked = match check_dir(dir, owner) {
            Ok(_) => read(&file),
            Err(error) => Err(error.to_string()),
        };
        let (initial, problem) = match checked {
            Ok(found) => (found.unwrap_or_default(), None),
            Err(problem) => (Assignments::default(), Some(problem)),
        };
        let store = AssignmentStore {
            file,
            owner,
            tx: Arc::new(watch::channel(Arc::new(initial)).0),
        };
        (store, problem)
    }

    pub fn current(&self) -> Arc<Assignments> {
        self.tx.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Assignments>> {
        self.tx.subscribe()
    }

    /// Applies `change`; when it changed anything, publishes and persists.
    /// The new map is published even if writing the file fails (the error
    /// is returned for the caller to report).
    pub fn update(&self, change: impl FnOnce(&mut Assignments)) -> Result<bool, StoreError> {
        let mut next = (*self.current()).clone();
        change(&mut next);
        next.version = FORMAT_VERSION;
        if next == *self.current() {
            return Ok(false);
        }
        let next = Arc::new(next);
        self.tx.send_replace(Arc::clone(&next));
        write_atomically(&self.file, &next, self.owner)?;
        Ok(true)
    }
}

/// Refuses a state directory someone else could write in: it must be a
/// real directory (not a symlink), owned by root or the process user and
/// not writable by group or others (the rules of the device-plugin
/// directory, plus the mode). True if it exists.
fn check_dir(dir: &Path, owner: OwnerPolicy) -> Result<bool, StoreError> {
    let refuse = |rule: String| StoreError::UnsafeDir {
        path: dir.to_path_buf(),
        rule,
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(StoreError::Dir {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    if let Some(rule) = owner.directory_problem(&meta) {
        return Err(refuse(rule));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(format!(
            "it is writable by group or others (mode {:o})",
            meta.mode() & 0o7777
        )));
    }
    Ok(true)
}

fn read(file: &Path) -> Result<Option<Assignments>, String> {
    let shown = file.display();
    // O_NOFOLLOW: a symlink in place of the file is refused, never followed.
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(file);
    let mut opened = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(format!("{shown} is a symlink"));
        }
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    let metadata = opened.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{shown} is {} bytes (limit {MAX_FILE_BYTES})",
            metadata.len()
        ));
    }
    let mut bytes = Vec::new();
    (&mut opened)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: {e}"))?;
    decode(&bytes)
        .map(Some)
        .map_err(|problem| format!("{shown}: {problem}"))
}

/// The map in a state file's bytes: JSON of this format version.
pub(crate) fn decode(bytes: &[u8]) -> Result<Assignments, String> {
    // serde_json's message quotes a bad value whole (a 4 MiB file could make
    // a log line of tens of MB): say what kind of error and where, not what.
    let map: Assignments = serde_json::from_slice(bytes).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "not a kubelet-ID map",
            serde_json::error::Category::Eof => "cut short",
        };
        format!("{kind} (line {}, column {})", e.line(), e.column())
    })?;
    if map.version != FORMAT_VERSION {
        return Err(format!(
            "format version {} (expected {FORMAT_VERSION})",
            map.version
        ));
    }
    Ok(map)
}

/// Write to a temp file beside it, fsync, rename over, fsync the directory:
/// a crash leaves the old file or the new one, never half of one. The
/// directory is checked first ([`check_dir`]); the temp file is created
/// with `O_EXCL|O_NOFOLLOW`, so a symlink or file planted at its name is
/// never written through (a leftover is unlinked, not followed).
fn write_atomically(file: &Path, map: &Assignments, owner: OwnerPolicy) -> Result<(), StoreError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    if !check_dir(dir, owner)? {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StoreError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        check_dir(dir, owner)?;
    }
    let temp = file.with_extension("json.tmp");
    let failed = |source| StoreError::Write {
        path: file.to_path_buf(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(map).map_err(|e| failed(std::io::Error::other(e)))?;
    match std::fs::remove_file(&temp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed(e)),
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(&temp)
        .map_err(failed)?;
    out.write_all(&bytes).map_err(failed)?;
    out.sync_all().map_err(failed)?;
    drop(out);
    std::fs::rename(&temp, file).map_err(failed)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(failed)?;
    Ok(())
}

#[cfg(test)]
mod tests;
