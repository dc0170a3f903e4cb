//! The modes beyond the default node, and their flag rules: soft share
//! (`-softShareDevConfigDir`, recovery spec §4.6), single-die A3
//! (`-useSingleDieMode`, §4.7), edge (`-fdFlag`, `-edgeLogFile`, §4.8) and
//! renamed devices (`deviceNameCustomization.json`, §4.9).

use std::path::{Path, PathBuf};

use super::{ConfigError, Flags, checked_absolute, reject};

/// Where upstream reads the device renaming file.
pub const DEFAULT_DEVICE_NAMES_FILE: &str = "/usr/local/deviceNameCustomization.json";
/// Where soft share writes each pod's `npu_info.config` (upstream fixes it).
pub const DEFAULT_ENPU_DIR: &str = "/etc/enpu";
pub use crate::device::modes::settings::{Modes, SOFT_SHARE_SLOTS, SoftShare};

/// Checks the mode flags against each other and the rest of the command line.
pub fn modes_from_flags(flags: &Flags) -> Result<Modes, ConfigError> {
    let mut notes = Vec::new();
    let soft_share = soft_share(flags)?;
    if flags.fd_flag && flags.volcano_type {
        return Err(reject(
            "fdFlag",
            "cannot be combined with -volcanoType=true (edge nodes are not scheduled by Volcano: the edge build has no pod watch, and Volcano names 310 chips Ascend310, not davinci-mini)",
        ));
    }
    if flags.edge_log_file != super::flags::DEFAULT_EDGE_LOG_FILE && !flags.fd_flag {
        notes.push("-edgeLogFile has no effect without -fdFlag=true (logs go to -logFile)".into());
    }
    let enpu_dir = checked_absolute("soft-share-enpu-dir", &flags.soft_share_enpu_dir)?;
    let device_names_file = checked_absolute(
        "device-name-customization-file",
        &flags.device_name_customization_file,
    )?;
    Ok(Modes {
        soft_share: soft_share.map(|dir| SoftShare { dir, enpu_dir }),
        single_die: flags.use_single_die_mode,
        edge: flags.fd_flag,
        device_names_file,
        notes,
    })
}

/// `-softShareDevConfigDir`: absolute, no `..`, its parent an existing
/// directory that is not a symlink; needs `-shareDevCount=100` and
/// `-volcanoType=true`; never with edge mode (its 310 naming and soft share's
/// 910 chips exclude each other).
fn soft_share(flags: &Flags) -> Result<Option<PathBuf>, ConfigError> {
    const FLAG: &str = "softShareDevConfigDir";
    if flags.soft_share_dev_config_dir.is_empty() {
        return Ok(None);
    }
    let dir = checked_absolute(FLAG, &flags.soft_share_dev_config_dir)?;
    if flags.share_dev_count != i64::from(SOFT_SHARE_SLOTS) || !flags.volcano_type {
        return Err(reject(
            FLAG,
            "needs -shareDevCount=100 and -volcanoType=true (soft share quotas are percent of a chip, and Volcano chooses the chip)",
        ));
    }
    if flags.fd_flag {
        return Err(reject(
            FLAG,
            "cannot be combined with -fdFlag=true (edge mode serves 310 chips; soft share serves 910B and 910A3)",
        ));
    }
    let Some(parent) = dir.parent().filter(|p| *p != Path::new("")) else {
        return Err(reject(
            FLAG,
            format!("{} has no parent directory", dir.display()),
        ));
    };
    match std::fs::symlink_metadata(parent) {
        Ok(meta) if meta.file_type().is_symlink() => Err(reject(
            FLAG,
            format!("parent {} is a symlink", parent.display()),
        )),
        Ok(meta) if !meta.is_dir() => Err(reject(
            FLAG,
            format!("parent {} is not a directory", parent.display()),
        )),
        Ok(_) => match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.file_type().is_symlink() || !meta.is_dir() => Err(reject(
                FLAG,
                format!("{} exists and is not a directory", dir.display()),
            )),
            _ => Ok(Some(dir)),
        },
        Err(error) => Err(reject(
            FLAG,
            format!("parent {} is not usable: {error}", parent.display()),
        )),
    }
}

#[cfg(test)]
mod tests;
