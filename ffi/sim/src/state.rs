//! The fault state file (`ASCEND_SIM_STATE`): what is wrong with the node
//! right now. Written atomically by `ascend-sim`, re-read by the library's
//! watcher whenever it changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chaos::ChaosMode;

/// The link-down fault code a `net down` chip reports.
pub const LINK_DOWN_CODE: u32 = 0x8107_8603;
/// Severity of the link-down code (minor).
pub const LINK_DOWN_SEVERITY: u8 = 1;

/// A 32-bit fault code, written as upper-case hex without `0x` ("80E01801").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaultCode(pub u32);

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

impl std::str::FromStr for FaultCode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hex = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        if hex.is_empty() || hex.len() > 8 {
            return Err(format!("fault code {text:?} must be 1 to 8 hex digits"));
        }
        u32::from_str_radix(hex, 16)
            .map(FaultCode)
            .map_err(|_| format!("fault code {text:?} is not hex"))
    }
}

impl Serialize for FaultCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FaultCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An active fault on a chip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveFault {
    /// The code.
    pub code: FaultCode,
    /// 0 warning, 1 minor, 2 major, 3 critical.
    pub severity: u8,
    /// Text for the event's `event_name`; a generic text when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The whole state file. Chips are keyed by physical id, cards by card id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultState {
    /// Active fault codes per chip.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub faults: BTreeMap<u32, Vec<ActiveFault>>,
    /// Cards that dropped off the bus (every call for their chips: -8012).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub dropped_cards: BTreeSet<i32>,
    /// Chips whose RoCE link is down (network health 3, code 81078603).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub link_down: BTreeSet<u32>,
    /// Network health value per chip (0 OK, 6 init, else bad); wins over link_down.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub network_health: BTreeMap<u32, u32>,
    /// `dcmi_get_device_health` value per chip, instead of the max severity.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub health: BTreeMap<u32, u32>,
    /// Chaos modes; absent = `ASCEND_SIM_CHAOS` decides, `[]` = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chaos: Option<BTreeSet<ChaosMode>>,
    /// Processes running on a chip (`dcmi_get_device_resource_info`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub processes: BTreeMap<u32, u32>,
    /// How resets behave.
    #[serde(skip_serializing_if = "ResetSettings::is_default")]
    pub reset: ResetSettings,
    /// Resets the library carried out, per chip (written by the library).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub resets: BTreeMap<u32, u32>,
    /// The multi-die policy last set through `dcmi_set_multi_die_policy`
    /// (0 union, 1 independent; written by the library).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_die_policy: Option<u32>,
}

/// How `dcmi_set_device_reset` and the boot status behave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResetSettings {
    /// How long a reset chip takes to boot: its boot status goes 0, 1, 2, 3
    /// in equal steps, then 16 (started). 0 = started at once.
    #[serde(skip_serializing_if = "is_zero")]
    pub boot_ms: u64,
    /// Chips whose in-band reset fails (-8015).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub fail: BTreeSet<u32>,
    /// Chips that hang in boot after a reset (status 2, OS, for good).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub hang: BTreeSet<u32>,
    /// Chips whose out-of-band channel is down (state 0, out-band reset fails).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub outband_down: BTreeSet<u32>,
}

impl ResetSettings {
    fn is_default(&self) -> bool {
        *self == ResetSettings::default()
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The content is not a state file.
    #[error("{path}: not a valid state file: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl FaultState {
    /// Parses and checks a state file's bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let state: FaultState = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
        for (phy, faults) in &state.faults {
            if let Some(fault) = faults.iter().find(|fault| fault.severity > 3) {
                return Err(format!(
                    "phy {phy}: fault {} has severity {} (0..=3)",
                    fault.code, fault.severity
                ));
            }
        }
        Ok(state)
    }

    /// Reads the file; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Self::from_json(&bytes)
            .map(Some)
            .map_err(|reason| StateError::Invalid {
                path: path.to_owned(),
                reason,
            })
    }

    /// Loads, edits and atomically rewrites the file under its lock file
    /// (`<path>.lock`), so concurrent editors (`ascend-sim`, the library
    /// recording a reset) never lose each other's change. Returns the new
    /// state and the bytes written.
    pub fn edit_locked(
        path: &Path,
        edit: impl FnOnce(&mut FaultState),
    ) -> Result<(FaultState, Vec<u8>), StateError> {
        let io = |source| StateError::Io {
            path: path.to_owned(),
            source,
        };
        let mut lock_name = path.as_os_str().to_owned();
        lock_name.push(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(lock_name))
            .map_err(io)?;
        lock.lock().map_err(io)?;
        let mut state = FaultState::load(path)?.unwrap_or_default();
        edit(&mut state);
        state.save(path)?;
        let bytes = std::fs::read(path).map_err(io)?;
        Ok((state, bytes))
    }

    /// Writes the file atomically (temporary file + rename).
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: path.to_owned(),
            source,
        };
        let mut text =
            serde_json::to_string_pretty(self).map_err(|error| io(std::io::Error::other(error)))?;
        text.push('\n');
        write_atomically(path, text.as_bytes()).map_err(io)
    }

    /// Every code active on a chip, including link-down: (code, severity, name).
    pub fn active(&self, phy_id: u32) -> Vec<ActiveFault> {
        let mut active = self.faults.get(&phy_id).cloned().unwrap_or_default();
        if self.link_down.contains(&phy_id)
            && !active.iter().any(|fault| fault.code.0 == LINK_DOWN_CODE)
        {
            active.push(ActiveFault {
                code: FaultCode(LINK_DOWN_CODE),
                severity: LINK_DOWN_SEVERITY,
                name: Some("RoCE link down".into()),
            });
        }
        active
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames
/// it over `path`, so readers see the old or the new content, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp.{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path).inspect_err(|_| {
        std::fs::remove_file(&temp).ok();
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn fault_codes_read_with_or_without_0x_and_print_as_eight_hex_digits() {
        assert_eq!(
            "80E01801".parse::<FaultCode>().unwrap(),
            FaultCode(0x80E0_1801)
        );
        assert_eq!("0x1f".parse::<FaultCode>().unwrap().to_string(), "0000001F");
        assert!("80E018011".parse::<FaultCode>().is_err());
        assert!("xyz".parse::<FaultCode>().is_err());
    }

    #[test]
    fn a_state_file_round_trips_through_json() {
        let mut state = FaultState::default();
        state.faults.insert(
            3,
            vec![ActiveFault {
                code: FaultCode(0x80E0_1801),
                severity: 2,
                name: None,
            }],
        );
        state.dropped_cards.insert(2);
        state.chaos = Some([ChaosMode::Hang].into());
        let text = serde_json::to_string(&state).unwrap();
        assert!(text.contains("\"80E01801\""), "{text}");
        assert!(text.contains("\"hang\""), "{text}");
        assert_eq!(FaultState::from_json(text.as_bytes()).unwrap(), state);
    }

    #[test]
    fn a_severity_above_three_is_rejected() {
        let text = br#"{"faults":{"1":[{"code":"80E01801","severity":4}]}}"#;
        assert!(
            FaultState::from_json(text)
                .unwrap_err()
                .contains("severity 4")
        );
    }

    #[test]
    fn link_down_adds_the_link_down_code_once() {
        let mut state = FaultState::default();
        state.link_down.insert(0);
        let active = state.active(0);
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].code, FaultCode(LINK_DOWN_CODE));
        assert!(state.active(1).is_empty());
    }
}
