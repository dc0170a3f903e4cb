use super::*;
use crate::device::model::Family;
use crate::device::model::fixtures::{chip, inventory};

fn owner() -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: "node-a".into(),
        uid: "uid-node".into(),
        ..Default::default()
    }
}

fn desired() -> Vec<Device> {
    let inv = inventory(vec![
        chip(0, Family::Ascend910B),
        chip(1, Family::Ascend910B),
    ]);
    devices(&inv, Board::Generic, &Snapshot::default())
}

fn held(name: &str, generation: i64, devices: Vec<Device>) -> (String, ResourceSlice) {
    let slice = ResourceSlice {
        metadata: ObjectMeta {
            name: Some(name.into()),
            resource_version: Some("7".into()),
            ..Default::default()
        },
        spec: slice_spec("node-a", devices, generation),
    };
    (name.into(), slice)
}

#[test]
fn nothing_held_means_one_create_owned_by_the_node() {
    let actions = plan("node-a", &owner(), &BTreeMap::new(), desired(), 0);
    let [Action::Create(slice)] = actions.as_slice() else {
        panic!("{actions:?}");
    };
    assert_eq!(
        slice.metadata.generate_name.as_deref(),
        Some("node-a-npu.huawei.com-")
    );
    assert_eq!(
        slice.metadata.owner_references.as_ref().unwrap()[0].uid,
        "uid-node"
    );
    assert_eq!(slice.spec.node_name.as_deref(), Some("node-a"));
    assert_eq!(slice.spec.pool.generation, 1);
}

#[test]
fn an_equal_slice_is_left_alone_even_with_server_set_taint_times() {
    let mut echoed = desired();
    for device in &mut echoed {
        device.taints = device.taints.take().map(|mut taints| {
            for t in &mut taints {
                t.time_added = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
                ));
            }
            taints
        });
    }
    let map: BTreeMap<_, _> = [held("s1", 3, echoed)].into();
    assert_eq!(
        plan("node-a", &owner(), &map, desired(), 3),
        Vec::<Action>::new()
    );
}

#[test]
fn a_changed_slice_is_replaced_at_the_next_generation_and_extras_deleted() {
    let mut old = desired();
    old.pop();
    let map: BTreeMap<_, _> = [held("s1", 3, old), held("s2", 2, desired())].into();
    let actions = plan("node-a", &owner(), &map, desired(), 3);
    let [Action::Replace(slice), Action::Delete(extra)] = actions.as_slice() else {
        panic!("{actions:?}");
    };
    assert_eq!(slice.metadata.name.as_deref(), Some("s1"));
    assert_eq!(slice.metadata.resource_version.as_deref(), Some("7"));
    assert_eq!(slice.spec.pool.generation, 4);
    assert_eq!(slice.spec.devices.as_ref().unwrap().len(), 2);
    assert_eq!(extra, "s2");
}

#[test]
fn a_recreated_slice_never_goes_back_in_generation() {
    let actions = plan("node-a", &owner(), &BTreeMap::new(), desired(), 5);
    let [Action::Create(slice)] = actions.as_slice() else {
        panic!("{actions:?}");
    };
    assert_eq!(slice.spec.pool.generation, 6);
}
