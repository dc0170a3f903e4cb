//! The node modes beyond the default (recovery spec §4.6–§4.9): each one a
//! small rule over the inventory or a transform of the default naming, so
//! `naming.rs` stays the one place of the default names.

pub mod custom_names;
pub mod edge;
pub mod settings;
pub mod single_die;
pub mod soft_share;

use crate::device::model::Inventory;
use crate::device::naming::Naming;
use settings::Modes;

/// A mode's rule refused this node, or its naming could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    #[error(transparent)]
    SoftShare(#[from] soft_share::SoftShareNodeError),
}

/// The default naming (`naming::name_devices` with whole chips when soft
/// share is on) turned into the names the node's modes advertise.
pub fn apply_naming(
    naming: Naming,
    inventory: &Inventory,
    modes: &Modes,
) -> Result<Naming, ModeError> {
    let mut naming = naming;
    if modes.soft_share.is_some() {
        soft_share::check_node(inventory.family(), modes.single_die)?;
        naming = soft_share::expand(naming)?;
    }
    if modes.edge {
        naming = edge::rename(naming);
    }
    Ok(naming)
}

/// `-shareDevCount` as the default naming must see it: soft share names
/// whole chips first and expands them itself.
pub fn default_share_count(modes: &Modes, share_dev_count: u32) -> u32 {
    if modes.soft_share.is_some() {
        1
    } else {
        share_dev_count
    }
}

/// The renaming file in force, if any. Volcano mode is refused with one:
/// Volcano matches pods by the inner names (recovery spec §6 #10).
pub fn load_public_names(
    modes: &Modes,
    volcano: bool,
) -> Result<Option<custom_names::PublicNames>, custom_names::NamesError> {
    let names = custom_names::PublicNames::load(&modes.device_names_file)?;
    if names.is_some() && volcano {
        return Err(custom_names::NamesError::Volcano {
            path: modes.device_names_file.clone(),
        });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn modes(file: &std::path::Path) -> Modes {
        Modes {
            soft_share: None,
            single_die: false,
            edge: false,
            device_names_file: file.to_path_buf(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn a_renaming_file_is_refused_in_volcano_mode_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("names.json");
        std::fs::write(
            &file,
            r#"[{"ResourceType":"Ascend910","DevicePublicType":"vendor.com/npu910","DevicePublicNamePre":"npu910-"}]"#,
        )
        .unwrap();
        assert!(load_public_names(&modes(&file), false).unwrap().is_some());
        let error = load_public_names(&modes(&file), true).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("names.json") && message.contains("-volcanoType"),
            "{message}"
        );
        // No file: nothing renamed, Volcano or not.
        let none = tmp.path().join("none.json");
        assert!(load_public_names(&modes(&none), true).unwrap().is_none());
    }

    #[test]
    fn soft_share_names_whole_chips_first() {
        let mut soft = modes(std::path::Path::new("/x"));
        assert_eq!(default_share_count(&soft, 100), 100);
        soft.soft_share = Some(settings::SoftShare {
            dir: "/a/b".into(),
            enpu_dir: "/etc/enpu".into(),
        });
        assert_eq!(default_share_count(&soft, 100), 1);
    }
}
