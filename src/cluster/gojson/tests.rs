#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn string(s: &str) -> String {
    let mut out = String::new();
    write_string(&mut out, s);
    out
}

#[test]
fn the_volcano_check_code_vector_reproduces_byte_for_byte() {
    // ../shared/data/checkcode-vector.json; the hash is the one Volcano's own
    // test fixture carries.
    let serialised = r#"{"DeviceList":{"huawei.com/Ascend910":"Ascend910-0,Ascend910-1,Ascend910-2,Ascend910-3,Ascend910-4,Ascend910-5,Ascend910-6,Ascend910-7","huawei.com/Ascend910-NetworkUnhealthy":"","huawei.com/Ascend910-Unhealthy":""},"UpdateTime":1657527526}"#;
    let check_code = "6b8de396fd9945be231d24720ca66ed950baf0a5972717f335aad7571cb6457a";

    let mut list = BTreeMap::new();
    // Inserted out of order on purpose: the map sorts.
    list.insert("huawei.com/Ascend910-Unhealthy".to_owned(), String::new());
    list.insert(
        "huawei.com/Ascend910".to_owned(),
        (0..8)
            .map(|i| format!("Ascend910-{i}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    list.insert(
        "huawei.com/Ascend910-NetworkUnhealthy".to_owned(),
        String::new(),
    );
    let info = GoObject::new()
        .field("DeviceList", &list)
        .field("UpdateTime", 1_657_527_526_i64);
    let json = to_go_json(&info.into());
    assert_eq!(json, serialised);
    assert_eq!(hex::encode(Sha256::digest(json.as_bytes())), check_code);
}

#[test]
fn html_characters_are_escaped_as_go_does() {
    assert_eq!(
        string("<a href=\"x\">&</a>"),
        r#""\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e""#
    );
}

#[test]
fn line_and_paragraph_separators_are_escaped() {
    assert_eq!(string("a\u{2028}b\u{2029}c"), r#""a\u2028b\u2029c""#);
}

#[test]
fn control_characters_use_short_escapes_where_go_1_22_does_and_lower_hex_otherwise() {
    assert_eq!(
        string("\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1b}\u{1f}"),
        r#""\u0000\u0001\b\t\n\u000b\f\r\u001b\u001f""#
    );
}

#[test]
fn every_ascii_character_and_some_non_ascii_match_go_1_26_output() {
    // Produced by `json.Marshal` of the string of runes 0..=0x7f followed by
    // "\u2028\u2029é日😀" under Go 1.26.
    let input: String = (0u8..0x80).map(char::from).collect::<String>() + "\u{2028}\u{2029}é日😀";
    let go = concat!(
        r#""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f"#,
        r#"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f"#,
        r##" !\"#$%\u0026'()*+,-./0123456789:;\u003c=\u003e?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"##,
        "abcdefghijklmnopqrstuvwxyz{|}~\u{7f}",
        r#"\u2028\u2029é日😀""#
    );
    assert_eq!(string(&input), go);
}

#[test]
fn map_keys_sort_byte_wise_on_utf8_including_non_ascii() {
    // Go 1.26: json.Marshal(map[string]int{...}) of these keys.
    let go = r#"{"":9,"Z":4,"a":2,"a\u0000":10,"aa":5,"b":1,"~":6,"é":3,"éx":7,"日本":8}"#;
    let keys = [
        ("b", 1),
        ("a", 2),
        ("é", 3),
        ("Z", 4),
        ("aa", 5),
        ("~", 6),
        ("éx", 7),
        ("日本", 8),
        ("", 9),
        ("a\u{0}", 10),
    ];
    let map: BTreeMap<String, GoValue> = keys
        .iter()
        .map(|&(k, v)| (k.to_owned(), GoValue::Int(v)))
        .collect();
    assert_eq!(to_go_json(&GoValue::Map(map)), go);
}

#[test]
fn struct_fields_keep_their_declared_order() {
    let obj = GoObject::new()
        .field("pod_name", "job-0")
        .field("server_id", "uid")
        .field("devices", GoValue::Array(vec![]))
        .field("rack_id", 0_i64);
    assert_eq!(
        to_go_json(&obj.into()),
        r#"{"pod_name":"job-0","server_id":"uid","devices":[],"rack_id":0}"#
    );
}

#[test]
fn scalars_print_as_go_prints_them() {
    let arr = GoValue::Array(vec![
        GoValue::Null,
        true.into(),
        false.into(),
        i64::MIN.into(),
        (-1_i32).into(),
        u64::MAX.into(),
        GoValue::Map(BTreeMap::new()),
        GoObject::new().into(),
    ]);
    assert_eq!(
        to_go_json(&arr),
        "[null,true,false,-9223372036854775808,-1,18446744073709551615,{},{}]"
    );
}

#[test]
fn serde_values_convert_with_sorted_objects_and_reject_fractions() {
    let v: Value =
        serde_json::from_str(r#"{"b":[1,-2,18446744073709551615],"a":{"y":null,"x":"&"}}"#)
            .unwrap();
    let go = GoValue::try_from(&v).unwrap();
    assert_eq!(
        to_go_json(&go),
        r#"{"a":{"x":"\u0026","y":null},"b":[1,-2,18446744073709551615]}"#
    );
    let fraction: Value = serde_json::from_str("[1.5]").unwrap();
    assert_eq!(
        GoValue::try_from(&fraction),
        Err(GoJsonError::NotAnInteger("1.5".to_owned()))
    );
}

fn any_go_value() -> impl Strategy<Value = GoValue> {
    let leaf = prop_oneof![
        Just(GoValue::Null),
        any::<bool>().prop_map(GoValue::Bool),
        any::<i64>().prop_map(GoValue::Int),
        any::<u64>().prop_map(GoValue::Uint),
        any::<String>().prop_map(GoValue::String),
        "[<>&\"\\\\\u{0}-\u{1f}\u{2028}\u{2029}a-zé]{0,8}".prop_map(GoValue::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(GoValue::Array),
            prop::collection::btree_map(any::<String>(), inner.clone(), 0..6)
                .prop_map(GoValue::Map),
            // Unique keys, declared in reverse of sorted order.
            prop::collection::btree_map("[a-z<&\u{2028}]{0,4}", inner, 0..6).prop_map(|m| {
                let mut obj = GoObject::new();
                for (k, v) in m.into_iter().rev() {
                    obj.push(k, v);
                }
                GoValue::Object(obj)
            }),
        ]
    })
}

proptest! {
    #[test]
    fn output_parses_back_with_serde_json_to_the_same_value(value in any_go_value()) {
        let json = to_go_json(&value);
        let parsed: Value = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(parsed, value.to_serde());
    }

    #[test]
    fn output_never_holds_raw_html_or_control_characters(value in any_go_value()) {
        let json = to_go_json(&value);
        let forbidden = |c: char| c < ' ' || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
        prop_assert!(!json.chars().any(forbidden), "{}", json);
    }
}
