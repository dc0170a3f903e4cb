//! `faultCustomization.json` (recovery spec §2.2): the FaultFrequency and
//! FaultDuration rules that raise a chip's level above its table level, and
//! the GraceTolerance values upstream validates but no longer uses. Parsing
//! only; the state machines that apply the rules live in `device/upgrade.rs`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::faults::{FaultCode, FaultLevel};

/// The GraceTolerance values: checked as upstream checks them, used by
/// nothing (only the removed online reset read them), so a non-default value
/// earns a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraceTolerance {
    pub wait_process_read_cm_s: u64,
    pub wait_device_reset_s: u64,
    pub wait_fault_self_healing_s: u64,
}

impl Default for GraceTolerance {
    fn default() -> Self {
        Self {
            wait_process_read_cm_s: 30,
            wait_device_reset_s: 150,
            wait_fault_self_healing_s: 15,
        }
    }
}

/// "Count `times` occurrences of one of these codes within `window_ms` and
/// the chip is graded `level` until `release_ms` after its last recovery".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequencyRule {
    pub window_ms: u64,
    pub times: u32,
    pub level: FaultLevel,
    /// `None`: never released by time (only an operator releases it).
    pub release_ms: Option<u64>,
}

/// "A fault lasting over `fault_timeout_ms` grades the chip `level` until it
/// has been gone for over `recover_timeout_ms`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationRule {
    pub fault_timeout_ms: u64,
    pub recover_timeout_ms: u64,
    pub level: FaultLevel,
}

/// The parsed file: one rule per code (the first entry naming a code wins).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Customization {
    pub grace: GraceTolerance,
    pub frequency: BTreeMap<FaultCode, FrequencyRule>,
    pub duration: BTreeMap<FaultCode, DurationRule>,
}

/// Why a whole file was refused (the caller keeps the configuration in force).
#[derive(Debug, thiserror::Error)]
pub enum CustomizationError {
    #[error("faultCustomization.json is {len} bytes, over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("faultCustomization.json is not JSON")]
    NotJson(#[source] serde_json::Error),
    #[error("faultCustomization.json must be a JSON object")]
    NotAnObject,
    #[error("faultCustomization.json {field} must be {expected}, found {found}")]
    WrongType {
        field: String,
        expected: &'static str,
        found: &'static str,
    },
}

/// Upper bound of `ReleaseTimeWindow` (seconds), upstream's "never" value.
pub const RELEASE_MAX_S: u64 = 1 << 32;

/// The file shipped with upstream's plugin (and ours, built in).
pub const SHIPPED_CUSTOMIZATION: &[u8] = include_bytes!("customization/faultCustomization.json");

static SHIPPED: LazyLock<Customization> = LazyLock::new(|| {
    // The bytes are fixed at build time and a unit test parses them.
    #[allow(clippy::expect_used)]
    Customization::parse(SHIPPED_CUSTOMIZATION, usize::MAX)
        .map(|(c, _)| c)
        .expect("the built-in faultCustomization.json parses (see the unit test)")
});

impl Customization {
    /// Upstream's shipped rules.
    pub fn builtin() -> Customization {
        SHIPPED.clone()
    }

    /// Largest finite `ReleaseTimeWindow` of the frequency rules: how long an
    /// operator-listed chip's autofill reason lasts (`None`: forever).
    pub fn autofill_release_ms(&self) -> Option<u64> {
        self.frequency.values().filter_map(|r| r.release_ms).max()
    }

    /// Parses the file. A value of the wrong JSON type refuses the whole
    /// file; an entry with a value out of range is skipped with a warning
    /// naming it; a GraceTolerance value out of range falls back to its
    /// default with a warning, and one set to anything but its default is
    /// named in a warning because nothing uses it.
    pub fn parse(
        bytes: &[u8],
        max_len: usize,
    ) -> Result<(Customization, Vec<String>), CustomizationError> {
        if bytes.len() > max_len {
            return Err(CustomizationError::TooLarge {
                len: bytes.len(),
                max: max_len,
            });
        }
        let root: Value = serde_json::from_slice(bytes).map_err(CustomizationError::NotJson)?;
        let Value::Object(root) = root else {
            return Err(CustomizationError::NotAnObject);
        };
        let mut warnings = Vec::new();
        let mut out = Customization::default();
        if let Some(grace) = object_field(&root, "GraceTolerance", "GraceTolerance")? {
            out.grace = grace_tolerance(grace, &mut warnings)?;
        }
        for (index, entry) in array_field(&root, "FaultFrequency")?.iter().enumerate() {
            let field = format!("FaultFrequency[{index}]");
            let entry = as_object(entry, &field)?;
            let codes = event_ids(entry, &field, &mut warnings)?;
            match frequency_rule(entry, &field)? {
                Ok(rule) => insert_rule(&mut out.frequency, codes, &rule, &field, &mut warnings),
                Err(reason) => warnings.push(format!("skipping {field}: {reason}")),
            }
        }
        for (index, entry) in array_field(&root, "FaultDuration")?.iter().enumerate() {
            let field = format!("FaultDuration[{index}]");
            let entry = as_object(entry, &field)?;
            let codes = event_ids(entry, &field, &mut warnings)?;
            match duration_rule(entry, &field)? {
                Ok(rule) => insert_rule(&mut out.duration, codes, &rule, &field, &mut warnings),
                Err(reason) => warnings.push(format!("skipping {field}: {reason}")),
            }
        }
        Ok((out, warnings))
    }
}

fn insert_rule<R: Clone>(
    rules: &mut BTreeMap<FaultCode, R>,
    codes: Vec<FaultCode>,
    rule: &R,
    field: &str,
    warnings: &mut Vec<String>,
) {
    if codes.is_empty() {
        warnings.push(format!("skipping {field}: EventId lists no code"));
    }
    for code in codes {
        match rules.entry(code) {
            std::collections::btree_map::Entry::Occupied(_) => warnings.push(format!(
                "{field}: code {code} already has a rule from an earlier entry; skipped here"
            )),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(rule.clone());
            }
        }
    }
}

/// An entry's validated values, or why the entry is skipped.
type Entry<T> = Result<Result<T, String>, CustomizationError>;

fn frequency_rule(entry: &Map<String, Value>, field: &str) -> Entry<FrequencyRule> {
    let window = number(entry, field, "TimeWindow")?;
    let release = number(entry, field, "ReleaseTimeWindow")?;
    let times = number(entry, field, "Times")?;
    let handling = string(entry, field, "FaultHandling")?;
    Ok((|| {
        let window = in_range("TimeWindow", window, 60, 864_000)?;
        let release = match release {
            None | Some(0) => None,
            Some(_) => Some(in_range("ReleaseTimeWindow", release, 60, RELEASE_MAX_S)?),
        };
        let times = in_range("Times", times, 1, 100)?;
        let level = level(handling, &[FaultLevel::Normal])?;
        if release.is_none() && level != FaultLevel::ManuallySeparateNPU {
            return Err(format!(
                "ReleaseTimeWindow is required (60..{RELEASE_MAX_S} s) unless FaultHandling is ManuallySeparateNPU"
            ));
        }
        Ok(FrequencyRule {
            window_ms: window * 1000,
            times: u32::try_from(times).unwrap_or(u32::MAX),
            level,
            release_ms: release.map(|s| s * 1000),
        })
    })())
}

fn duration_rule(entry: &Map<String, Value>, field: &str) -> Entry<DurationRule> {
    let fault = number(entry, field, "FaultTimeout")?;
    let recover = number(entry, field, "RecoverTimeout")?;
    let handling = string(entry, field, "FaultHandling")?;
    Ok((|| {
        let fault = in_range("FaultTimeout", fault, 0, 600)?;
        let recover = in_range("RecoverTimeout", recover, 0, 86_400)?;
        let level = level(
            handling,
            &[FaultLevel::Normal, FaultLevel::ManuallySeparateNPU],
        )?;
        Ok(DurationRule {
            fault_timeout_ms: fault * 1000,
            recover_timeout_ms: recover * 1000,
            level,
        })
    })())
}

fn grace_tolerance(
    grace: &Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<GraceTolerance, CustomizationError> {
    let default = GraceTolerance::default();
    let mut pick = |key: &str, min: u64, max: u64, fallback: u64| {
        let value = number(grace, "GraceTolerance", key)?;
        Ok(match value {
            None => fallback,
            Some(v) if (min..=max).contains(&v) => {
                if v != fallback {
                    warnings.push(format!(
                        "GraceTolerance.{key} = {v} is accepted but has no effect (upstream's online reset that read it is gone)"
                    ));
                }
                v
            }
            Some(v) => {
                warnings.push(format!(
                    "GraceTolerance.{key} = {v} is outside {min}..{max}; using {fallback}"
                ));
                fallback
            }
        })
    };
    Ok(GraceTolerance {
        wait_process_read_cm_s: pick(
            "WaitProcessReadCMTime",
            5,
            90,
            default.wait_process_read_cm_s,
        )?,
        wait_device_reset_s: pick("WaitDeviceResetTime", 60, 180, default.wait_device_reset_s)?,
        wait_fault_self_healing_s: pick(
            "WaitFaultSelfHealingTime",
            1,
            30,
            default.wait_fault_self_healing_s,
        )?,
    })
}

fn in_range(name: &str, value: Option<u64>, min: u64, max: u64) -> Result<u64, String> {
    match value {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(format!("{name} = {v} is outside {min}..{max}")),
        None => Err(format!("{name} is missing ({min}..{max})")),
    }
}

fn level(name: Option<&str>, refused: &[FaultLevel]) -> Result<FaultLevel, String> {
    let name = name.ok_or("FaultHandling is missing")?;
    match FaultLevel::from_upstream(name) {
        Some(level) if !refused.contains(&level) => Ok(level),
        Some(level) => Err(format!("FaultHandling {level} is not allowed here")),
        None => Err(format!(
            "FaultHandling {:?} is not a fault level",
            clip(name)
        )),
    }
}

/// The entry's codes; unparsable ones are skipped with a warning.
fn event_ids(
    entry: &Map<String, Value>,
    field: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<FaultCode>, CustomizationError> {
    let mut codes = Vec::new();
    let ids = match entry.get("EventId") {
        None | Some(Value::Null) => return Ok(codes),
        Some(Value::Array(ids)) => ids,
        Some(other) => return Err(wrong(format!("{field}.EventId"), "a list", other)),
    };
    for (index, id) in ids.iter().enumerate() {
        let Value::String(text) = id else {
            return Err(wrong(format!("{field}.EventId[{index}]"), "a string", id));
        };
        match FaultCode::parse(&text.to_ascii_uppercase()) {
            Ok(code) => codes.push(code),
            Err(reason) => {
                warnings.push(format!("{field}: skipping code {:?}: {reason}", clip(text)))
            }
        }
    }
    Ok(codes)
}

fn object_field<'a>(
    root: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, CustomizationError> {
    match root.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => as_object(value, field).map(Some),
    }
}

fn as_object<'a>(
    value: &'a Value,
    field: &str,
) -> Result<&'a Map<String, Value>, CustomizationError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(wrong(field.to_owned(), "an object", other)),
    }
}

fn array_field<'a>(
    root: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a [Value], CustomizationError> {
    match root.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(wrong(key.to_owned(), "a list", other)),
    }
}

/// A non-negative integer field; `None` when absent. Negative or fractional
/// numbers count as out of range (`Some(u64::MAX)`), as a range check then
/// names them.
fn number(
    entry: &Map<String, Value>,
    field: &str,
    key: &str,
) -> Result<Option<u64>, CustomizationError> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(n.as_u64().unwrap_or(u64::MAX))),
        Some(other) => Err(wrong(format!("{field}.{key}"), "a number", other)),
    }
}

fn string<'a>(
    entry: &'a Map<String, Value>,
    field: &str,
    key: &str,
) -> Result<Option<&'a str>, CustomizationError> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong(format!("{field}.{key}"), "a string", other)),
    }
}

fn wrong(field: String, expected: &'static str, found: &Value) -> CustomizationError {
    CustomizationError::WrongType {
        field,
        expected,
        found: match found {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        },
    }
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests;
