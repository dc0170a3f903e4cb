//! What the cluster writes and the plugin reads: Volcano's and `npu-core`
//! pod annotations, the device-info ConfigMap, the fault-code table
//! (`faultCode.json`, from a file or the fault-code ConfigMap).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Pod, PodSpec, PodStatus, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

use super::assert_short_error;
use crate::cluster::annotations::parse_ascend_real;
use crate::cluster::chip_list::{MAX_ENTRIES, MAX_PHY_ID, parse_chip_list};
use crate::cluster::deviceinfo::{
    content_equal_ignoring_time, format_manually_separate, parse_manually_separate,
};
use crate::cluster::npu_core::{
    NPU_CORE_ANNOTATION, NpuCoreRequest, choose_npu_core_pod, parse_npu_core, template_aicore,
};
use crate::cluster::volcano::{PREDICATE_TIME, choose_pod};
use crate::device::faults::MAX_FAULT_TABLE;
use crate::device::faults::{FaultCode, FaultLevel, FaultTable};
use crate::k8s::faultconfig;

const NODE: &str = "node-a";
const RESOURCE_TYPE: &str = "Ascend910";
const CHIP_KEY: &str = "huawei.com/Ascend910";
const CHIP_AICORE: u32 = 8;

fn known_template(template: &str) -> bool {
    template_aicore(template).is_some()
}

/// One pod per line, fields split by `|`: name, node, phase, predicate-time,
/// limit of both resources, `huawei.com/Ascend910`, `huawei.com/npu-core`,
/// creation time in seconds. A missing field is absent from the pod.
fn pod(line: &str) -> Pod {
    let mut fields = line.split('|');
    let mut next = || fields.next().filter(|f| !f.is_empty()).map(str::to_owned);
    let name = next();
    let node = next();
    let phase = next();
    let time = next();
    let limit = next();
    let chips = next();
    let cores = next();
    let created = next()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| Timestamp::from_second(s.rem_euclid(1 << 32)).ok())
        .map(Time);
    let mut annotations = BTreeMap::new();
    for (key, value) in [
        (PREDICATE_TIME, time),
        (CHIP_KEY, chips),
        (NPU_CORE_ANNOTATION, cores),
    ] {
        if let Some(value) = value {
            annotations.insert(key.to_owned(), value);
        }
    }
    let limits = limit.map(|q| {
        [CHIP_KEY, NPU_CORE_ANNOTATION]
            .into_iter()
            .map(|key| (key.to_owned(), Quantity(q.clone())))
            .collect()
    });
    Pod {
        metadata: ObjectMeta {
            name,
            namespace: Some("default".to_owned()),
            annotations: Some(annotations),
            creation_timestamp: created,
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: node,
            containers: vec![Container {
                name: "main".to_owned(),
                resources: Some(ResourceRequirements {
                    limits,
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase,
            ..PodStatus::default()
        }),
    }
}

fn check_phys(phys: &[u32]) {
    assert!(phys.len() <= MAX_ENTRIES, "{} chips accepted", phys.len());
    assert!(
        phys.iter().all(|&phy| phy <= MAX_PHY_ID),
        "phy id out of range: {phys:?}"
    );
    let unique: BTreeSet<_> = phys.iter().collect();
    assert_eq!(
        unique.len(),
        phys.len(),
        "duplicate chips accepted: {phys:?}"
    );
}

/// Pod annotations as tenants can write them. The first line is the number
/// of devices kubelet asks for, the others are pods (see [`pod`]). Each
/// annotation parses within its limits (phy ids 0..=255, at most 128, no
/// duplicates, a known template) and re-parses the same once written back;
/// a chosen pod is on this node and explains exactly the request; errors
/// stay short.
pub fn volcano_annotations(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let requested = lines
        .next()
        .and_then(|l| l.trim().parse::<usize>().ok())
        .unwrap_or(1)
        % 300;
    let pods: Vec<Pod> = lines.map(pod).collect();
    for pod in &pods {
        let annotations = pod.metadata.annotations.as_ref();
        if let Some(value) = annotations.and_then(|a| a.get(CHIP_KEY)) {
            match parse_chip_list(value, RESOURCE_TYPE) {
                Ok(phys) => {
                    check_phys(&phys);
                    let written: Vec<String> = phys
                        .iter()
                        .map(|p| format!("{RESOURCE_TYPE}-{p}"))
                        .collect();
                    assert_eq!(
                        parse_ascend_real(&written.join(","), RESOURCE_TYPE),
                        Ok(phys)
                    );
                }
                Err(fault) => assert_short_error(&fault),
            }
        }
        if let Some(value) = annotations.and_then(|a| a.get(NPU_CORE_ANNOTATION)) {
            match parse_npu_core(value, known_template) {
                Ok(NpuCoreRequest::Vnpu { phy, template }) => {
                    assert!(phy <= MAX_PHY_ID && known_template(&template));
                }
                Ok(NpuCoreRequest::WholeChips(phys)) => check_phys(&phys),
                Err(fault) => assert_short_error(&fault),
            }
        }
    }
    let on_node = |pod: &Pod| pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(NODE);
    if let Ok(chosen) = choose_pod(&pods, NODE, RESOURCE_TYPE, requested) {
        assert!(on_node(chosen.pod), "chose a pod of another node");
        assert_eq!(
            chosen.phys.len(),
            requested,
            "chose a pod for another count"
        );
        check_phys(&chosen.phys);
        let annotation = chosen
            .pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CHIP_KEY));
        let annotated = annotation.map(|v| parse_chip_list(v, RESOURCE_TYPE));
        assert_eq!(
            annotated,
            Some(Ok(chosen.phys.clone())),
            "chips not from the annotation"
        );
        for (chip, phy) in chosen.chips.iter().zip(&chosen.phys) {
            assert_eq!(chip, &format!("{RESOURCE_TYPE}-{phy}"));
        }
    }
    if let Ok(choice) = choose_npu_core_pod(&pods, NODE, requested, CHIP_AICORE, known_template) {
        assert!(on_node(choice.pod), "chose a pod of another node");
        assert_eq!(
            choice.value.cores(CHIP_AICORE),
            Some(requested),
            "cores do not add up"
        );
    }
}

/// The device-info ConfigMap as the plugin reads it back: the data is two
/// `DeviceInfoCfg` values split at the first NUL, then the
/// `ManuallySeparateNPU` value. Comparing is symmetric; the separated list
/// is clean (unique chip-shaped names, at most 1024) and cleaning is
/// idempotent.
pub fn deviceinfo_configmap(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let a = parts.next().unwrap_or_default();
    let b = parts.next().unwrap_or_default();
    let separated = parts.next().unwrap_or(a);
    assert_eq!(
        content_equal_ignoring_time(a, b),
        content_equal_ignoring_time(b, a)
    );
    if content_equal_ignoring_time(a, b) {
        assert!(
            content_equal_ignoring_time(a, a),
            "equal to another but not to itself"
        );
    }
    let names = parse_manually_separate(separated);
    assert!(names.len() <= 1024, "{} names kept", names.len());
    let unique: BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "duplicate names kept");
    for name in &names {
        assert!(name.len() <= 50 && name.contains('-'), "name {name:?} kept");
    }
    let formatted = format_manually_separate(&names);
    assert_eq!(
        parse_manually_separate(&formatted),
        names,
        "cleaning is not idempotent"
    );
}

/// `faultCode.json`, from `--fault-code-file` or the fault-code ConfigMap:
/// the ConfigMap path agrees with the file path; an accepted table is not
/// empty and each code in it prints and re-parses to itself; errors stay
/// short. Each whitespace-separated word is also tried as a code and a level.
pub fn fault_table(data: &[u8]) {
    let parsed = FaultTable::parse(data, MAX_FAULT_TABLE);
    match &parsed {
        Ok((table, warnings)) => {
            assert!(!table.is_empty(), "an empty table accepted");
            for (code, level) in table.iter() {
                assert_eq!(FaultCode::parse(&code.go_hex()), Ok(code));
                assert_eq!(table.get(code), Some(level));
            }
            warnings.iter().for_each(|w| assert_short_error(w));
        }
        Err(error) => assert_short_error(error),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let cm = ConfigMap {
            data: Some(BTreeMap::from([(
                faultconfig::KEY.to_owned(),
                text.to_owned(),
            )])),
            ..ConfigMap::default()
        };
        match (faultconfig::table_from(&cm), &parsed) {
            (Ok((from_cm, _)), Ok((from_file, _))) => assert_eq!(&from_cm, from_file),
            (Err(error), Err(_)) => assert_short_error(&error),
            (from_cm, _) => panic!("the ConfigMap and the file disagree: {from_cm:?}"),
        }
        for word in text.split_whitespace() {
            if let Ok(code) = FaultCode::parse(word) {
                assert_eq!(FaultCode::parse(&code.go_hex()), Ok(code));
            }
            let _ = FaultLevel::from_upstream(word);
        }
    }
}

/// The pod watch's lean decoding (`src/k8s/pods/wire.rs`), which reads the
/// tenant-controlled pod JSON the API server relays: it never panics, and
/// whenever the full `Pod` type decodes the same bytes, both cut down
/// ([`crate::k8s::pods::slim`]) to the same pod, so skipping fields while
/// parsing loses nothing the plugin reads.
pub fn pod_decoding(data: &[u8]) {
    use crate::k8s::pods::{LeanPod, slim};
    let lean = serde_json::from_slice::<LeanPod>(data);
    if let Ok(full) = serde_json::from_slice::<Pod>(data) {
        let lean = lean.expect("the full Pod type decodes what the lean decoding refuses");
        assert_eq!(slim(lean.0), slim(full), "the lean decoding lost a field");
    }
}
