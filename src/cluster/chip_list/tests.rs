#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;

const TYPE: &str = "Ascend910";

#[test]
fn malformed_chip_entries_are_rejected() {
    let bad_entries = [
        "Ascend910-2c-100-0",
        "Ascend910-",
        "Ascend910-01",
        "Ascend910-+1",
        "Ascend910- 1",
        " Ascend910-1",
        "Ascend910-1/..",
        "Ascend910-\u{0661}",
        "",
    ];
    for entry in bad_entries {
        let value = format!("Ascend910-0,{entry}");
        assert!(
            matches!(
                parse_chip_list(&value, TYPE),
                Err(AnnotationFault::BadEntry { .. })
            ),
            "{value:?}"
        );
    }
    assert_eq!(
        parse_chip_list("Ascend910-256", TYPE),
        Err(AnnotationFault::PhyOutOfRange {
            entry: "Ascend910-256".into()
        })
    );
    assert_eq!(
        parse_chip_list("Ascend910-1,Ascend910-1", TYPE),
        Err(AnnotationFault::Duplicate {
            entry: "Ascend910-1".into()
        })
    );
    assert_eq!(parse_chip_list("", TYPE), Err(AnnotationFault::Empty));
    assert_eq!(
        parse_chip_list("Ascend910-0,Ascend910-255", TYPE),
        Ok(vec![0, 255])
    );
}

#[test]
fn long_hostile_values_are_quoted_cut_short() {
    let entry = format!("Ascend910-{}", "x".repeat(500));
    let Err(AnnotationFault::BadEntry { entry: quoted, .. }) = parse_chip_list(&entry, TYPE) else {
        panic!("expected BadEntry");
    };
    assert_eq!(quoted.chars().count(), 65);
    assert!(quoted.ends_with('…'));
}

proptest! {
    #[test]
    fn parse_chip_list_never_panics_and_returns_only_in_range_unique_phys(value in "\\PC{0,200}") {
        if let Ok(phys) = parse_chip_list(&value, TYPE) {
            let unique: BTreeSet<u32> = phys.iter().copied().collect();
            prop_assert_eq!(unique.len(), phys.len());
            prop_assert!(phys.iter().all(|&p| p <= MAX_PHY_ID));
        }
    }
}
