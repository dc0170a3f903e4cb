#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;

use super::*;

const DIE: &str = "5A010003-00000001-00000001-000000B0-00000A3D";

fn request(phy: u32) -> SoftShareRequest {
    SoftShareRequest {
        phy,
        aicore: 50,
        hbm_mb: 16384,
        policy: 2,
    }
}

fn files(root: &Path) -> SoftShareFiles {
    SoftShareFiles::new(
        root.join("softshare"),
        root.join("enpu"),
        BTreeMap::from([(3, DIE.to_owned()), (4, "D4".to_owned())]),
    )
}

#[test]
fn die_ids_are_five_upper_case_hex_groups() {
    assert_eq!(
        die_id_name([0x5a01_0003, 1, 1, 0xb0, 0xa3d]),
        "5A010003-00000001-00000001-000000B0-00000A3D"
    );
}

#[test]
fn the_smallest_free_vid_is_taken() {
    assert_eq!(free_vid(&BTreeSet::new()), 0);
    assert_eq!(free_vid(&BTreeSet::from([0, 1, 3])), 2);
    assert_eq!(free_vid(&(0..100).collect()), 100);
}

#[test]
fn the_config_lists_every_key_the_runtime_reads() {
    assert_eq!(
        npu_info_config(&request(3), 7, DIE),
        format!(
            "physical-npu-id=3\nvirtual-npu-id=7\naicore-quota=50\nmemory-quota=16384\nshm-id={DIE}\nscheduling-policy=2\n"
        )
    );
}

#[test]
fn prepare_creates_the_shared_memory_file_and_the_pods_config_and_mounts_both() {
    let tmp = tempfile::tempdir().unwrap();
    let files = files(tmp.path());
    let mounts = files
        .prepare("team", "job-0", &request(3), |_, _| true)
        .unwrap();
    let shm = tmp.path().join("softshare/3").join(DIE);
    let config_dir = tmp.path().join("enpu/team.job-0/3_0");
    assert_eq!(
        mounts,
        vec![
            MountPoint {
                host_path: shm.display().to_string(),
                container_path: format!("/dev/shm/{DIE}"),
                read_only: false,
            },
            MountPoint {
                host_path: config_dir.display().to_string(),
                container_path: "/etc/enpu/vcann-rt/".into(),
                read_only: true,
            },
        ]
    );
    assert!(shm.is_file());
    let config = std::fs::read_to_string(config_dir.join(CONFIG_FILE)).unwrap();
    assert!(config.contains("virtual-npu-id=0\n"), "{config}");
    let mode = std::fs::metadata(config_dir.join(CONFIG_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
}

#[test]
fn a_second_pod_on_the_chip_gets_the_next_vid_and_the_shared_file_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let files = files(tmp.path());
    files
        .prepare("team", "a", &request(3), |_, _| true)
        .unwrap();
    let shm = tmp.path().join("softshare/3").join(DIE);
    std::fs::write(&shm, b"runtime state").unwrap();
    let mounts = files
        .prepare("team", "b", &request(3), |_, _| true)
        .unwrap();
    assert!(
        mounts[1].host_path.ends_with("enpu/team.b/3_1"),
        "{mounts:?}"
    );
    assert_eq!(std::fs::read(&shm).unwrap(), b"runtime state");
    // Another chip counts its own vids.
    let other = files
        .prepare("team", "c", &request(4), |_, _| true)
        .unwrap();
    assert!(other[1].host_path.ends_with("enpu/team.c/4_0"), "{other:?}");
}

#[test]
fn the_config_of_a_pod_that_is_gone_is_removed_and_its_vid_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let files = files(tmp.path());
    files
        .prepare("team", "a", &request(3), |_, _| true)
        .unwrap();
    files
        .prepare("team", "b", &request(3), |_, _| true)
        .unwrap();
    // Directories that are not ours are never removed: any other content,
    // or the Go plugin's (no mark), whose pods may still run.
    let foreign = tmp.path().join("enpu/team.notes");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("readme"), b"x").unwrap();
    let upstream = tmp.path().join("enpu/team.job/3_7");
    std::fs::create_dir_all(&upstream).unwrap();
    std::fs::write(upstream.join(CONFIG_FILE), b"virtual-npu-id=7\n").unwrap();
    let mounts = files
        .prepare("team", "c", &request(3), |_, pod| pod == "b" || pod == "c")
        .unwrap();
    assert!(!tmp.path().join("enpu/team.a").exists());
    assert!(tmp.path().join("enpu/team.b/3_1").exists());
    assert!(foreign.join("readme").exists());
    assert!(upstream.join(CONFIG_FILE).exists());
    assert!(
        mounts[1].host_path.ends_with("enpu/team.c/3_0"),
        "{mounts:?}"
    );
}

#[test]
fn a_chip_without_a_die_id_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let error = files(tmp.path())
        .prepare("team", "a", &request(9), |_, _| true)
        .unwrap_err();
    assert!(error.to_string().contains("phy id 9"), "{error}");
}
