//! C strings and numbers from the driver, validated in safe code.
//!
//! Nothing the library returns is trusted: strings must be NUL-terminated
//! inside their array and valid UTF-8, counts and ids must be in range.

use super::error::DcmiError;

/// A NUL-terminated UTF-8 string inside a fixed array.
pub fn c_text(function: &'static str, field: &str, bytes: &[u8]) -> Result<String, DcmiError> {
    let Some(end) = bytes.iter().position(|&b| b == 0) else {
        return Err(DcmiError::invalid(
            function,
            format!(
                "{field} is not NUL-terminated within its {} bytes",
                bytes.len()
            ),
        ));
    };
    std::str::from_utf8(&bytes[..end])
        .map(str::to_string)
        .map_err(|_| DcmiError::invalid(function, format!("{field} is not valid UTF-8")))
}

/// `c_char` arrays (`i8` on x86_64) viewed as bytes.
pub fn c_chars_as_bytes(chars: &[core::ffi::c_char]) -> Vec<u8> {
    chars.iter().map(|&c| c.to_ne_bytes()[0]).collect()
}

/// A count the driver returned, checked against the allowed range and the
/// caller's buffer.
pub fn count(
    function: &'static str,
    field: &str,
    value: i64,
    low: i64,
    high: i64,
) -> Result<usize, DcmiError> {
    if (low..=high).contains(&value) {
        usize::try_from(value).map_err(|_| DcmiError::invalid(function, format!("{field} {value}")))
    } else {
        Err(DcmiError::invalid(
            function,
            format!("{field} {value} is outside {low}..{high}"),
        ))
    }
}

/// A chip id (logic or physical), 0..=255.
pub fn chip_id(function: &'static str, field: &str, value: i64) -> Result<u32, DcmiError> {
    count(function, field, value, 0, 255).map(|id| id as u32)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_string_without_nul_is_rejected_naming_the_field() {
        let error = c_text("dcmi_get_device_chip_info", "chip_name", b"910B3").unwrap_err();
        assert!(error.to_string().contains("chip_name"), "{error}");
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let error = c_text("f", "product_type", b"\xff\xfe\0").unwrap_err();
        assert!(error.to_string().contains("UTF-8"), "{error}");
    }

    #[test]
    fn text_stops_at_the_first_nul() {
        assert_eq!(c_text("f", "x", b"310P3\0garbage\0").unwrap(), "310P3");
    }

    #[test]
    fn counts_outside_the_range_are_rejected() {
        assert!(count("f", "card_num", -1, 0, 64).is_err());
        assert!(count("f", "card_num", 65, 0, 64).is_err());
        assert_eq!(count("f", "card_num", 64, 0, 64).unwrap(), 64);
        assert!(chip_id("f", "phy_id", 256).is_err());
    }

    proptest! {
        #[test]
        fn c_text_never_panics_and_only_accepts_terminated_utf8(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(text) = c_text("f", "x", &bytes) {
                prop_assert!(bytes.contains(&0));
                prop_assert!(!text.contains('\0'));
                prop_assert_eq!(text.as_bytes(), &bytes[..text.len()]);
            }
        }
    }
}
