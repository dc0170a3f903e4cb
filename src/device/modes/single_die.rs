//! `-useSingleDieMode` (recovery spec §4.7): on 910A3 nodes the driver is
//! told at start whether a die may be given to a container alone. Names,
//! IDs, Allocate and health do not change; a failure is a warning, as
//! upstream, because the node still serves with the driver's own policy.

use std::time::Duration;

use crate::dcmi::{Dcmi, DcmiError};
use crate::device::model::{Family, Inventory};

/// The policy to set: `Some(true)` independent dies, `Some(false)` both
/// dies of a card together; `None` off A3 (the call is A3-only upstream).
pub fn die_policy(family: Option<Family>, single_die: bool) -> Option<bool> {
    (family == Some(Family::Ascend910A3)).then_some(single_die)
}

/// Sets the policy on an A3 node; logs what happened.
pub async fn apply(dcmi: &Dcmi, inventory: &Inventory, single_die: bool, timeout: Duration) {
    let Some(single) = die_policy(inventory.family(), single_die) else {
        if single_die {
            tracing::warn!(
                family = ?inventory.family(),
                "-useSingleDieMode applies to 910A3 nodes only; ignored on this node"
            );
        }
        return;
    };
    let set: Result<(), DcmiError> = dcmi
        .call("set_multi_die_policy", timeout, move |api| {
            api.set_single_die(single)
        })
        .await;
    match set {
        Ok(()) => tracing::info!(single_die = single, "910A3 multi-die policy set"),
        Err(error) => {
            tracing::warn!(%error, single_die = single, "cannot set the 910A3 multi-die policy; the driver keeps its own")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a3_nodes_get_a_die_policy_and_it_follows_the_flag() {
        assert_eq!(die_policy(Some(Family::Ascend910A3), true), Some(true));
        assert_eq!(die_policy(Some(Family::Ascend910A3), false), Some(false));
        for family in [
            Family::Ascend910,
            Family::Ascend910B,
            Family::Ascend310P,
            Family::Ascend950,
        ] {
            assert_eq!(die_policy(Some(family), true), None, "{family}");
        }
        assert_eq!(die_policy(None, true), None);
    }
}
