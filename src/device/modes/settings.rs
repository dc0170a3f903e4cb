//! What the node's modes are, as decided from the flags (`config::modes`
//! holds the flag rules): plain data the node core reads.

use std::path::PathBuf;

/// The only `-shareDevCount` soft share runs with: quotas are percent of a chip.
pub const SOFT_SHARE_SLOTS: u32 = 100;

/// Soft share: each chip advertised 100 times, a pod's IDs are its AI-core
/// quota in percent, Allocate mounts the chip's shared-memory file and the
/// pod's `npu_info.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftShare {
    /// `-softShareDevConfigDir`: holds `<phyID>/<dieID>`, one shared-memory
    /// file per chip, mounted at `/dev/shm/<dieID>`.
    pub dir: PathBuf,
    /// `--soft-share-enpu-dir` (upstream: `/etc/enpu`): holds
    /// `<ns>.<pod>/<phyID>_<vid>/npu_info.config`, mounted read-only at
    /// `/etc/enpu/vcann-rt/`.
    pub enpu_dir: PathBuf,
}

/// The modes a node runs in, decided once from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modes {
    pub soft_share: Option<SoftShare>,
    /// `-useSingleDieMode`: on 910A3, a die may go into a container alone.
    pub single_die: bool,
    /// `-fdFlag`: edge naming (`davinci-mini` on 310/310B), edge device
    /// nodes, logs to `-edgeLogFile`.
    pub edge: bool,
    /// `deviceNameCustomization.json`; a missing file renames nothing.
    pub device_names_file: PathBuf,
    /// Flags set to something that has no effect in the chosen modes; each
    /// entry says why, and is logged as a warning at start.
    pub notes: Vec<String>,
}
