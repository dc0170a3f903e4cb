//! Creating and destroying the vNPUs behind partition devices: a trait so
//! the prepare rules are tested with a fake, and its DCMI implementation
//! (`dcmi_create_vdevice` / `dcmi_set_destroy_vdevice`, off the runtime's
//! threads with the DCMI timeout, as dynamic vNPU mode does).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::dcmi::{Dcmi, DcmiError};
use crate::device::model::Inventory;

/// The vNPUs of this node's chips, by chip phy id.
pub trait VnpuControl: Send + Sync + std::fmt::Debug {
    /// Creates a vNPU of `template` on chip `phy`; its vdev id.
    fn create<'a>(&'a self, phy: u32, template: &'a str) -> BoxFuture<'a, Result<u32, String>>;
    /// Destroys vNPU `vdev` of chip `phy`.
    fn destroy(&self, phy: u32, vdev: u32) -> BoxFuture<'_, Result<(), String>>;
    /// The vdev ids chip `phy` holds now.
    fn list(&self, phy: u32) -> BoxFuture<'_, Result<Vec<u32>, String>>;
}

/// [`VnpuControl`] through the driver library.
#[derive(Debug, Clone)]
pub struct DcmiVnpus {
    pub dcmi: Dcmi,
    pub inventory: Arc<Inventory>,
    pub timeout: Duration,
}

impl DcmiVnpus {
    /// `(card, device)` of chip `phy`, or an error naming it.
    fn address(&self, phy: u32) -> Result<(i32, u32), String> {
        let chip = self
            .inventory
            .chip_by_phy(phy)
            .ok_or_else(|| format!("chip with phy id {phy} is not on this node"))?;
        let device = u32::try_from(chip.device_index)
            .map_err(|_| format!("chip {phy}: device index {}", chip.device_index))?;
        Ok((chip.card_id, device))
    }
}

impl VnpuControl for DcmiVnpus {
    fn create<'a>(&'a self, phy: u32, template: &'a str) -> BoxFuture<'a, Result<u32, String>> {
        Box::pin(async move {
            let (card, device) = self.address(phy)?;
            let name = template.to_string();
            let created: Result<u32, DcmiError> = self
                .dcmi
                .call("create_vnpu", self.timeout, move |api| {
                    api.create_vnpu(card, device, &name)
                })
                .await;
            created.map_err(|e| format!("cannot create vNPU {template} on chip {phy}: {e}"))
        })
    }

    fn destroy(&self, phy: u32, vdev: u32) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let (card, device) = self.address(phy)?;
            let destroyed: Result<(), DcmiError> = self
                .dcmi
                .call("destroy_vnpu", self.timeout, move |api| {
                    api.destroy_vnpu(card, device, vdev)
                })
                .await;
            destroyed.map_err(|e| format!("cannot destroy vNPU {vdev} on chip {phy}: {e}"))
        })
    }

    fn list(&self, phy: u32) -> BoxFuture<'_, Result<Vec<u32>, String>> {
        Box::pin(async move {
            let (card, device) = self.address(phy)?;
            let total: Result<_, DcmiError> = self
                .dcmi
                .call("total_resource", self.timeout, move |api| {
                    api.total_resource(card, device)
                })
                .await;
            total
                .map(|t| t.map(|t| t.vdev_ids).unwrap_or_default())
                .map_err(|e| format!("cannot list the vNPUs of chip {phy}: {e}"))
        })
    }
}
