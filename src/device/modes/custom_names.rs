//! `deviceNameCustomization.json` (recovery spec §4.9): an operator renames
//! what kubelet sees of a chip type: the resource (`huawei.com/Ascend910` ->
//! e.g. `vendor.com/npu910`, vNPU suffixes kept) and the device-ID prefix
//! (`Ascend910-` -> e.g. `npu910-`). The socket keeps its inner name.
//!
//! Only the kubelet-facing names change: registration, ListAndWatch,
//! GetPreferredAllocation and Allocate (IDs are mapped back before
//! validation), and kubelet's pod-resources answers (mapped back as they
//! are read). The cluster side (device-info ConfigMap, node annotations,
//! manual isolation) keeps the inner names, so nothing written there can
//! fail to be read back (upstream's `ManuallySeparateNPU` breakage, §6 #10),
//! and Volcano mode is refused with a renaming file, because Volcano looks
//! for the inner names in a pod's limits (the other §6 #10 breakage).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::device::naming::Resource;

/// The chip types a file may rename.
pub const RENAMEABLE: [&str; 3] = ["Ascend910", "Ascend310", "Ascend310P"];
/// Largest renaming file read (the real one is a few hundred bytes).
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// A renaming file that cannot be used; names the file, the entry and the field.
#[derive(Debug, thiserror::Error)]
pub enum NamesError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: is larger than {MAX_FILE_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("{}: not a JSON array of renaming entries: {reason}", path.display())]
    Json { path: PathBuf, reason: String },
    #[error(
        "{}: renamed resources cannot be used with -volcanoType=true (Volcano matches pods by the huawei.com/ names); remove the file or run without Volcano",
        path.display()
    )]
    Volcano { path: PathBuf },
    #[error("{}: entry {entry}: field {field} {reason}", path.display())]
    Field {
        path: PathBuf,
        entry: usize,
        field: &'static str,
        reason: String,
    },
}

/// One entry as the file spells it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(rename = "ResourceType", default)]
    resource_type: String,
    #[serde(rename = "DevicePublicType", default)]
    public_type: String,
    #[serde(rename = "DevicePublicNamePre", default)]
    prefix: String,
    #[serde(rename = "PodConfigurationName", default)]
    pod_configuration_name: String,
}

/// One chip type's public names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicName {
    /// Full resource name, e.g. `vendor.com/npu910`.
    pub public_type: String,
    /// Replaces `<Type>-` at the start of device IDs, e.g. `npu910-`.
    pub prefix: String,
    /// The configuration annotation key for Ascend910 (validated; written
    /// only in Volcano mode, which renaming refuses).
    pub pod_configuration_name: Option<String>,
}

/// Every chip type's public names, by inner type (`Ascend910`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicNames {
    pub by_type: BTreeMap<String, PublicName>,
}

/// One resource's names as kubelet sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicResource {
    /// What the resource registers as.
    pub resource_name: String,
    inner_prefix: String,
    public_prefix: String,
}

impl PublicResource {
    /// The ID kubelet sees for inner ID `id`.
    pub fn id_out(&self, id: &str) -> String {
        match id.strip_prefix(&self.inner_prefix) {
            Some(rest) => format!("{}{rest}", self.public_prefix),
            None => id.to_owned(),
        }
    }

    /// The inner ID of kubelet's `id`; `None` for an ID without the public
    /// prefix, which is none of ours (an inner ID included: kubelet never
    /// saw one).
    pub fn id_in(&self, id: &str) -> Option<String> {
        id.strip_prefix(&self.public_prefix)
            .map(|rest| format!("{}{rest}", self.inner_prefix))
    }
}

impl PublicNames {
    /// Reads the file; `None` when it does not exist or is upstream's
    /// shipped placeholder (every field empty), which renames nothing.
    pub fn load(path: &Path) -> Result<Option<PublicNames>, NamesError> {
        let read = |source| NamesError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(read(error)),
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(NamesError::TooLarge {
                path: path.to_owned(),
            });
        }
        let bytes = std::fs::read(path).map_err(read)?;
        Self::parse(&bytes, path)
    }

    /// Parses and validates file content (`path` only names it in errors).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Option<PublicNames>, NamesError> {
        let entries: Vec<Entry> = serde_json::from_slice(bytes).map_err(|e| NamesError::Json {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let placeholder = |e: &Entry| {
            e.resource_type.is_empty()
                && e.public_type.is_empty()
                && e.prefix.is_empty()
                && e.pod_configuration_name.is_empty()
        };
        if entries.iter().all(placeholder) {
            return Ok(None);
        }
        let mut names = PublicNames::default();
        for (index, entry) in entries.iter().enumerate() {
            let field = |field: &'static str, reason: String| NamesError::Field {
                path: path.to_owned(),
                entry: index,
                field,
                reason,
            };
            if !RENAMEABLE.contains(&entry.resource_type.as_str()) {
                return Err(field(
                    "ResourceType",
                    format!(
                        "{:?} is not one of Ascend910, Ascend310, Ascend310P",
                        shown(&entry.resource_type)
                    ),
                ));
            }
            if names.by_type.contains_key(&entry.resource_type) {
                return Err(field(
                    "ResourceType",
                    format!("{:?} is renamed twice", entry.resource_type),
                ));
            }
            check_public_type(&entry.public_type).map_err(|why| field("DevicePublicType", why))?;
            if names
                .by_type
                .values()
                .any(|other| other.public_type == entry.public_type)
            {
                return Err(field(
                    "DevicePublicType",
                    format!("{:?} is used by two chip types", entry.public_type),
                ));
            }
            check_prefix(&entry.prefix).map_err(|why| field("DevicePublicNamePre", why))?;
            if names
                .by_type
                .values()
                .any(|other| other.prefix == entry.prefix)
            {
                return Err(field(
                    "DevicePublicNamePre",
                    format!("{:?} is used by two chip types", entry.prefix),
                ));
            }
            // Empty keeps the default key (upstream wrote the key "" and the
            // API server refused the pod patch, §6 #10).
            let pod_configuration_name = match entry.pod_configuration_name.as_str() {
                "" => None,
                name => {
                    check_configuration_name(name)
                        .map_err(|why| field("PodConfigurationName", why))?;
                    if entry.resource_type != "Ascend910" {
                        return Err(field(
                            "PodConfigurationName",
                            "is only meaningful for ResourceType Ascend910 (no other type writes a configuration annotation)".into(),
                        ));
                    }
                    Some(name.to_owned())
                }
            };
            names.by_type.insert(
                entry.resource_type.clone(),
                PublicName {
                    public_type: entry.public_type.clone(),
                    prefix: entry.prefix.clone(),
                    pod_configuration_name,
                },
            );
        }
        Ok(Some(names))
    }

    /// The public names of `resource`, if its chip type is renamed: the
    /// public type plus any suffix of the inner name (`Ascend310P-2c` ->
    /// `vendor.com/npu310p-2c`).
    pub fn for_resource(&self, resource: &Resource) -> Option<PublicResource> {
        let base = resource.family.resource_type();
        let suffix = resource.type_name.strip_prefix(base)?;
        let public = self.by_type.get(base)?;
        Some(PublicResource {
            resource_name: format!("{}{suffix}", public.public_type),
            inner_prefix: format!("{base}-"),
            public_prefix: public.prefix.clone(),
        })
    }

    /// The inner resource type (`Ascend910`, `Ascend310P-2c`) of a public
    /// resource name kubelet reports, with the ID mapping.
    pub fn inner_of(
        &self,
        resource_name: &str,
        resources: &[Resource],
    ) -> Option<(String, PublicResource)> {
        resources.iter().find_map(|resource| {
            let public = self.for_resource(resource)?;
            (public.resource_name == resource_name).then(|| (resource.type_name.clone(), public))
        })
    }
}

/// At most 64 characters of an untrusted value, for messages.
fn shown(value: &str) -> String {
    value.chars().take(64).collect()
}

/// `^[a-zA-Z][a-zA-Z0-9./]{8,30}[a-zA-Z0-9]$` (upstream's rule), and,
/// beyond it, what kubelet needs of an extended resource name: exactly one
/// `/`, a domain that is not Kubernetes' own.
fn check_public_type(value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    let pattern = (10..=32).contains(&bytes.len())
        && bytes[0].is_ascii_alphabetic()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'/');
    if !pattern {
        return Err(format!(
            "{:?} must be 10 to 32 characters of letters, digits, '.' and '/', starting with a letter and ending with a letter or digit",
            shown(value)
        ));
    }
    let Some((domain, name)) = value.split_once('/') else {
        return Err(format!(
            "{value:?} is not a full resource name <domain>/<name> (e.g. vendor.com/npu910)"
        ));
    };
    if name.contains('/') || domain.is_empty() || name.is_empty() {
        return Err(format!(
            "{value:?} must have exactly one '/' between a domain and a name"
        ));
    }
    if domain == "kubernetes.io" || domain.ends_with(".kubernetes.io") {
        return Err(format!(
            "{value:?} uses Kubernetes' own domain, which kubelet refuses for device plugins"
        ));
    }
    Ok(())
}

/// `^[a-zA-Z][a-zA-Z0-9-]{1,15}$`.
fn check_prefix(value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    let ok = (2..=16).contains(&bytes.len())
        && bytes[0].is_ascii_alphabetic()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} must be 2 to 16 letters, digits and '-', starting with a letter (it replaces e.g. \"Ascend910-\")",
            shown(value)
        ))
    }
}

/// `^[a-zA-Z][a-zA-Z0-9./-]{8,61}[a-zA-Z0-9]$`.
fn check_configuration_name(value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    let ok = (10..=63).contains(&bytes.len())
        && bytes[0].is_ascii_alphabetic()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} must be 10 to 63 characters of letters, digits, '.', '/' and '-', starting with a letter and ending with a letter or digit",
            shown(value)
        ))
    }
}

#[cfg(test)]
mod tests;

/// The renaming of one node's resources, to read kubelet's reports back
/// into inner names (pod-resources lists public names and IDs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletNames {
    /// Public resource name -> (inner type, ID mapping).
    by_public: BTreeMap<String, (String, PublicResource)>,
}

impl KubeletNames {
    pub fn new(names: &PublicNames, resources: &[Resource]) -> Self {
        let by_public = resources
            .iter()
            .filter_map(|resource| {
                let public = names.for_resource(resource)?;
                Some((
                    public.resource_name.clone(),
                    (resource.type_name.clone(), public),
                ))
            })
            .collect();
        Self { by_public }
    }

    /// `(inner type, inner IDs)` of a public resource kubelet reported.
    pub fn inner(&self, resource_name: &str, ids: &[String]) -> Option<(String, Vec<String>)> {
        let (inner, public) = self.by_public.get(resource_name)?;
        Some((
            inner.clone(),
            ids.iter()
                .map(|id| public.id_in(id).unwrap_or_else(|| id.clone()))
                .collect(),
        ))
    }
}
