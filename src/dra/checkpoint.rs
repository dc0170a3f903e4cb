//! The DRA face's own checkpoint (`dra.md` §4.7): which claims are
//! prepared, with exactly what each prepare made, so Unprepare (which gets
//! only the claim's UID) undoes it after a restart of the driver or kubelet.
//!
//! `<state-dir>/dra/checkpoint.json`, written atomically (temp file, fsync,
//! rename, fsync of the directory) with a SHA-256 of its content. A file
//! from another boot is discarded (the devices were reset by the reboot).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Format version written and accepted.
pub const VERSION: u32 = 1;
/// The file name inside the checkpoint directory.
pub const FILE: &str = "checkpoint.json";

/// Where a claim's prepare got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrepareState {
    /// Recorded before anything is written for the claim: whatever exists
    /// of it may be partial and is undone, not trusted.
    PrepareStarted,
    PrepareCompleted,
}

/// One device as Prepare returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedDevice {
    pub requests: Vec<String>,
    pub pool: String,
    pub device: String,
    #[serde(rename = "cdiIds")]
    pub cdi_ids: Vec<String>,
    /// The allocation result asked for admin access (no exclusivity).
    #[serde(rename = "adminAccess", default)]
    pub admin_access: bool,
    /// The vNPU behind a partition device; `vdevId` once created, so
    /// Unprepare (even after a restart) destroys exactly it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vnpu: Option<VnpuRecord>,
}

/// A partition device's vNPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VnpuRecord {
    #[serde(rename = "phyId")]
    pub phy_id: u32,
    pub template: String,
    #[serde(rename = "vdevId", default, skip_serializing_if = "Option::is_none")]
    pub vdev_id: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedClaim {
    pub namespace: String,
    pub name: String,
    pub state: PrepareState,
    pub devices: Vec<PreparedDevice>,
}

/// The checkpoint's content.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "bootId")]
    pub boot_id: String,
    /// By claim UID.
    pub claims: BTreeMap<String, PreparedClaim>,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    version: u32,
    sha256: String,
    body: Claims,
}

/// A checkpoint that cannot be read back or written, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot write DRA checkpoint {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("DRA checkpoint {path} is unreadable: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

fn digest(body: &Claims) -> Result<String, serde_json::Error> {
    let bytes = serde_json::to_vec(body)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Reads the checkpoint in `dir`. A missing file is an empty one; a file of
/// another boot is returned empty with that boot's claims as the second
/// value (their CDI files are stale).
pub fn load(dir: &Path, boot_id: &str) -> Result<(Claims, Vec<String>), CheckpointError> {
    let path = dir.join(FILE);
    let empty = Claims {
        boot_id: boot_id.to_string(),
        claims: BTreeMap::new(),
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((empty, Vec::new())),
        Err(e) => {
            return Err(CheckpointError::Corrupt {
                path,
                reason: e.to_string(),
            });
        }
    };
    let corrupt = |reason: String| CheckpointError::Corrupt {
        path: path.clone(),
        reason,
    };
    let file: File = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if file.version != VERSION {
        return Err(corrupt(format!(
            "version {} (this driver reads {VERSION})",
            file.version
        )));
    }
    let expected = digest(&file.body).map_err(|e| corrupt(e.to_string()))?;
    if expected != file.sha256 {
        return Err(corrupt("sha256 does not match the content".into()));
    }
    if file.body.boot_id != boot_id {
        let stale = file.body.claims.into_keys().collect();
        return Ok((empty, stale));
    }
    Ok((file.body, Vec::new()))
}

/// Writes `claims` to `dir` atomically.
pub fn store(dir: &Path, claims: &Claims) -> Result<(), CheckpointError> {
    let path = dir.join(FILE);
    let wrap = |source| CheckpointError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(wrap)?;
    let file = File {
        version: VERSION,
        sha256: digest(claims).map_err(|e| wrap(std::io::Error::other(e)))?,
        body: claims.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| wrap(std::io::Error::other(e)))?;
    let temp = dir.join(format!(".{FILE}.tmp"));
    let mut out = std::fs::File::create(&temp).map_err(wrap)?;
    out.write_all(&bytes).map_err(wrap)?;
    out.sync_all().map_err(wrap)?;
    std::fs::rename(&temp, &path).map_err(wrap)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(wrap)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn claim(state: PrepareState) -> PreparedClaim {
        PreparedClaim {
            namespace: "ns".into(),
            name: "c".into(),
            state,
            devices: vec![PreparedDevice {
                requests: vec!["npu".into()],
                pool: "node-a".into(),
                device: "npu-3".into(),
                cdi_ids: vec!["k8s.npu.huawei.com/claim=u1-npu-3".into()],
                admin_access: false,
                vnpu: None,
            }],
        }
    }

    #[test]
    fn a_stored_checkpoint_reads_back_the_same_in_the_same_boot() {
        let dir = tempfile::tempdir().unwrap();
        let mut claims = Claims {
            boot_id: "boot-1".into(),
            ..Claims::default()
        };
        claims
            .claims
            .insert("u1".into(), claim(PrepareState::PrepareCompleted));
        store(dir.path(), &claims).unwrap();
        let (read, stale) = load(dir.path(), "boot-1").unwrap();
        assert_eq!(read, claims);
        assert!(stale.is_empty());
    }

    #[test]
    fn a_checkpoint_of_another_boot_is_dropped_and_its_claims_named_stale() {
        let dir = tempfile::tempdir().unwrap();
        let mut claims = Claims {
            boot_id: "boot-1".into(),
            ..Claims::default()
        };
        claims
            .claims
            .insert("u1".into(), claim(PrepareState::PrepareCompleted));
        store(dir.path(), &claims).unwrap();
        let (read, stale) = load(dir.path(), "boot-2").unwrap();
        assert!(read.claims.is_empty());
        assert_eq!(read.boot_id, "boot-2");
        assert_eq!(stale, ["u1"]);
    }

    #[test]
    fn an_edited_checkpoint_is_refused_by_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let mut claims = Claims {
            boot_id: "b".into(),
            ..Claims::default()
        };
        claims
            .claims
            .insert("u1".into(), claim(PrepareState::PrepareCompleted));
        store(dir.path(), &claims).unwrap();
        let path = dir.path().join(FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("npu-3", "npu-4")).unwrap();
        let error = load(dir.path(), "b").unwrap_err().to_string();
        assert!(error.contains("sha256"), "{error}");
        assert!(error.contains("checkpoint.json"), "{error}");
    }

    #[test]
    fn a_vnpus_vdev_id_survives_the_round_trip_and_its_digest_guards_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut held = claim(PrepareState::PrepareCompleted);
        held.devices[0].device = "npu-3-vir02-1c-0".into();
        held.devices[0].vnpu = Some(VnpuRecord {
            phy_id: 3,
            template: "vir02_1c".into(),
            vdev_id: Some(104),
        });
        let mut claims = Claims {
            boot_id: "b".into(),
            ..Claims::default()
        };
        claims.claims.insert("u1".into(), held);
        store(dir.path(), &claims).unwrap();
        let (read, _) = load(dir.path(), "b").unwrap();
        assert_eq!(read, claims);
        let vnpu = read.claims["u1"].devices[0].vnpu.clone().unwrap();
        assert_eq!((vnpu.phy_id, vnpu.vdev_id), (3, Some(104)));
        let path = dir.path().join(FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"vdevId\": 104"), "{text}");
        std::fs::write(&path, text.replace("\"vdevId\": 104", "\"vdevId\": 105")).unwrap();
        assert!(
            load(dir.path(), "b").is_err(),
            "an edited vdev id is refused"
        );
    }

    #[test]
    fn no_file_is_an_empty_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (read, stale) = load(dir.path(), "b").unwrap();
        assert!(read.claims.is_empty() && stale.is_empty());
    }
}
