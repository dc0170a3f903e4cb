//! Chaos modes: hostile-but-memory-safe library output for testing consumers.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One way the simulated driver misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChaosMode {
    /// card_num, device_num, error_count and vdev_num come back negative.
    NegativeCount,
    /// Counts larger than the caller's buffer or the documented limit (the
    /// buffer itself is never written past its end).
    CountOverflow,
    /// String fields filled to the end of their array, without a NUL.
    NoNul,
    /// Names containing bytes that are not UTF-8.
    BadUtf8,
    /// Logic ids 4096, physical ids 0xFFFFFFFF, vNPU ids 0xFFFFFFFF.
    BadIds,
    /// Every call but `dcmi_init` blocks for up to 60 s or until chaos is cleared.
    Hang,
    /// `dcmi_subscribe_fault_event` answers -8255, like drivers without fault
    /// events; consumers must fall back to polling.
    NoEvents,
    /// Every call but `dcmi_init` fails with the driver's inner error
    /// (-8005), as a driver does while its firmware is wedged.
    Fail,
}

/// Every mode, for usage text and tests.
pub const ALL_MODES: [ChaosMode; 8] = [
    ChaosMode::NegativeCount,
    ChaosMode::CountOverflow,
    ChaosMode::NoNul,
    ChaosMode::BadUtf8,
    ChaosMode::BadIds,
    ChaosMode::Hang,
    ChaosMode::NoEvents,
    ChaosMode::Fail,
];

impl ChaosMode {
    /// The spelling in the state file, the CLI and `ASCEND_SIM_CHAOS`.
    pub fn name(self) -> &'static str {
        match self {
            ChaosMode::NegativeCount => "negative-count",
            ChaosMode::CountOverflow => "count-overflow",
            ChaosMode::NoNul => "no-nul",
            ChaosMode::BadUtf8 => "bad-utf8",
            ChaosMode::BadIds => "bad-ids",
            ChaosMode::Hang => "hang",
            ChaosMode::NoEvents => "no-events",
            ChaosMode::Fail => "fail",
        }
    }
}

impl fmt::Display for ChaosMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ChaosMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ALL_MODES
            .into_iter()
            .find(|mode| mode.name() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = ALL_MODES.iter().map(|mode| mode.name()).collect();
                format!("unknown chaos mode {text:?} (known: {})", known.join(", "))
            })
    }
}

/// A comma list of modes ("" = none).
pub fn parse_list(text: &str) -> Result<BTreeSet<ChaosMode>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|word| !word.is_empty())
        .map(str::parse)
        .collect()
}

/// The modes in force for one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chaos(pub BTreeSet<ChaosMode>);

impl Chaos {
    /// Whether `mode` is on.
    pub fn has(&self, mode: ChaosMode) -> bool {
        self.0.contains(&mode)
    }

    /// A count reported to the caller, whose buffer or limit is `limit`.
    pub fn count(&self, real: usize, limit: usize) -> i64 {
        if self.has(ChaosMode::NegativeCount) {
            -(real as i64) - 1
        } else if self.has(ChaosMode::CountOverflow) {
            (limit as i64 + 1).max(200)
        } else {
            real as i64
        }
    }

    /// A logic id reported to the caller.
    pub fn logic_id(&self, real: u32) -> u32 {
        if self.has(ChaosMode::BadIds) {
            4096
        } else {
            real
        }
    }

    /// A physical id reported to the caller.
    pub fn phy_id(&self, real: u32) -> u32 {
        if self.has(ChaosMode::BadIds) {
            u32::MAX
        } else {
            real
        }
    }

    /// A vNPU id reported to the caller.
    pub fn vdev_id(&self, real: u32) -> u32 {
        if self.has(ChaosMode::BadIds) {
            u32::MAX
        } else {
            real
        }
    }

    /// The bytes of a C string field of `len` bytes holding `text`:
    /// NUL-terminated and NUL-padded normally; `bad-utf8` inserts 0xFF 0xFE
    /// after the first byte; `no-nul` fills the whole array with no NUL.
    pub fn c_string(&self, text: &str, len: usize) -> Vec<u8> {
        let mut bytes = text.as_bytes().to_vec();
        if self.has(ChaosMode::BadUtf8) {
            let at = bytes.len().min(1);
            bytes.splice(at..at, [0xFF, 0xFE]);
        }
        if self.has(ChaosMode::NoNul) {
            bytes.retain(|byte| *byte != 0);
            bytes.resize(len.max(bytes.len()), b'X');
            bytes.truncate(len);
        } else {
            bytes.truncate(len.saturating_sub(1));
            bytes.resize(len, 0);
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn chaos(text: &str) -> Chaos {
        Chaos(parse_list(text).unwrap())
    }

    #[test]
    fn a_comma_list_parses_and_an_unknown_mode_is_named() {
        assert_eq!(chaos("hang, no-nul").0.len(), 2);
        assert!(parse_list("hang,nope").unwrap_err().contains("\"nope\""));
        assert!(parse_list("").unwrap().is_empty());
    }

    #[test]
    fn strings_are_nul_terminated_unless_no_nul_is_on() {
        assert_eq!(Chaos::default().c_string("910B3", 8), b"910B3\0\0\0");
        assert_eq!(Chaos::default().c_string("0123456789", 4), b"012\0");
        assert_eq!(chaos("no-nul").c_string("910B3", 8), b"910B3XXX");
        let bad = chaos("bad-utf8").c_string("910B3", 16);
        assert!(std::str::from_utf8(&bad[..7]).is_err());
        assert!(bad.contains(&0));
        let both = chaos("bad-utf8,no-nul").c_string("910B3", 32);
        assert_eq!(both.len(), 32);
        assert!(!both.contains(&0));
    }

    #[test]
    fn counts_are_negative_or_beyond_the_limit_in_chaos() {
        assert_eq!(Chaos::default().count(8, 64), 8);
        assert!(chaos("negative-count").count(0, 64) < 0);
        assert_eq!(chaos("count-overflow").count(8, 64), 200);
        assert_eq!(chaos("count-overflow").count(1, 300), 301);
    }
}
