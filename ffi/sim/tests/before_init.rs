//! Calls before `dcmi_init` fail (alone in its binary: no init may precede it).

#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use common::*;
use dcmi_abi::*;

#[test]
fn every_call_before_init_returns_inner_error() {
    assert_eq!(card_list(64).0, DCMI_ERR_CODE_INNER_ERR);
    assert_eq!(device_num(0).0, DCMI_ERR_CODE_INNER_ERR);
    assert_eq!(health(0, 0).0, DCMI_ERR_CODE_INNER_ERR);
    assert_eq!(
        subscribe(-1, -1, DcmiEventFilter::default()),
        DCMI_ERR_CODE_INNER_ERR
    );
    assert_eq!(
        card_list(0).0,
        DCMI_ERR_CODE_INVALID_PARAMETER,
        "argument checks come first"
    );
    let session = Session::start("910-8");
    assert_eq!(session.init(), DCMI_OK);
    assert_eq!(device_num(0), (DCMI_OK, 1));
}
