use super::*;
use crate::device::model::Family;
use crate::device::model::fixtures::{chip, inventory};
use k8s_openapi::api::resource::v1::{
    AllocationResult, DeviceAllocationResult, DeviceRequestAllocationResult, ResourceClaimStatus,
};

fn result(
    request: &str,
    driver: &str,
    pool: &str,
    device: &str,
    admin: bool,
) -> DeviceRequestAllocationResult {
    DeviceRequestAllocationResult {
        request: request.into(),
        driver: driver.into(),
        pool: pool.into(),
        device: device.into(),
        admin_access: admin.then_some(true),
        ..Default::default()
    }
}

fn claim(uid: &str, results: Vec<DeviceRequestAllocationResult>) -> ResourceClaim {
    let mut claim = ResourceClaim::default();
    claim.metadata.uid = Some(uid.into());
    claim.status = Some(ResourceClaimStatus {
        allocation: Some(AllocationResult {
            devices: Some(DeviceAllocationResult {
                results: Some(results),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    claim
}

fn node() -> Inventory {
    inventory((0..4).map(|p| chip(p, Family::Ascend910B)).collect())
}

#[test]
fn only_our_drivers_results_are_taken_with_base_request_names() {
    let c = claim(
        "u",
        vec![
            result("gpu", "gpu.example.com", "node-a", "gpu-0", false),
            result("npus/ring", DRIVER, "node-a", "npu-2", false),
        ],
    );
    let chosen = choose(&c, "u", "node-a", &node(), false).unwrap();
    assert_eq!(
        chosen,
        [Chosen {
            request: "npus".into(),
            device: "npu-2".into(),
            phy_id: 2,
            admin_access: false,
            template: None,
        }]
    );
}

#[test]
fn a_result_naming_another_pool_or_a_missing_chip_is_refused() {
    let other_pool = claim("u", vec![result("a", DRIVER, "node-b", "npu-1", false)]);
    let error = choose(&other_pool, "u", "node-a", &node(), false).unwrap_err();
    assert!(error.contains("node-b"), "{error}");
    let missing = claim("u", vec![result("a", DRIVER, "node-a", "npu-7", false)]);
    assert!(
        choose(&missing, "u", "node-a", &node(), false)
            .unwrap_err()
            .contains("npu-7")
    );
    let garbage = claim(
        "u",
        vec![result("a", DRIVER, "node-a", "Ascend910-1", false)],
    );
    assert!(choose(&garbage, "u", "node-a", &node(), false).is_err());
}

#[test]
fn an_unallocated_claim_or_another_uid_is_refused() {
    let c = claim("u", vec![]);
    assert!(
        choose(&c, "v", "node-a", &node(), false)
            .unwrap_err()
            .contains("UID")
    );
    let mut bare = ResourceClaim::default();
    bare.metadata.uid = Some("u".into());
    assert!(
        choose(&bare, "u", "node-a", &node(), false)
            .unwrap_err()
            .contains("not allocated")
    );
}

fn prepared(device: &str, admin: bool) -> PreparedClaim {
    PreparedClaim {
        namespace: "ml".into(),
        name: "held".into(),
        state: PrepareState::PrepareCompleted,
        devices: vec![PreparedDevice {
            requests: vec!["a".into()],
            pool: "node-a".into(),
            device: device.into(),
            cdi_ids: Vec::new(),
            admin_access: admin,
            vnpu: parse_partition(device, Family::Ascend910B).map(|(phy, template)| VnpuRecord {
                phy_id: phy,
                template: template.into(),
                vdev_id: Some(100),
            }),
        }],
    }
}

fn want(device: &str, admin: bool) -> Chosen {
    let partition = parse_partition(device, Family::Ascend910B);
    Chosen {
        request: "a".into(),
        device: device.into(),
        phy_id: partition.map_or_else(|| phy_of(device).unwrap(), |(phy, _)| phy),
        admin_access: admin,
        template: partition.map(|(_, template)| template),
    }
}

#[test]
fn a_chip_held_by_another_claim_conflicts_unless_either_has_admin_access() {
    let mut claims = Claims::default();
    claims
        .claims
        .insert("held".into(), prepared("npu-1", false));
    let error = conflict(&claims, "new", &[want("npu-1", false)]).unwrap();
    assert!(error.contains("ml/held"), "{error}");
    assert!(conflict(&claims, "new", &[want("npu-2", false)]).is_none());
    assert!(conflict(&claims, "new", &[want("npu-1", true)]).is_none());
    assert!(
        conflict(&claims, "held", &[want("npu-1", false)]).is_none(),
        "itself"
    );
    claims.claims.insert("held".into(), prepared("npu-1", true));
    assert!(conflict(&claims, "new", &[want("npu-1", false)]).is_none());
}

#[test]
fn each_chip_gets_its_own_cdi_id_and_the_env_of_its_request_only() {
    let chosen = [
        Chosen {
            request: "a".into(),
            device: "npu-0".into(),
            phy_id: 0,
            admin_access: false,
            template: None,
        },
        Chosen {
            request: "a".into(),
            device: "npu-1".into(),
            phy_id: 1,
            admin_access: false,
            template: None,
        },
        Chosen {
            request: "b".into(),
            device: "npu-3".into(),
            phy_id: 3,
            admin_access: false,
            template: None,
        },
    ];
    let (grants, devices) = plan("u", "node-a", &chosen, &BTreeMap::new());
    assert_eq!(grants[0].request_chips, [0, 1]);
    assert_eq!(grants[2].request_chips, [3]);
    assert_eq!(devices[2].cdi_ids, ["k8s.npu.huawei.com/claim=u-npu-3"]);
    assert!(devices.iter().all(|d| d.cdi_ids.len() == 1));
}

#[test]
fn a_partition_device_is_chosen_with_its_chip_and_template_only_when_partitions_are_on() {
    let c = claim(
        "u",
        vec![result("a", DRIVER, "node-a", "npu-2-vir05-1c-16g-0", false)],
    );
    let chosen = choose(&c, "u", "node-a", &node(), true).unwrap();
    assert_eq!(chosen[0].phy_id, 2);
    assert_eq!(chosen[0].template, Some("vir05_1c_16g"));
    let error = choose(&c, "u", "node-a", &node(), false).unwrap_err();
    assert!(error.contains("npu-2-vir05-1c-16g-0"), "{error}");
    // The fixture's chips have 8 AI cores: one 5-core slice each, never two.
    let beyond = claim(
        "u",
        vec![result("a", DRIVER, "node-a", "npu-2-vir05-1c-16g-1", false)],
    );
    let error = choose(&beyond, "u", "node-a", &node(), true).unwrap_err();
    assert!(error.contains("npu-2-vir05-1c-16g-1"), "{error}");
    let off_node = claim(
        "u",
        vec![result("a", DRIVER, "node-a", "npu-9-vir05-1c-16g-1", false)],
    );
    let error = choose(&off_node, "u", "node-a", &node(), true).unwrap_err();
    assert!(error.contains("npu-9-vir05-1c-16g-1"), "{error}");
    let foreign = claim(
        "u",
        vec![result("a", DRIVER, "node-a", "npu-2-vir02-0", false)],
    );
    assert!(
        choose(&foreign, "u", "node-a", &node(), true).is_err(),
        "a 310P template on 910B"
    );
}

#[test]
fn a_whole_chip_and_a_vnpu_on_it_never_go_to_two_claims() {
    let mut claims = Claims::default();
    claims
        .claims
        .insert("held".into(), prepared("npu-1-vir05-1c-16g-0", false));
    let error = conflict(&claims, "new", &[want("npu-1", false)]).unwrap();
    assert!(error.contains("npu-1"), "{error}");
    // Two slices of one chip are what partitions are for.
    assert!(conflict(&claims, "new", &[want("npu-1-vir05-1c-16g-1", false)]).is_none());
    assert!(conflict(&claims, "new", &[want("npu-1-vir05-1c-16g-0", false)]).is_some());
    assert!(conflict(&claims, "new", &[want("npu-2-vir05-1c-16g-0", false)]).is_none());
    let mut whole = Claims::default();
    whole.claims.insert("held".into(), prepared("npu-1", false));
    assert!(conflict(&whole, "new", &[want("npu-1-vir05-1c-16g-0", false)]).is_some());
}

#[test]
fn a_vnpus_cdi_grant_carries_its_vdev_id_and_its_request_lists_vdev_ids() {
    let chosen = [want("npu-1-vir05-1c-16g-0", false), want("npu-2", false)];
    let (grants, devices) = plan("u", "node-a", &chosen, &BTreeMap::new());
    assert_eq!(grants[0].vdev_id, None);
    assert_eq!(devices[0].vnpu.as_ref().unwrap().vdev_id, None);
    let vdevs: BTreeMap<String, u32> = [("npu-1-vir05-1c-16g-0".to_string(), 104)].into();
    let (grants, devices) = plan("u", "node-a", &chosen, &vdevs);
    assert_eq!(grants[0].vdev_id, Some(104));
    assert_eq!(grants[0].request_chips, [2, 104]);
    assert_eq!(grants[1].vdev_id, None);
    assert_eq!(devices[0].vnpu.as_ref().unwrap().vdev_id, Some(104));
    assert_eq!(
        devices[0].cdi_ids,
        ["k8s.npu.huawei.com/claim=u-npu-1-vir05-1c-16g-0"]
    );
}

/// Answers every GET with one claim.
#[derive(Debug)]
struct OneClaim(ResourceClaim);

impl ClaimSource for OneClaim {
    fn get<'a>(
        &'a self,
        _namespace: &'a str,
        _name: &'a str,
    ) -> BoxFuture<'a, Result<ResourceClaim, String>> {
        let claim = self.0.clone();
        Box::pin(async move { Ok(claim) })
    }
}

/// vNPUs in memory; destroys fail once `destroys_left` is used up.
#[derive(Debug, Default)]
struct FakeVnpus {
    live: std::sync::Mutex<BTreeSet<(u32, u32)>>,
    destroys_left: std::sync::atomic::AtomicUsize,
}

impl VnpuControl for FakeVnpus {
    fn create<'a>(&'a self, phy: u32, _template: &'a str) -> BoxFuture<'a, Result<u32, String>> {
        let mut live = self.live.lock().unwrap();
        let vdev = 100 + u32::try_from(live.len()).unwrap();
        live.insert((phy, vdev));
        Box::pin(async move { Ok(vdev) })
    }

    fn destroy(&self, phy: u32, vdev: u32) -> BoxFuture<'_, Result<(), String>> {
        use std::sync::atomic::Ordering;
        let allowed = self
            .destroys_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let result = if allowed {
            self.live.lock().unwrap().remove(&(phy, vdev));
            Ok(())
        } else {
            Err(format!("cannot destroy vNPU {vdev} on chip {phy}: busy"))
        };
        Box::pin(async move { result })
    }

    fn list(&self, phy: u32) -> BoxFuture<'_, Result<Vec<u32>, String>> {
        let ids = self
            .live
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| *p == phy)
            .map(|(_, v)| *v)
            .collect();
        Box::pin(async move { Ok(ids) })
    }
}

#[tokio::test]
async fn an_unprepare_that_cannot_destroy_every_vnpu_keeps_the_rest_for_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let mut chip310 = chip(0, Family::Ascend310P);
    chip310.memory_mb = Some(24 << 10);
    let c = claim(
        "u",
        vec![
            result("a", DRIVER, "node-a", "npu-0-vir02-0", false),
            result("a", DRIVER, "node-a", "npu-0-vir02-1", false),
        ],
    );
    let vnpus = Arc::new(FakeVnpus::default());
    let preparer = Preparer::open(
        "node-a".into(),
        Arc::new(inventory(vec![chip310])),
        CdiSettings {
            dir: dir.path().join("cdi"),
            dev_root: dir.path().join("dev"),
            ascend_docker: false,
        },
        dir.path().join("state"),
        "boot",
        Arc::new(OneClaim(c)),
    )
    .unwrap()
    .with_vnpus(vnpus.clone(), true);
    let claim = ClaimRef {
        namespace: "ml".into(),
        uid: "u".into(),
        name: "c".into(),
    };
    let devices = preparer.prepare(&claim).await.unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(vnpus.live.lock().unwrap().len(), 2);

    vnpus
        .destroys_left
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let error = preparer.unprepare("u").await.unwrap_err();
    assert!(error.contains("busy"), "{error}");
    assert_eq!(vnpus.live.lock().unwrap().len(), 1);
    let kept = preparer.prepared().await;
    let left: Vec<_> = kept.claims["u"]
        .devices
        .iter()
        .filter_map(|d| d.vnpu.as_ref()?.vdev_id)
        .collect();
    assert_eq!(left.len(), 1, "only the vNPU still there is remembered");
    assert!(cdi::spec_path(&dir.path().join("cdi"), "u").exists());

    vnpus
        .destroys_left
        .store(1, std::sync::atomic::Ordering::SeqCst);
    preparer.unprepare("u").await.unwrap();
    assert!(vnpus.live.lock().unwrap().is_empty());
    assert!(preparer.prepared().await.claims.is_empty());
    assert!(!cdi::spec_path(&dir.path().join("cdi"), "u").exists());
}

#[tokio::test]
async fn a_prepare_whose_cdi_spec_cannot_be_written_destroys_the_vnpus_it_made() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the CDI directory should be: the spec cannot be written.
    let blocked = dir.path().join("cdi");
    std::fs::write(&blocked, "").unwrap();
    let mut chip310 = chip(0, Family::Ascend310P);
    chip310.memory_mb = Some(24 << 10);
    let c = claim(
        "u",
        vec![result("a", DRIVER, "node-a", "npu-0-vir04-1", false)],
    );
    let vnpus = Arc::new(FakeVnpus::default());
    vnpus
        .destroys_left
        .store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
    let preparer = Preparer::open(
        "node-a".into(),
        Arc::new(inventory(vec![chip310])),
        CdiSettings {
            dir: blocked.clone(),
            dev_root: dir.path().join("dev"),
            ascend_docker: false,
        },
        dir.path().join("state"),
        "boot",
        Arc::new(OneClaim(c)),
    )
    .unwrap()
    .with_vnpus(vnpus.clone(), true);
    let claim = ClaimRef {
        namespace: "ml".into(),
        uid: "u".into(),
        name: "c".into(),
    };
    let error = preparer.prepare(&claim).await.unwrap_err();
    assert!(error.contains("CDI spec"), "{error}");
    assert!(
        vnpus.live.lock().unwrap().is_empty(),
        "the vNPU is destroyed"
    );
    assert!(preparer.prepared().await.claims.is_empty());
    let (on_disk, _) = checkpoint::load(&dir.path().join("state"), "boot").unwrap();
    assert!(on_disk.claims.is_empty(), "nor is it in the checkpoint");
}
