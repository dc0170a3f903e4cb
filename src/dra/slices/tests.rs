use super::*;
use crate::device::model::Family;
use crate::device::model::fixtures::{chip, inventory};
use crate::dra::devices::{devices, published};
use k8s_openapi::api::resource::v1::CounterSet;

fn owner() -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: "node-a".into(),
        uid: "uid-node".into(),
        ..Default::default()
    }
}

fn desired() -> Vec<SliceContent> {
    layout(Vec::new(), chips())
}

fn chips() -> Vec<Device> {
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
            labels: Some([(SLICE_INDEX.to_string(), "0".to_string())].into()),
            ..Default::default()
        },
        spec: slice_spec(
            "node-a",
            layout(Vec::new(), devices).remove(0),
            generation,
            1,
        ),
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
    let mut echoed = chips();
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
    let mut old = chips();
    old.pop();
    let map: BTreeMap<_, _> = [held("s1", 3, old), held("s2", 2, chips())].into();
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

fn partitioned_310p(chips: u32) -> (Vec<CounterSet>, Vec<Device>) {
    let inv = inventory(
        (0..chips)
            .map(|phy| {
                let mut c = chip(phy, Family::Ascend310P);
                c.memory_mb = Some(24 << 10);
                c
            })
            .collect(),
    );
    published(&inv, Board::Generic, &Snapshot::default(), true)
}

#[test]
fn partitions_spread_over_slices_within_the_api_limits_with_the_count_on_each() {
    let (counters, devices) = partitioned_310p(10);
    assert_eq!(counters.len(), 10);
    let total = devices.len();
    let desired = layout(counters, devices);
    let actions = plan("node-a", &owner(), &BTreeMap::new(), desired.clone(), 0);
    assert_eq!(actions.len(), desired.len());
    let mut seen_devices = 0;
    let mut seen_sets = 0;
    for (index, action) in actions.iter().enumerate() {
        let Action::Create(slice) = action else {
            panic!("{action:?}");
        };
        let spec = &slice.spec;
        assert_eq!(spec.pool.resource_slice_count, desired.len() as i64);
        assert_eq!(spec.pool.generation, 1);
        assert_eq!(
            slice.metadata.labels.as_ref().unwrap()[SLICE_INDEX],
            index.to_string()
        );
        let sets = spec.shared_counters.as_ref().map_or(0, Vec::len);
        let devices = spec.devices.as_ref().map_or(0, Vec::len);
        assert!(
            sets == 0 || devices == 0,
            "counters and devices share slice {index}"
        );
        assert!(
            sets <= 8 && devices <= 64,
            "slice {index}: {sets} sets, {devices} devices"
        );
        seen_sets += sets;
        seen_devices += devices;
    }
    assert_eq!((seen_sets, seen_devices), (10, total));
}

#[test]
fn unchanged_partitioned_slices_stay_put_and_a_shrunk_pool_deletes_the_rest() {
    let (counters, devices) = partitioned_310p(10);
    let desired = layout(counters, devices);
    let mut held = BTreeMap::new();
    for (i, action) in plan("node-a", &owner(), &BTreeMap::new(), desired.clone(), 0)
        .into_iter()
        .enumerate()
    {
        let Action::Create(mut slice) = action else {
            panic!()
        };
        let name = format!("s{}", 9 - i);
        slice.metadata.name = Some(name.clone());
        held.insert(name, slice);
    }
    assert_eq!(
        plan("node-a", &owner(), &held, desired, 1),
        Vec::<Action>::new()
    );
    let (counters, devices) = partitioned_310p(2);
    let smaller = layout(counters, devices);
    let actions = plan("node-a", &owner(), &held, smaller.clone(), 1);
    let replaced: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Replace(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(replaced.len(), smaller.len());
    for (index, slice) in replaced.iter().enumerate() {
        // The slice that held index i keeps it: names stay stable.
        assert_eq!(slice.metadata.name, Some(format!("s{}", 9 - index)));
        assert_eq!(slice.spec.pool.generation, 2);
        assert_eq!(slice.spec.pool.resource_slice_count, smaller.len() as i64);
    }
    let deleted = actions
        .iter()
        .filter(|a| matches!(a, Action::Delete(_)))
        .count();
    assert_eq!(deleted, held.len() - smaller.len());
}

#[test]
fn without_partitions_no_counters_are_published_and_chips_consume_none() {
    let inv = inventory(vec![chip(0, Family::Ascend310P)]);
    let (counters, devices) = published(&inv, Board::Generic, &Snapshot::default(), false);
    assert!(counters.is_empty());
    assert_eq!(devices.len(), 1);
    assert!(devices[0].consumes_counters.is_none());
    let inv = inventory(vec![chip(0, Family::Ascend910)]);
    let (counters, devices) = published(&inv, Board::Generic, &Snapshot::default(), true);
    assert!(counters.is_empty(), "910 has no templates");
    assert_eq!(devices.len(), 1);
}
