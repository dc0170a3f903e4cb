//! Fault codes and their levels (compat §7): the `faultCode.json` table
//! format, the built-in default (upstream's shipped table), and the grading rules
//! (worst level wins; an unknown code is graded by its event severity).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde_json::Value;

/// How serious a fault is, ordered by severity exactly as compat §7's
/// "worst level wins" list: `Normal` is the least, `ManuallySeparateNPU` the
/// worst, so `max()` over levels is the grading rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultLevel {
    Normal,
    NotHandleFault,
    SubHealth,
    RestartRequest,
    RestartBusiness,
    FreeRestartNPU,
    RestartNPU,
    PreSeparateNPU,
    SeparateNPU,
    ManuallySeparateNPU,
}

impl FaultLevel {
    /// Every level, least severe first.
    pub const ALL: [FaultLevel; 10] = [
        FaultLevel::Normal,
        FaultLevel::NotHandleFault,
        FaultLevel::SubHealth,
        FaultLevel::RestartRequest,
        FaultLevel::RestartBusiness,
        FaultLevel::FreeRestartNPU,
        FaultLevel::RestartNPU,
        FaultLevel::PreSeparateNPU,
        FaultLevel::SeparateNPU,
        FaultLevel::ManuallySeparateNPU,
    ];

    /// The string the Go plugin writes for this level (in the device-info
    /// `Fault` JSON and elsewhere). Note upstream's spellings for the two
    /// mildest levels: `NormalNPU` and `SubHealthFault`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FaultLevel::Normal => "NormalNPU",
            FaultLevel::NotHandleFault => "NotHandleFault",
            FaultLevel::SubHealth => "SubHealthFault",
            FaultLevel::RestartRequest => "RestartRequest",
            FaultLevel::RestartBusiness => "RestartBusiness",
            FaultLevel::FreeRestartNPU => "FreeRestartNPU",
            FaultLevel::RestartNPU => "RestartNPU",
            FaultLevel::PreSeparateNPU => "PreSeparateNPU",
            FaultLevel::SeparateNPU => "SeparateNPU",
            FaultLevel::ManuallySeparateNPU => "ManuallySeparateNPU",
        }
    }

    /// Parses an upstream level string (the inverse of [`FaultLevel::as_str`]).
    pub fn from_upstream(s: &str) -> Option<FaultLevel> {
        FaultLevel::ALL
            .into_iter()
            .find(|level| level.as_str() == s)
    }

    /// Healthy = Normal, NotHandleFault, SubHealth; everything else makes the
    /// chip Unhealthy (compat §7).
    pub const fn is_healthy(self) -> bool {
        matches!(
            self,
            FaultLevel::Normal | FaultLevel::NotHandleFault | FaultLevel::SubHealth
        )
    }
}

impl fmt::Display for FaultLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A 32-bit DCMI fault (event) id. Displayed as upper-case hex without `0x`,
/// zero-padded to 8 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaultCode(pub u32);

/// RoCE link down: a network fault, kept out of the chip's own level and
/// counted only after `linkdownTimeout`.
pub const LINK_DOWN: FaultCode = FaultCode(0x8107_8603);
/// UBoE port down (NEW, A5): upstream's other 32-bit network fault code.
pub const UBOE_PORT_DOWN: FaultCode = FaultCode(0x8107_8607);
/// Synthetic code for a dropped card (`dcmi_get_device_health` returned -8012).
pub const CARD_DROPPED: FaultCode = FaultCode(0x40F8_4E00);

/// Network (parameter-plane) faults are graded apart from the chip: they feed
/// `NetworkUnhealthy`, never the chip's own health. Upstream's set also holds
/// two UBoE codes wider than 32 bits, which DCMI cannot report.
pub const fn is_network(code: FaultCode) -> bool {
    code.0 == LINK_DOWN.0 || code.0 == UBOE_PORT_DOWN.0
}

/// Why a fault-code string is not a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultCodeError {
    #[error("empty fault code")]
    Empty,
    #[error("fault code {0:?} is not plain hex (no 0x prefix, digits 0-9 A-F only)")]
    NotHex(String),
    #[error("fault code {0:?} is longer than 16 hex digits")]
    TooLong(String),
    #[error("fault code {0:?} does not fit in 32 bits")]
    TooWide(String),
}

impl FaultCode {
    /// Parses upper- or lower-case hex without `0x`. Leading zeros are
    /// accepted (as Go's `ParseInt` does), so `020001002` is `20001002`; the
    /// value must fit in 32 bits (at most 8 significant digits). A string of
    /// up to 16 digits whose value is wider is `TooWide`, so a table loader
    /// can skip it with a warning rather than reject the whole table.
    pub fn parse(s: &str) -> Result<FaultCode, FaultCodeError> {
        if s.is_empty() {
            return Err(FaultCodeError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FaultCodeError::NotHex(clip(s)));
        }
        if s.len() > 16 {
            return Err(FaultCodeError::TooLong(clip(s)));
        }
        let wide = u64::from_str_radix(s, 16).map_err(|_| FaultCodeError::NotHex(clip(s)))?;
        u32::try_from(wide)
            .map(FaultCode)
            .map_err(|_| FaultCodeError::TooWide(s.to_owned()))
    }

    /// Upper-case hex without padding: the form the Go plugin writes into the
    /// device-info `Fault` JSON (`strings.ToUpper(strconv.FormatInt(c, 16))`).
    pub fn go_hex(self) -> String {
        format!("{:X}", self.0)
    }
}

impl FromStr for FaultCode {
    type Err = FaultCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultCode::parse(s)
    }
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

/// Keys of the `faultCode.json` format and the level each one assigns. The
/// four `*NetworkCodes` keys exist in upstream's loader too; their codes are
/// graded like any other (the network/chip split is made by [`is_network`]).
const TABLE_KEYS: [(&str, FaultLevel); 12] = [
    ("NotHandleFaultCodes", FaultLevel::NotHandleFault),
    ("SubHealthFaultCodes", FaultLevel::SubHealth),
    ("RestartRequestCodes", FaultLevel::RestartRequest),
    ("RestartBusinessCodes", FaultLevel::RestartBusiness),
    ("FreeRestartNPUCodes", FaultLevel::FreeRestartNPU),
    ("RestartNPUCodes", FaultLevel::RestartNPU),
    ("PreSeparateNPUCodes", FaultLevel::PreSeparateNPU),
    ("SeparateNPUCodes", FaultLevel::SeparateNPU),
    ("NotHandleFaultNetworkCodes", FaultLevel::NotHandleFault),
    ("SubHealthFaultNetworkCodes", FaultLevel::SubHealth),
    ("PreSeparateNPUNetworkCodes", FaultLevel::PreSeparateNPU),
    ("SeparateNPUNetworkCodes", FaultLevel::SeparateNPU),
];

/// Why a fault-code table was rejected. The caller keeps its last good table.
#[derive(Debug, thiserror::Error)]
pub enum FaultTableError {
    #[error("fault-code table is {len} bytes, over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("fault-code table is not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("fault-code table must be a JSON object of code lists")]
    NotAnObject,
    #[error("fault-code table key {key:?} must be a list of hex strings, found {found}")]
    NotAList { key: String, found: &'static str },
    #[error("fault-code table key {key:?} item {index} must be a hex string, found {found}")]
    NotAString {
        key: String,
        index: usize,
        found: &'static str,
    },
    #[error("fault-code table key {key:?}: {reason}")]
    BadCode { key: String, reason: FaultCodeError },
    #[error("fault-code table lists no codes at all")]
    NoCodes,
}

/// Map from fault code to level, in the `faultCode.json` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultTable {
    levels: BTreeMap<FaultCode, FaultLevel>,
}

impl FaultTable {
    /// Parses a table in the `faultCode.json` format. Rejected: input over
    /// `max_len` bytes, non-JSON, a non-object, a known key that is not a
    /// list of strings (`null` counts as empty, as in Go), a code that is not
    /// hex, and a table with no codes at all (which would grade every fault
    /// as unknown). Returned as warnings: unknown keys (ignored), codes wider
    /// than 32 bits (skipped: DCMI event ids are 32-bit, those are upstream's
    /// synthetic A5 UB/UBoE codes), and codes listed under two levels (the
    /// worse level is kept).
    pub fn parse(
        bytes: &[u8],
        max_len: usize,
    ) -> Result<(FaultTable, Vec<String>), FaultTableError> {
        if bytes.len() > max_len {
            return Err(FaultTableError::TooLarge {
                len: bytes.len(),
                max: max_len,
            });
        }
        let root: Value = serde_json::from_slice(bytes).map_err(FaultTableError::NotJson)?;
        let Value::Object(entries) = root else {
            return Err(FaultTableError::NotAnObject);
        };
        let mut warnings = Vec::new();
        let mut levels: BTreeMap<FaultCode, (FaultLevel, &str)> = BTreeMap::new();
        for (key, value) in &entries {
            let Some(&(_, level)) = TABLE_KEYS.iter().find(|(name, _)| name == key) else {
                warnings.push(format!(
                    "ignoring unknown fault-code table key {:?}",
                    clip(key)
                ));
                continue;
            };
            let items = match value {
                Value::Null => continue,
                Value::Array(items) => items,
                other => {
                    return Err(FaultTableError::NotAList {
                        key: key.clone(),
                        found: json_kind(other),
                    });
                }
            };
            for (index, item) in items.iter().enumerate() {
                let Value::String(text) = item else {
                    return Err(FaultTableError::NotAString {
                        key: key.clone(),
                        index,
                        found: json_kind(item),
                    });
                };
                let code = match FaultCode::parse(text) {
                    Ok(code) => code,
                    Err(FaultCodeError::TooWide(wide)) => {
                        warnings.push(format!("skipping {key} code {wide}: wider than 32 bits"));
                        continue;
                    }
                    Err(reason) => {
                        return Err(FaultTableError::BadCode {
                            key: key.clone(),
                            reason,
                        });
                    }
                };
                match levels.get(&code) {
                    Some(&(old, old_key)) if old_key != key.as_str() => {
                        let kept = old.max(level);
                        warnings.push(format!(
                            "code {code} is listed under {old_key} and {key}; using {kept}"
                        ));
                        let kept_key = if kept == old { old_key } else { key.as_str() };
                        levels.insert(code, (kept, kept_key));
                    }
                    Some(_) => {}
                    None => {
                        levels.insert(code, (level, key.as_str()));
                    }
                }
            }
        }
        if levels.is_empty() {
            return Err(FaultTableError::NoCodes);
        }
        let levels = levels.into_iter().map(|(c, (l, _))| (c, l)).collect();
        Ok((FaultTable { levels }, warnings))
    }

    /// The default table: the `faultCode.json` shipped with the Go plugin
    /// (`faults/faultCode.json`, its source named in NOTICE), so every code
    /// is graded as upstream grades it until an operator supplies another
    /// table with `--fault-code-file` or ConfigMap
    /// `kube-system/mindx-dl-fault-config` (key `faultCode.json`). Its three
    /// codes wider than 32 bits are skipped, as [`FaultTable::parse`] does.
    pub fn builtin() -> FaultTable {
        SHIPPED.clone()
    }

    /// The level the table gives `code`, if it lists it.
    pub fn get(&self, code: FaultCode) -> Option<FaultLevel> {
        self.levels.get(&code).copied()
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Every listed code with its level, in code order.
    pub fn iter(&self) -> impl Iterator<Item = (FaultCode, FaultLevel)> + '_ {
        self.levels.iter().map(|(&c, &l)| (c, l))
    }

    /// The level of one code. Unknown code: SeparateNPU, unless the last fault
    /// event for it had severity <= 1 (0 hint, 1 minor), then NotHandleFault.
    pub fn level(&self, code: FaultCode, last_event_severity: Option<u8>) -> FaultLevel {
        match (self.get(code), last_event_severity) {
            (Some(level), _) => level,
            (None, Some(severity)) if severity <= 1 => FaultLevel::NotHandleFault,
            (None, _) => FaultLevel::SeparateNPU,
        }
    }

    /// Worst level over all codes (Normal for none). Grades every code given;
    /// use [`FaultTable::chip_level`] to leave network codes out.
    pub fn worst(&self, codes: impl IntoIterator<Item = (FaultCode, Option<u8>)>) -> FaultLevel {
        codes
            .into_iter()
            .map(|(code, severity)| self.level(code, severity))
            .max()
            .unwrap_or(FaultLevel::Normal)
    }

    /// The chip's own level: worst over the codes that are not network faults.
    pub fn chip_level(
        &self,
        codes: impl IntoIterator<Item = (FaultCode, Option<u8>)>,
    ) -> FaultLevel {
        self.worst(codes.into_iter().filter(|(code, _)| !is_network(*code)))
    }

    /// The network level: worst over the network codes only. As upstream does
    /// for network faults, a network code missing from the table counts as
    /// PreSeparateNPU.
    pub fn network_level(&self, codes: impl IntoIterator<Item = FaultCode>) -> FaultLevel {
        codes
            .into_iter()
            .filter(|code| is_network(*code))
            .map(|code| self.get(code).unwrap_or(FaultLevel::PreSeparateNPU))
            .max()
            .unwrap_or(FaultLevel::Normal)
    }
}

/// Upstream's shipped `faultCode.json`, built into the binary.
/// Largest fault-code or fault-rules file accepted, from a file or a
/// ConfigMap (the real table is ~10 KB).
pub const MAX_FAULT_TABLE: usize = 1 << 20;

pub const SHIPPED_FAULT_CODES: &[u8] = include_bytes!("faults/faultCode.json");

/// [`SHIPPED_FAULT_CODES`], parsed once. The bytes are fixed at build time
/// and `the_builtin_table_is_the_shipped_upstream_table` parses them, so
/// the parse cannot fail in a binary whose tests passed.
static SHIPPED: LazyLock<FaultTable> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    FaultTable::parse(SHIPPED_FAULT_CODES, usize::MAX)
        .map(|(table, _)| table)
        .expect("the built-in faultCode.json parses (see the unit test)")
});

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Bounds a user-supplied string quoted in an error or warning.
fn clip(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests;
