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
use super::checkpoint::{self, Claims, PrepareState, PreparedClaim, PreparedDevice};
use super::devices::phy_of;
use crate::device::model::Inventory;

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
}

/// The results of `claim` that belong to this driver on `pool`, checked
/// against the chips of `inventory` (pure).
pub fn choose(
    claim: &ResourceClaim,
    expected_uid: &str,
    pool: &str,
    inventory: &Inventory,
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
        let phy_id = phy_of(&result.device)
            .filter(|phy| inventory.chip_by_phy(*phy).is_some())
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
        });
    }
    Ok(chosen)
}

/// A chip of `chosen` another prepared claim holds, where neither has
/// admin access (pure).
pub fn conflict(claims: &Claims, uid: &str, chosen: &[Chosen]) -> Option<String> {
    for want in chosen.iter().filter(|c| !c.admin_access) {
        for (other, claim) in claims.claims.iter().filter(|(other, _)| *other != uid) {
            let held = claim
                .devices
                .iter()
                .any(|d| d.device == want.device && !d.admin_access);
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

/// What `chosen` becomes: the CDI grants (each chip with its request's
/// chips) and the devices Prepare returns (each with only its own CDI ID).
pub fn plan(uid: &str, pool: &str, chosen: &[Chosen]) -> (Vec<ChipGrant>, Vec<PreparedDevice>) {
    let mut by_request: BTreeMap<&str, BTreeSet<u32>> = BTreeMap::new();
    for c in chosen {
        by_request.entry(&c.request).or_default().insert(c.phy_id);
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
            request_chips: by_request[c.request.as_str()].iter().copied().collect(),
        });
        devices.push(PreparedDevice {
            requests: vec![c.request.clone()],
            pool: pool.to_string(),
            device: c.device.clone(),
            cdi_ids: vec![cdi::qualified(uid, c.phy_id)],
            admin_access: c.admin_access,
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
            claims: Mutex::new(claims),
        })
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
        let chosen = choose(&object, &claim.uid, &self.pool, &self.inventory)?;
        if let Some(conflict) = conflict(&claims, &claim.uid, &chosen) {
            return Err(conflict);
        }
        let (grants, devices) = plan(&claim.uid, &self.pool, &chosen);
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
        let family = self
            .inventory
            .family()
            .ok_or_else(|| "this node has no chips".to_string())?;
        let spec = cdi::spec_for(&self.cdi, family, &claim.uid, &grants);
        if let Err(error) = cdi::write(&self.cdi.dir, &claim.uid, &spec) {
            let _ = cdi::remove(&self.cdi.dir, &claim.uid);
            claims.claims.remove(&claim.uid);
            let _ = checkpoint::store(&self.checkpoint_dir, &claims);
            return Err(error.to_string());
        }
        record.state = PrepareState::PrepareCompleted;
        claims.claims.insert(claim.uid.clone(), record);
        self.persist(&mut claims, &claim.uid)?;
        tracing::info!(claim = %claim.uid, devices = devices.len(), "claim prepared");
        Ok(devices)
    }

    /// Unprepares one claim; unknown claims are already unprepared.
    pub async fn unprepare(&self, uid: &str) -> Result<(), String> {
        let mut claims = self.claims.lock().await;
        if !claims.claims.contains_key(uid) {
            return Ok(());
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
