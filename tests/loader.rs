//! The loader refuses libraries that someone other than root (or us) could
//! have written, naming the path and the rule; a safe copy loads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use ascend_device_plugin::dcmi::loader::{LoadError, OwnerPolicy, check, locate};

fn root_policy() -> OwnerPolicy {
    OwnerPolicy::current()
}

fn installed(dir: &Path) -> PathBuf {
    let lib = dir.join("lib64").join("libdcmi.so");
    std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
    std::fs::set_permissions(
        lib.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::copy(support::sim_lib(), &lib).unwrap();
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).unwrap();
    lib
}

fn rule(result: Result<PathBuf, LoadError>) -> String {
    match result {
        Err(LoadError::Insecure { path, rule }) => format!("{}: {rule}", path.display()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_root_owned_unwritable_copy_passes() {
    let dir = support::private_dir();
    let lib = installed(dir.path());
    assert_eq!(
        check(&lib, root_policy()).unwrap(),
        std::fs::canonicalize(&lib).unwrap()
    );
}

#[test]
fn a_group_or_world_writable_library_is_refused() {
    for mode in [0o775, 0o757] {
        let dir = support::private_dir();
        let lib = installed(dir.path());
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(mode)).unwrap();
        let message = rule(check(&lib, root_policy()));
        assert!(message.contains("libdcmi.so"), "{message}");
        assert!(message.contains("group- or world-writable"), "{message}");
    }
}

#[test]
fn a_writable_parent_directory_is_refused_naming_the_directory() {
    let dir = support::private_dir();
    let lib = installed(dir.path());
    std::fs::set_permissions(
        lib.parent().unwrap(),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let message = rule(check(&lib, root_policy()));
    assert!(message.contains("lib64: parent directory"), "{message}");
}

#[test]
fn setuid_and_setgid_libraries_are_refused() {
    for mode in [0o4755, 0o2755] {
        let dir = support::private_dir();
        let lib = installed(dir.path());
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(mode)).unwrap();
        assert!(rule(check(&lib, root_policy())).contains("setuid or setgid"));
    }
}

#[test]
fn a_library_owned_by_another_user_is_refused() {
    let dir = support::private_dir();
    let lib = installed(dir.path());
    // Root is always trusted, so a root-owned copy is handed to another
    // user first (we are root then); otherwise the copy is ours and the
    // loader is told it runs as someone else.
    if std::fs::metadata(&lib).unwrap().uid() == 0 {
        std::os::unix::fs::chown(&lib, Some(12345), None).unwrap();
    }
    let owner = std::fs::metadata(&lib).unwrap().uid();
    let policy = OwnerPolicy {
        process_uid: owner ^ 0x4000,
    };
    let message = rule(check(&lib, policy));
    assert!(message.contains("libdcmi.so"), "{message}");
    assert!(
        message.contains(&format!("owned by uid {owner}")),
        "{message}"
    );
    // The same file passes for its owner.
    let owner_policy = OwnerPolicy { process_uid: owner };
    assert!(check(&lib, owner_policy).is_ok());
}

#[test]
fn a_symlink_is_judged_by_its_target() {
    let dir = support::private_dir();
    let lib = installed(dir.path());
    let link = dir.path().join("libdcmi-link.so");
    symlink(&lib, &link).unwrap();
    assert_eq!(
        check(&link, root_policy()).unwrap(),
        std::fs::canonicalize(&lib).unwrap()
    );
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(rule(check(&link, root_policy())).contains("lib64/libdcmi.so"));
}

#[test]
fn a_directory_is_not_a_library() {
    let dir = support::private_dir();
    let fake = dir.path().join("libdcmi.so");
    std::fs::create_dir(&fake).unwrap();
    assert!(rule(check(&fake, root_policy())).contains("not a regular file"));
}

#[test]
fn ld_library_path_is_searched_before_the_driver_folders() {
    let dir = support::private_dir();
    let lib = installed(dir.path());
    let search = format!("/nonexistent:{}", lib.parent().unwrap().display());
    assert_eq!(
        locate(None, Some(&search), root_policy()).unwrap(),
        std::fs::canonicalize(&lib).unwrap()
    );
}

#[test]
fn a_missing_explicit_library_names_the_path() {
    let error = locate(
        Some(Path::new("/nonexistent/libdcmi.so")),
        None,
        root_policy(),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/libdcmi.so"),
        "{error}"
    );
}

#[test]
fn the_plugin_refuses_to_start_on_an_unsafe_library() {
    let dir = support::private_dir();
    let lib = installed(dir.path());
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o666)).unwrap();
    let output = std::process::Command::new(support::plugin_bin())
        .arg("inspect")
        .arg(format!("--dcmi-lib={}", lib.display()))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "refusing {}",
            std::fs::canonicalize(&lib).unwrap().display()
        )),
        "{stderr}"
    );
}
