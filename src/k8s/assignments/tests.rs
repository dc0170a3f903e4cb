#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn recorded_ids_report_their_real_chip() {
    let mut map = Assignments::default();
    map.record(
        "Ascend910",
        &ids(&["Ascend910-0", "Ascend910-1"]),
        &[4, 5],
        "ml/job",
        "u1",
        100,
    );
    assert_eq!(map.real_phy("Ascend910", "Ascend910-0"), Some(4));
    assert_eq!(map.real_phy("Ascend910", "Ascend910-1"), Some(5));
    assert_eq!(map.real_phy("Ascend910", "Ascend910-2"), None);
    assert_eq!(map.real_phy("Ascend310P", "Ascend910-0"), None);
}

#[test]
fn ids_kubelet_no_longer_lists_are_forgotten_after_the_grace_period() {
    let mut map = Assignments::default();
    map.record(
        "Ascend910",
        &ids(&["Ascend910-0"]),
        &[4],
        "ml/old",
        "u1",
        100,
    );
    map.record(
        "Ascend910",
        &ids(&["Ascend910-1"]),
        &[5],
        "ml/young",
        "u2",
        190,
    );
    let live = BTreeMap::new();
    assert!(map.retain_allocated(&live, 200, 60));
    assert_eq!(
        map.real_phy("Ascend910", "Ascend910-0"),
        None,
        "old and unlisted"
    );
    assert_eq!(
        map.real_phy("Ascend910", "Ascend910-1"),
        Some(5),
        "young: kept"
    );
    let live = BTreeMap::from([(
        "Ascend910".to_owned(),
        BTreeMap::from([("Ascend910-1".to_owned(), "ml/young".to_owned())]),
    )]);
    assert!(!map.retain_allocated(&live, 1_000, 60), "listed: kept");
    // The same ID listed for another pod: the entry is stale.
    let other = BTreeMap::from([(
        "Ascend910".to_owned(),
        BTreeMap::from([("Ascend910-1".to_owned(), "ml/newer".to_owned())]),
    )]);
    assert!(map.retain_allocated(&other, 1_000, 60));
    assert_eq!(map.real_phy("Ascend910", "Ascend910-1"), None);
}

#[test]
fn the_map_survives_a_restart_through_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (store, problem) = AssignmentStore::open(&state);
    assert!(problem.is_none());
    let mut rx = store.subscribe();
    let changed = store
        .update(|m| m.record("Ascend910", &ids(&["Ascend910-0"]), &[6], "ml/a", "u", 1))
        .unwrap();
    assert!(changed);
    assert!(rx.has_changed().unwrap(), "published to ListAndWatch");
    assert_eq!(
        rx.borrow_and_update().real_phy("Ascend910", "Ascend910-0"),
        Some(6)
    );
    let file = state.join(FILE_NAME);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(
        !state.join("volcano-map.json.tmp").exists(),
        "no temp file left"
    );
    let unchanged = store.update(|_| {}).unwrap();
    assert!(!unchanged);

    let (reopened, problem) = AssignmentStore::open(&state);
    assert!(problem.is_none());
    assert_eq!(
        reopened.current().real_phy("Ascend910", "Ascend910-0"),
        Some(6)
    );
}

#[test]
fn a_damaged_file_is_reported_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[u8], &str); 3] = [
        (b"{not json", "volcano-map.json"),
        (br#"{"version":9,"resources":{}}"#, "format version 9"),
        (
            br#"{"version":1,"resources":{"Ascend910":{"x":{"real_phy":-1}}}}"#,
            "volcano-map.json",
        ),
    ];
    for (content, expected) in cases {
        std::fs::write(dir.path().join(FILE_NAME), content).unwrap();
        let (store, problem) = AssignmentStore::open(dir.path());
        let problem = problem.expect("reported");
        assert!(problem.contains(expected), "{problem}");
        assert_eq!(*store.current(), Assignments::default());
    }
}

#[test]
fn a_directory_in_place_of_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(FILE_NAME)).unwrap();
    let (_, problem) = AssignmentStore::open(dir.path());
    assert!(problem.unwrap().contains("not a regular file"));
}

fn private_state_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    (dir, state)
}

fn record_one(store: &AssignmentStore) -> Result<bool, StoreError> {
    store.update(|m| m.record("Ascend910", &ids(&["Ascend910-0"]), &[6], "ml/a", "u", 1))
}

#[test]
fn a_symlink_at_the_temp_name_is_never_written_through() {
    let (dir, state) = private_state_dir();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    std::os::unix::fs::symlink(&victim, state.join("volcano-map.json.tmp")).unwrap();
    let (store, problem) = AssignmentStore::open(&state);
    assert!(problem.is_none(), "{problem:?}");
    assert!(record_one(&store).unwrap());
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    let file = std::fs::symlink_metadata(state.join(FILE_NAME)).unwrap();
    assert!(file.is_file(), "the map is a file of its own");
    assert!(!state.join("volcano-map.json.tmp").exists());
}

#[test]
fn a_symlink_in_place_of_the_file_is_refused_when_read() {
    let (dir, state) = private_state_dir();
    let elsewhere = dir.path().join("elsewhere.json");
    std::fs::write(&elsewhere, br#"{"version":1,"resources":{}}"#).unwrap();
    std::os::unix::fs::symlink(&elsewhere, state.join(FILE_NAME)).unwrap();
    let (_, problem) = AssignmentStore::open(&state);
    assert!(problem.unwrap().contains("is a symlink"));
}

#[test]
fn an_unsafe_state_directory_is_refused_naming_it() {
    let owner = OwnerPolicy::current();
    // Writable by group or others.
    let (_dir, state) = private_state_dir();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (store, problem) = AssignmentStore::open_as(&state, owner);
    let problem = problem.unwrap();
    assert!(problem.contains(&state.display().to_string()), "{problem}");
    assert!(problem.contains("writable by group or others"), "{problem}");
    let error = record_one(&store).unwrap_err().to_string();
    assert!(error.contains("writable by group or others"), "{error}");
    assert!(!state.join(FILE_NAME).exists(), "nothing written");

    // A symlink to a directory.
    let (dir, real) = private_state_dir();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let (store, problem) = AssignmentStore::open_as(&link, owner);
    assert!(problem.unwrap().contains("it is a symlink"));
    assert!(
        record_one(&store)
            .unwrap_err()
            .to_string()
            .contains("it is a symlink")
    );
    assert!(!real.join(FILE_NAME).exists());

    // Owned by another user (the process is told it runs as someone else;
    // root stays trusted, so only a non-root owner can be refused).
    let (_dir, state) = private_state_dir();
    let uid = std::fs::metadata(&state).unwrap().uid();
    if uid != 0 {
        let other = OwnerPolicy {
            process_uid: uid ^ 0x4000,
        };
        let (store, problem) = AssignmentStore::open_as(&state, other);
        assert!(problem.unwrap().contains(&format!("owned by uid {uid}")));
        assert!(record_one(&store).is_err());
    } else {
        std::os::unix::fs::chown(&state, Some(12345), None).unwrap();
        let (store, problem) = AssignmentStore::open_as(&state, owner);
        assert!(problem.unwrap().contains("owned by uid 12345"));
        assert!(record_one(&store).is_err());
    }
    assert!(!state.join(FILE_NAME).exists());
}

#[test]
fn a_damaged_file_is_reported_without_quoting_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = format!(r#"{{"version":1,"resources":"{}"}}"#, "x".repeat(10_000));
    std::fs::write(dir.path().join(FILE_NAME), hostile).unwrap();
    let (_, problem) = AssignmentStore::open(dir.path());
    let problem = problem.expect("reported");
    assert!(problem.contains("not a kubelet-ID map"), "{problem}");
    assert!(
        !problem.contains("xxxx") && problem.len() < 300,
        "{problem}"
    );
}
