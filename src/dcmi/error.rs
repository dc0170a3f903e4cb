//! Errors of the DCMI binding: which call, which code, which rule.

use std::path::PathBuf;
use std::time::Duration;

use super::loader::LoadError;

/// Return code of a dead card (`DCMI_ERR_CODE_NOT_REDAY`): a fault, not a crash.
pub const NOT_READY: i32 = -8012;
/// Return code of a function the driver does not support.
pub const NOT_SUPPORTED: i32 = -8255;

/// A failed DCMI operation.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DcmiError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("cannot open {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path} does not export the required symbol {symbol}")]
    MissingSymbol { path: PathBuf, symbol: &'static str },
    #[error("{function} failed: {}", code_label(*.code))]
    Call { function: &'static str, code: i32 },
    #[error("{v1}, and the v2 API's dcmiv2_init failed too: {}", code_label(*.v2_code))]
    Init { v1: Box<DcmiError>, v2_code: i32 },
    #[error("{function} returned invalid data: {detail}")]
    Invalid {
        function: &'static str,
        detail: String,
    },
    #[error("{function} did not return within {timeout:?}")]
    Timeout {
        function: &'static str,
        timeout: Duration,
    },
    #[error("{function} is not exported by this driver")]
    Unsupported { function: &'static str },
    #[error(
        "{function} not called: {stuck} earlier driver calls hung past their timeout and still hold their threads (limit {limit})"
    )]
    Stuck {
        function: &'static str,
        stuck: usize,
        limit: usize,
    },
    #[error("the DCMI worker for {function} stopped: {reason}")]
    Worker {
        function: &'static str,
        reason: String,
    },
}

impl DcmiError {
    /// The card behind this call has dropped off the bus (-8012).
    pub fn is_card_dropped(&self) -> bool {
        matches!(self, DcmiError::Call { code, .. } if *code == NOT_READY)
    }

    /// The driver does not implement the call (-8255 or symbol missing).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, DcmiError::Unsupported { .. })
            || matches!(self, DcmiError::Call { code, .. } if *code == NOT_SUPPORTED)
    }

    pub(crate) fn invalid(function: &'static str, detail: impl Into<String>) -> Self {
        DcmiError::Invalid {
            function,
            detail: detail.into(),
        }
    }
}

/// `DCMI_ERR_CODE_NOT_REDAY (-8012)`, or the bare number for unknown codes.
pub fn code_label(code: i32) -> String {
    match dcmi_abi::return_code_name(code) {
        Some(name) => format!("{name} ({code})"),
        None => format!("unknown code ({code})"),
    }
}

/// Turns a return code into a result.
pub fn check(function: &'static str, code: i32) -> Result<(), DcmiError> {
    if code == 0 {
        Ok(())
    } else {
        Err(DcmiError::Call { function, code })
    }
}
