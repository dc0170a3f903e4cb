//! The pod as the watch decodes it: only the fields [`super::slim`] keeps
//! are read from the JSON, and an annotation or limit the plugin does not
//! read is skipped while parsing, never allocated. A pod author's 200 KiB
//! annotation then costs nothing beyond the bytes of the response being
//! parsed (docs/benchmarks.md, "Pod cache memory").

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

use crate::cluster::volcano::{PREDICATE_TIME, RESOURCE_PREFIX};

/// A pod decoded with only what the plugin reads (and the resource version
/// the watch resumes from). `Serialize` is there for kube's bounds only.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeanPod(#[serde(skip)] pub Pod);

impl k8s_openapi::Resource for LeanPod {
    const API_VERSION: &'static str = <Pod as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Pod as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Pod as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Pod as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Pod as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <Pod as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for LeanPod {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.0.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

/// Whether an annotation or limit key is one the plugin reads.
fn wanted(key: &str) -> bool {
    key == PREDICATE_TIME || key.starts_with(RESOURCE_PREFIX)
}

/// A JSON object decoded into `$name`: the listed keys into their fields
/// (null or absent is `None`), every other key skipped unparsed, and a key
/// given twice taking its last value, as Kubernetes' own decoders do (serde's
/// derive would refuse the duplicate, and the plugin must decode whatever
/// the full `Pod` type does; `src/fuzzing/cluster.rs::pod_decoding`).
macro_rules! lenient_object {
    ($name:ident { $($key:literal => $field:ident: $ty:ty,)* }) => {
        #[derive(Default)]
        struct $name {
            $($field: Option<$ty>,)*
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Fields;

                impl<'de> Visitor<'de> for Fields {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }

                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                            match key.as_ref() {
                                $($key => out.$field = map.next_value::<Option<$ty>>()?,)*
                                _ => {
                                    map.next_value::<IgnoredAny>()?;
                                }
                            }
                        }
                        Ok(out)
                    }
                }

                deserializer.deserialize_map(Fields)
            }
        }
    };
}

/// The entries of a map under [`wanted`] keys; see [`wanted_entries`].
struct Wanted<V>(BTreeMap<String, V>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Wanted<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Wanted(wanted_entries(deserializer)?.unwrap_or_default()))
    }
}

lenient_object!(WirePod {
    "metadata" => metadata: WireMeta,
    "spec" => spec: WireSpec,
    "status" => status: WireStatus,
});

lenient_object!(WireMeta {
    "name" => name: String,
    "namespace" => namespace: String,
    "uid" => uid: String,
    "resourceVersion" => resource_version: String,
    "creationTimestamp" => creation_timestamp: Time,
    "deletionTimestamp" => deletion_timestamp: Time,
    "annotations" => annotations: Wanted<String>,
});

lenient_object!(WireSpec {
    "nodeName" => node_name: String,
    "containers" => containers: Vec<WireContainer>,
    "initContainers" => init_containers: Vec<WireContainer>,
});

lenient_object!(WireContainer {
    "resources" => resources: WireResources,
});

lenient_object!(WireResources {
    "limits" => limits: Wanted<Quantity>,
});

lenient_object!(WireStatus {
    "phase" => phase: String,
    "reason" => reason: String,
});

/// A JSON object (or null) of which only the entries under [`wanted`] keys
/// are decoded; every other value is skipped unparsed.
fn wanted_entries<'de, D, V>(deserializer: D) -> Result<Option<BTreeMap<String, V>>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Entries<V>(PhantomData<V>);

    impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
        type Value = Option<BTreeMap<String, V>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of strings, or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if wanted(&key) {
                    out.insert(key.into_owned(), map.next_value::<V>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Some(out))
        }
    }

    deserializer.deserialize_option(Entries(PhantomData))
}

impl<'de> Deserialize<'de> for LeanPod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WirePod::deserialize(deserializer)?;
        let container = |c: WireContainer| Container {
            resources: c.resources.map(|r| ResourceRequirements {
                limits: r.limits.map(|l| l.0),
                ..ResourceRequirements::default()
            }),
            ..Container::default()
        };
        let meta = wire.metadata.unwrap_or_default();
        Ok(LeanPod(Pod {
            metadata: ObjectMeta {
                name: meta.name,
                namespace: meta.namespace,
                uid: meta.uid,
                resource_version: meta.resource_version,
                creation_timestamp: meta.creation_timestamp,
                deletion_timestamp: meta.deletion_timestamp,
                annotations: meta.annotations.map(|a| a.0),
                ..ObjectMeta::default()
            },
            spec: wire.spec.map(|spec| PodSpec {
                node_name: spec.node_name,
                containers: spec
                    .containers
                    .unwrap_or_default()
                    .into_iter()
                    .map(container)
                    .collect(),
                init_containers: spec
                    .init_containers
                    .map(|all| all.into_iter().map(container).collect()),
                ..PodSpec::default()
            }),
            status: wire.status.map(|status| PodStatus {
                phase: status.phase,
                reason: status.reason,
                ..PodStatus::default()
            }),
        }))
    }
}
