//! NodePrepareResources / NodeUnprepareResources: the rules (pure) and the
//! one serialized state that applies them (checkpoint, CDI files).
//!
//! Prepare of a claim: read it from the API server (its UID must match and
//! it must be allocated), keep the results of our driver only, refuse
//! another pool or a device this node does not have, refuse a chip another
//! live claim holds unless either side has admin access, then record
//! `PrepareStarted`, write the CDI spec, record `PrepareCompleted`, answer.
//! Prepare of a prepared claim answers what the first one did. Unprepare
//! removes exactly what Prepare made; an unknown claim is already done.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::api::resource::v1::ResourceClaim;
use tokio::sync::Mutex;

use super::DRIVER;
use super::cdi::{self, CdiSettings, ChipGrant};
use super::checkpoint::{self, Claims, PrepareState, PreparedClaim, PreparedDevice, VnpuRecord};
use super::devices::phy_of;
use super::partition::{fits, parse_partition, partition_name, partitionable, share};
use super::vnpu::VnpuControl;
use crate::device::model::{Chip, Inventory};

/// A claim as kubelet names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRef {
    pub namespace: String,
    pub uid: String,
    pub name: String,
}

/// Reads claims from the API server (a trait so tests answer themselves).
pub trait ClaimSource: Send + Sync + std::fmt::Debug {
    fn get<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ResourceClaim, String>>;
}

/// The API server as a [`ClaimSource`]: one GET per claim per prepare.
#[derive(Clone)]
pub struct ApiClaims(pub kube::Client);

impl std::fmt::Debug for ApiClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiClaims")
    }
}

impl ClaimSource for ApiClaims {
    fn get<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<ResourceClaim, String>> {
        Box::pin(async move {
            kube::Api::<ResourceClaim>::namespaced(self.0.clone(), namespace)
                .get(name)
                .await
                .map_err(|e| format!("cannot read ResourceClaim {namespace}/{name}: {e}"))
        })
    }
}

/// One of our allocation results, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// Base request name (`main` of `main/sub`).
    pub request: String,
    pub device: String,
    pub phy_id: u32,
    pub admin_access: bool,
    /// The vNPU template of a partition device; `None` for a whole chip.
    pub template: Option<&'static str>,
}

/// The results of `claim` that belong to this driver on `pool`, checked
/// against the chips of `inventory` (pure). Partition devices are known
/// only when `partitions` is on.
pub fn choose(
    claim: &ResourceClaim,
    expected_uid: &str,
    pool: &str,
    inventory: &Inventory,
    partitions: bool,
) -> Result<Vec<Chosen>, String> {
    let uid = claim.metadata.uid.as_deref().unwrap_or_default();
    if uid != expected_uid {
        return Err(format!(
            "claim UID is {uid:?} in the API server, kubelet asked for {expected_uid:?}"
        ));
    }
    let allocation = claim
        .status
        .as_ref()
        .and_then(|s| s.allocation.as_ref())
        .ok_or_else(|| "claim is not allocated".to_string())?;
    let results = allocation
        .devices
        .as_ref()
        .and_then(|d| d.results.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut chosen = Vec::new();
    for result in results.iter().filter(|r| r.driver == DRIVER) {
        if result.pool != pool {
            return Err(format!(
                "device {} is in pool {:?}, this node's pool is {pool:?}",
                result.device, result.pool
            ));
        }
        let partition = inventory
            .family()
            .filter(|_| partitions)
            .and_then(|family| parse_partition(&result.device, family));
        let (phy_id, template) = match partition {
            Some((phy, template)) => (Some(phy), Some(template)),
            None => (phy_of(&result.device), None),
        };
        let phy_id = phy_id
            .filter(|phy| {
                let chip = inventory.chip_by_phy(*phy);
                match (chip, template) {
                    (Some(chip), Some(template)) => {
                        published_partition(chip, template, &result.device)
                    }
                    (chip, None) => chip.is_some(),
                    (None, Some(_)) => false,
                }
            })
            .ok_or_else(|| format!("device {:?} does not exist on this node", result.device))?;
        let request = result
            .request
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        chosen.push(Chosen {
            request,
            device: result.device.clone(),
            phy_id,
            admin_access: result.admin_access.unwrap_or(false),
            template,
        });
    }
    Ok(chosen)
}

/// Whether `name` is one of the template devices published for `chip`
/// (the index within what fits on the chip).
fn published_partition(chip: &Chip, template: &str, name: &str) -> bool {
    partitionable(chip)
        && share(chip, template).is_some_and(|s| {
            (0..fits(chip, s)).any(|i| partition_name(chip.phy_id, template, i) == name)
        })
}

/// The chip a prepared device sits on.
fn phy_of_prepared(device: &PreparedDevice) -> Option<u32> {
    device
        .vnpu
        .as_ref()
        .map(|v| v.phy_id)
        .or_else(|| phy_of(&device.device))
}

/// A device of `chosen` another prepared claim holds, where neither has
/// admin access (pure). A whole chip and a vNPU on it also conflict: the
/// counters keep the scheduler from that, this keeps the node from it.
pub fn conflict(claims: &Claims, uid: &str, chosen: &[Chosen]) -> Option<String> {
    for want in chosen.iter().filter(|c| !c.admin_access) {
        for (other, claim) in claims.claims.iter().filter(|(other, _)| *other != uid) {
            let held = claim.devices.iter().filter(|d| !d.admin_access).any(|d| {
                d.device == want.device
                    || (phy_of_prepared(d) == Some(want.phy_id)
                        && (want.template.is_none() || d.vnpu.is_none()))
            });
            if held {
                return Some(format!(
                    "device {} is already prepared for claim {}/{} ({other})",
                    want.device, claim.namespace, claim.name
                ));
            }
        }
    }
    None
}

/// What `chosen` becomes: the CDI grants (each device with its request's
/// visible ids) and the devices Prepare returns (each with only its own
/// CDI ID). `vdevs` are the vNPUs created so far, by device name.
pub fn plan(
    uid: &str,
    pool: &str,
    chosen: &[Chosen],
    vdevs: &BTreeMap<String, u32>,
) -> (Vec<ChipGrant>, Vec<PreparedDevice>) {
    let visible = |c: &Chosen| vdevs.get(&c.device).copied().unwrap_or(c.phy_id);
    let mut by_request: BTreeMap<&str, BTreeSet<u32>> = BTreeMap::new();
    for c in chosen {
        by_request.entry(&c.request).or_default().insert(visible(c));
    }
    let mut grants: Vec<ChipGrant> = Vec::new();
    let mut devices: Vec<PreparedDevice> = Vec::new();
    for c in chosen {
        if let Some(existing) = devices.iter_mut().find(|d| d.device == c.device) {
            // One chip in two requests of the claim: one CDI device, both names.
            if !existing.requests.contains(&c.request) {
                existing.requests.push(c.request.clone());
            }
            continue;
        }
        grants.push(ChipGrant {
            phy_id: c.phy_id,
            device: c.device.clone(),
            vdev_id: vdevs.get(&c.device).copied(),
            request_chips: by_request[c.request.as_str()].iter().copied().collect(),
        });
        devices.push(PreparedDevice {
            requests: vec![c.request.clone()],
            pool: pool.to_string(),
            device: c.device.clone(),
            cdi_ids: vec![cdi::qualified(uid, &c.device)],
            admin_access: c.admin_access,
            vnpu: c.template.map(|template| VnpuRecord {
                phy_id: c.phy_id,
                template: template.to_string(),
                vdev_id: vdevs.get(&c.device).copied(),
            }),
        });
    }
    (grants, devices)
}

/// The serialized prepare/unprepare state of the node.
#[derive(Debug)]
pub struct Preparer {
    pub pool: String,
    pub inventory: Arc<Inventory>,
    pub cdi: CdiSettings,
    pub checkpoint_dir: PathBuf,
    pub source: Arc<dyn ClaimSource>,
    /// Creates and destroys the vNPUs of partition devices.
    vnpus: Option<Arc<dyn VnpuControl>>,
    /// Partition devices are published (and this driver owns every vNPU
    /// of a partitionable chip).
    partitions: bool,
    claims: Mutex<Claims>,
}

impl Preparer {
    /// Loads the checkpoint (refusing to start on a corrupt one: prepared
    /// claims would be forgotten) and removes CDI files no prepared claim
    /// owns: those of another boot or of a prepare that never completed.
    pub fn open(
        pool: String,
        inventory: Arc<Inventory>,
        cdi: CdiSettings,
        checkpoint_dir: PathBuf,
        boot_id: &str,
        source: Arc<dyn ClaimSource>,
    ) -> Result<Self, String> {
        let (mut claims, stale) =
            checkpoint::load(&checkpoint_dir, boot_id).map_err(|e| e.to_string())?;
        if !stale.is_empty() {
            tracing::info!(
                claims = stale.len(),
                "DRA checkpoint of another boot discarded"
            );
        }
        claims
            .claims
            .retain(|_, c| c.state == PrepareState::PrepareCompleted);
        for uid in cdi::claims_on_disk(&cdi.dir) {
            if !claims.claims.contains_key(&uid) {
                cdi::remove(&cdi.dir, &uid).map_err(|e| e.to_string())?;
            }
        }
        checkpoint::store(&checkpoint_dir, &claims).map_err(|e| e.to_string())?;
        Ok(Self {
            pool,
            inventory,
            cdi,
            checkpoint_dir,
            source,
            vnpus: None,
            partitions: false,
            claims: Mutex::new(claims),
        })
    }

    /// Gives the preparer its vNPU control (to destroy the vNPUs of
    /// prepared claims whatever `partitions` says) and turns partition
    /// devices on or off.
    #[must_use]
    pub fn with_vnpus(mut self, vnpus: Arc<dyn VnpuControl>, partitions: bool) -> Self {
        self.vnpus = Some(vnpus);
        self.partitions = partitions;
        self
    }

    /// With partitions on, destroys every vNPU of a partitionable chip that
    /// no prepared claim holds: those of a prepare a restart cut short, or
    /// of claims of another boot. Returns how many were destroyed.
    pub async fn sweep_vnpus(&self) -> Result<usize, String> {
        let Some(control) = self.vnpus.as_ref().filter(|_| self.partitions) else {
            return Ok(0);
        };
        let claims = self.claims.lock().await;
        let held: BTreeSet<(u32, u32)> = claims
            .claims
            .values()
            .flat_map(|c| &c.devices)
            .filter_map(|d| d.vnpu.as_ref())
            .filter_map(|v| Some((v.phy_id, v.vdev_id?)))
            .collect();
        let mut destroyed = 0;
        for chip in self.inventory.chips.iter().filter(|c| partitionable(c)) {
            for vdev in control.list(chip.phy_id).await? {
                if !held.contains(&(chip.phy_id, vdev)) {
                    control.destroy(chip.phy_id, vdev).await?;
                    tracing::info!(
                        phy = chip.phy_id,
                        vdev,
                        "vNPU no prepared claim holds destroyed"
                    );
                    destroyed += 1;
                }
            }
        }
        Ok(destroyed)
    }

    /// The prepared claims (for tests and the health stream).
    pub async fn prepared(&self) -> Claims {
        self.claims.lock().await.clone()
    }

    /// Prepares one claim; the error is the per-claim message for kubelet.
    pub async fn prepare(&self, claim: &ClaimRef) -> Result<Vec<PreparedDevice>, String> {
        let mut claims = self.claims.lock().await;
        if let Some(done) = claims.claims.get(&claim.uid) {
            return Ok(done.devices.clone());
        }
        let object = self.source.get(&claim.namespace, &claim.name).await?;
        let chosen = choose(
            &object,
            &claim.uid,
            &self.pool,
            &self.inventory,
            self.partitions,
        )?;
        if let Some(conflict) = conflict(&claims, &claim.uid, &chosen) {
            return Err(conflict);
        }
        let mut vdevs = BTreeMap::new();
        let (_, devices) = plan(&claim.uid, &self.pool, &chosen, &vdevs);
        let mut record = PreparedClaim {
            namespace: claim.namespace.clone(),
            name: claim.name.clone(),
            state: PrepareState::PrepareStarted,
            devices: devices.clone(),
        };
        if devices.is_empty() {
            record.state = PrepareState::PrepareCompleted;
            claims.claims.insert(claim.uid.clone(), record);
            return self.persist(&mut claims, &claim.uid).map(|()| devices);
        }
        claims.claims.insert(claim.uid.clone(), record.clone());
        self.persist(&mut claims, &claim.uid)?;
        // Each vNPU goes into the checkpoint as soon as it exists, so a
        // restart knows to destroy it.
        for c in &chosen {
            let Some(template) = c.template else {
                continue;
            };
            if vdevs.contains_key(&c.device) {
                continue;
            }
            let created = match self.vnpus.as_ref() {
                Some(control) => control.create(c.phy_id, template).await,
                None => Err(format!(
                    "device {} is a vNPU and this driver cannot create vNPUs",
                    c.device
                )),
            };
            match created {
                Ok(vdev) => {
                    tracing::info!(claim = %claim.uid, phy = c.phy_id, vdev, template, "vNPU created");
                    vdevs.insert(c.device.clone(), vdev);
                    record.devices = plan(&claim.uid, &self.pool, &chosen, &vdevs).1;
                    claims.claims.insert(claim.uid.clone(), record.clone());
                    if let Err(error) = checkpoint::store(&self.checkpoint_dir, &claims) {
                        return Err(self
                            .abandon(&mut claims, &claim.uid, error.to_string())
                            .await);
                    }
                }
                Err(error) => {
                    let error = format!("device {}: {error}", c.device);
                    return Err(self.abandon(&mut claims, &claim.uid, error).await);
                }
            }
        }
        let (grants, devices) = plan(&claim.uid, &self.pool, &chosen, &vdevs);
        let family = self
            .inventory
            .family()
            .ok_or_else(|| "this node has no chips".to_string())?;
        let spec = cdi::spec_for(&self.cdi, family, &claim.uid, &grants);
        if let Err(error) = cdi::write(&self.cdi.dir, &claim.uid, &spec) {
            return Err(self
                .abandon(&mut claims, &claim.uid, error.to_string())
                .await);
        }
        record.devices = devices.clone();
        record.state = PrepareState::PrepareCompleted;
        claims.claims.insert(claim.uid.clone(), record);
        if let Err(error) = checkpoint::store(&self.checkpoint_dir, &claims) {
            return Err(self
                .abandon(&mut claims, &claim.uid, error.to_string())
                .await);
        }
        tracing::info!(claim = %claim.uid, devices = devices.len(), "claim prepared");
        Ok(devices)
    }

    /// Undoes a prepare that failed part-way: destroys the vNPUs it
    /// created, removes its CDI file and forgets it. Returns `error`, with
    /// what could not be undone added.
    async fn abandon(&self, claims: &mut Claims, uid: &str, error: String) -> String {
        let mut error = error;
        let devices = claims
            .claims
            .get(uid)
            .map(|c| c.devices.clone())
            .unwrap_or_default();
        if let Err(left) = self.destroy_vnpus(&devices).await {
            error = format!("{error}; {left}");
        }
        let _ = cdi::remove(&self.cdi.dir, uid);
        claims.claims.remove(uid);
        let _ = checkpoint::store(&self.checkpoint_dir, claims);
        error
    }

    /// Destroys the created vNPUs of `devices`; the first failure.
    async fn destroy_vnpus(&self, devices: &[PreparedDevice]) -> Result<(), String> {
        for device in devices {
            let Some(vnpu) = device.vnpu.as_ref() else {
                continue;
            };
            let Some(vdev) = vnpu.vdev_id else {
                continue;
            };
            let control = self.vnpus.as_ref().ok_or_else(|| {
                format!("cannot destroy vNPU {vdev}: this driver has no vNPU control")
            })?;
            control.destroy(vnpu.phy_id, vdev).await?;
            tracing::info!(phy = vnpu.phy_id, vdev, "vNPU destroyed");
        }
        Ok(())
    }

    /// Unprepares one claim; unknown claims are already unprepared. Its
    /// vNPUs are destroyed first; one that cannot be destroyed keeps the
    /// claim (kubelet retries), without the ones already gone.
    pub async fn unprepare(&self, uid: &str) -> Result<(), String> {
        let mut claims = self.claims.lock().await;
        let Some(mut record) = claims.claims.get(uid).cloned() else {
            return Ok(());
        };
        for index in 0..record.devices.len() {
            let one = std::slice::from_ref(&record.devices[index]);
            let result = self.destroy_vnpus(one).await;
            if let Some(vnpu) = record.devices[index]
                .vnpu
                .as_mut()
                .filter(|_| result.is_ok())
            {
                vnpu.vdev_id = None;
            }
            if let Err(error) = result {
                claims.claims.insert(uid.to_string(), record);
                let _ = checkpoint::store(&self.checkpoint_dir, &claims);
                return Err(error);
            }
        }
        cdi::remove(&self.cdi.dir, uid).map_err(|e| e.to_string())?;
        claims.claims.remove(uid);
        checkpoint::store(&self.checkpoint_dir, &claims).map_err(|e| e.to_string())?;
        tracing::info!(claim = %uid, "claim unprepared");
        Ok(())
    }

    /// Writes the checkpoint; on failure forgets `uid` again so memory and
    /// disk agree.
    fn persist(&self, claims: &mut Claims, uid: &str) -> Result<(), String> {
        checkpoint::store(&self.checkpoint_dir, claims).map_err(|error| {
            claims.claims.remove(uid);
            let _ = cdi::remove(&self.cdi.dir, uid);
            error.to_string()
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
