//! The gRPC services of the DRA face: `DRAPlugin` v1 and v1beta1 and
//! `DRAResourceHealth` v1 and v1alpha1 on the driver socket, and the
//! plugin-watcher `Registration` on the registration socket. They only
//! translate; the rules live in `prepare.rs` and `devices.rs`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::DRIVER;
use super::checkpoint::PreparedDevice;
use super::devices::device_name;
use super::partition;
use super::prepare::{ClaimRef, Preparer};
use crate::device::health::Snapshot;
use crate::device::model::Inventory;
use crate::proto::pluginregistration as reg;
use crate::telemetry::http::PluginStatus;

/// The services kubelet may pick, in order of preference.
pub const SUPPORTED_VERSIONS: [&str; 4] = [
    "v1.DRAPlugin",
    "v1beta1.DRAPlugin",
    "v1.DRAResourceHealth",
    "v1alpha1.DRAResourceHealth",
];
/// The health report is re-sent at least this often (kubelet marks a
/// device Unknown after [`HEALTH_TIMEOUT_SECONDS`] without one).
pub const HEALTH_RESEND: Duration = Duration::from_secs(15);
pub const HEALTH_TIMEOUT_SECONDS: i64 = 30;
/// kubelet truncates longer messages.
const MAX_MESSAGE: usize = 1024;

/// What every DRA service reads.
#[derive(Debug, Clone)]
pub struct DraContext {
    pub preparer: Arc<Preparer>,
    pub inventory: Arc<Inventory>,
    pub pool: String,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// Template devices are published, so their health is reported too.
    pub partitions: bool,
    /// Ends open health streams when the server stops.
    pub serving: CancellationToken,
}

/// One device's health as the stream reports it (version-neutral).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub device: String,
    pub healthy: bool,
    pub message: String,
}

/// Every device's health from one snapshot (pure): each chip's, and with
/// `partitions` the same for each of its template devices.
pub fn health_report(inventory: &Inventory, snapshot: &Snapshot, partitions: bool) -> Vec<Health> {
    let chips = inventory
        .chips
        .iter()
        .map(|chip| {
            let state = snapshot.chips.get(&chip.phy_id);
            let healthy = state.is_some_and(|s| s.healthy);
            let mut message = match state {
                None => "no health reading".to_string(),
                Some(s) if s.healthy => String::new(),
                Some(s) => {
                    let codes: Vec<String> = s.faults.iter().map(|f| f.code.to_string()).collect();
                    if codes.is_empty() {
                        s.level.as_str().to_string()
                    } else {
                        format!("{}: {}", s.level.as_str(), codes.join(","))
                    }
                }
            };
            if message.len() > MAX_MESSAGE {
                message.truncate(MAX_MESSAGE - 3);
                message.push_str("...");
            }
            Health {
                device: device_name(chip.phy_id),
                healthy,
                message,
            }
        })
        .collect::<Vec<_>>();
    if !partitions {
        return chips;
    }
    let mut out = Vec::new();
    for (chip, health) in inventory.chips.iter().zip(chips) {
        out.push(health.clone());
        if partition::partitionable(chip) {
            for template in partition::templates(chip.family) {
                let Some(share) = partition::share(chip, template) else {
                    continue;
                };
                for index in 0..partition::fits(chip, share) {
                    out.push(Health {
                        device: partition::partition_name(chip.phy_id, template, index),
                        ..health.clone()
                    });
                }
            }
        }
    }
    out
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Reports on connect, on every snapshot change and every [`HEALTH_RESEND`].
fn health_reports(
    context: &DraContext,
) -> impl Stream<Item = Vec<Health>> + Send + 'static + use<> {
    let state = (context.snapshots.clone(), true, context.clone());
    futures::stream::unfold(state, |(mut snapshots, first, context)| async move {
        if !first {
            tokio::select! {
                () = context.serving.cancelled() => return None,
                () = crate::changes::changed(&mut snapshots) => {}
                () = tokio::time::sleep(HEALTH_RESEND) => {}
            }
        }
        let snapshot = snapshots.borrow_and_update().clone();
        let report = health_report(&context.inventory, &snapshot, context.partitions);
        Some((report, (snapshots, false, context)))
    })
}

async fn prepare_all(
    context: &DraContext,
    claims: Vec<ClaimRef>,
) -> Vec<(String, Result<Vec<PreparedDevice>, String>)> {
    let mut out = Vec::new();
    for claim in claims {
        let result = context.preparer.prepare(&claim).await;
        if let Err(error) = &result {
            tracing::warn!(claim = %claim.uid, namespace = %claim.namespace, name = %claim.name, %error, "prepare refused");
        }
        out.push((claim.uid, result));
    }
    out
}

async fn unprepare_all(
    context: &DraContext,
    uids: Vec<String>,
) -> Vec<(String, Result<(), String>)> {
    let mut out = Vec::new();
    for uid in uids {
        let result = context.preparer.unprepare(&uid).await;
        if let Err(error) = &result {
            tracing::warn!(claim = %uid, %error, "unprepare failed");
        }
        out.push((uid, result));
    }
    out
}

/// Implements `DRAPlugin` and `DRAResourceHealth` for one proto version;
/// the versions differ only in `Device.share_id` (v1 only).
macro_rules! dra_version {
    ($plugin:ident, $health:ident, $pb:path, $hpb:path, $share:tt) => {
        /// `DRAPlugin` of one API version.
        #[derive(Debug, Clone)]
        pub struct $plugin(pub DraContext);

        /// `DRAResourceHealth` of one API version.
        #[derive(Debug, Clone)]
        pub struct $health(pub DraContext);

        const _: () = {
            use $hpb as hpb;
            use $pb as pb;

            fn claim_ref(claim: pb::Claim) -> ClaimRef {
                ClaimRef {
                    namespace: claim.namespace,
                    uid: claim.uid,
                    name: claim.name,
                }
            }

            fn device(d: PreparedDevice) -> pb::Device {
        dra_version!(@device d, $share)
            }

            #[tonic::async_trait]
            impl pb::dra_plugin_server::DraPlugin for $plugin {
                async fn node_prepare_resources(
                    &self,
                    request: Request<pb::NodePrepareResourcesRequest>,
                ) -> Result<Response<pb::NodePrepareResourcesResponse>, Status> {
                    let claims = request
                        .into_inner()
                        .claims
                        .into_iter()
                        .map(claim_ref)
                        .collect();
                    let mut out = HashMap::new();
                    for (uid, result) in prepare_all(&self.0, claims).await {
                        let answer = match result {
                            Ok(devices) => pb::NodePrepareResourceResponse {
                                devices: devices.into_iter().map(device).collect(),
                                error: String::new(),
                            },
                            Err(error) => pb::NodePrepareResourceResponse {
                                devices: Vec::new(),
                                error,
                            },
                        };
                        out.insert(uid, answer);
                    }
                    Ok(Response::new(pb::NodePrepareResourcesResponse {
                        claims: out,
                    }))
                }

                async fn node_unprepare_resources(
                    &self,
                    request: Request<pb::NodeUnprepareResourcesRequest>,
                ) -> Result<Response<pb::NodeUnprepareResourcesResponse>, Status> {
                    let uids = request
                        .into_inner()
                        .claims
                        .into_iter()
                        .map(|c| c.uid)
                        .collect();
                    let mut out = HashMap::new();
                    for (uid, result) in unprepare_all(&self.0, uids).await {
                        let error = result.err().unwrap_or_default();
                        out.insert(uid, pb::NodeUnprepareResourceResponse { error });
                    }
                    Ok(Response::new(pb::NodeUnprepareResourcesResponse {
                        claims: out,
                    }))
                }
            }

            #[tonic::async_trait]
            impl hpb::dra_resource_health_server::DraResourceHealth for $health {
                type NodeWatchResourcesStream = Pin<
                    Box<dyn Stream<Item = Result<hpb::NodeWatchResourcesResponse, Status>> + Send>,
                >;

                async fn node_watch_resources(
                    &self,
                    _request: Request<hpb::NodeWatchResourcesRequest>,
                ) -> Result<Response<Self::NodeWatchResourcesStream>, Status> {
                    use futures::StreamExt;
                    let pool = self.0.pool.clone();
                    let stream = health_reports(&self.0).map(move |report| {
                        let now = unix_now();
                        let devices = report
                            .into_iter()
                            .map(|h| hpb::DeviceHealth {
                                device: Some(hpb::DeviceIdentifier {
                                    pool_name: pool.clone(),
                                    device_name: h.device,
                                }),
                                health: if h.healthy {
                                    hpb::HealthStatus::Healthy as i32
                                } else {
                                    hpb::HealthStatus::Unhealthy as i32
                                },
                                last_updated_time: now,
                                health_check_timeout_seconds: HEALTH_TIMEOUT_SECONDS,
                                message: h.message,
                            })
                            .collect();
                        Ok(hpb::NodeWatchResourcesResponse { devices })
                    });
                    Ok(Response::new(Box::pin(stream)))
                }
            }
        };
    };
    (@device $d:ident, share) => {
        pb::Device {
            request_names: $d.requests,
            pool_name: $d.pool,
            device_name: $d.device,
            cdi_device_ids: $d.cdi_ids,
            share_id: None,
        }
    };
    (@device $d:ident, noshare) => {
        pb::Device {
            request_names: $d.requests,
            pool_name: $d.pool,
            device_name: $d.device,
            cdi_device_ids: $d.cdi_ids,
        }
    };
}

dra_version!(
    PluginV1,
    HealthV1,
    crate::proto::dra::v1,
    crate::proto::drahealth::v1,
    share
);
dra_version!(
    PluginV1beta1,
    HealthV1alpha1,
    crate::proto::dra::v1beta1,
    crate::proto::drahealth::v1alpha1,
    noshare
);

/// The plugin-watcher side: tells kubelet who we are and where to call.
#[derive(Debug, Clone)]
pub struct RegistrationService {
    /// Absolute path of the driver socket.
    pub endpoint: String,
    pub status: watch::Sender<PluginStatus>,
}

#[tonic::async_trait]
impl reg::registration_server::Registration for RegistrationService {
    async fn get_info(
        &self,
        _request: Request<reg::InfoRequest>,
    ) -> Result<Response<reg::PluginInfo>, Status> {
        Ok(Response::new(reg::PluginInfo {
            r#type: "DRAPlugin".to_string(),
            name: DRIVER.to_string(),
            endpoint: self.endpoint.clone(),
            supported_versions: SUPPORTED_VERSIONS
                .iter()
                .map(|v| (*v).to_string())
                .collect(),
        }))
    }

    async fn notify_registration_status(
        &self,
        request: Request<reg::RegistrationStatus>,
    ) -> Result<Response<reg::RegistrationStatusResponse>, Status> {
        let status = request.into_inner();
        if status.plugin_registered {
            tracing::info!("kubelet registered the DRA driver");
            self.status.send_modify(|s| {
                if s.registered {
                    s.kubelet_restarts += 1;
                }
                s.registered = true;
                s.generation += 1;
            });
        } else {
            tracing::warn!(error = %status.error, "kubelet refused the DRA driver");
            self.status.send_modify(|s| {
                s.registered = false;
                s.generation += 1;
            });
        }
        Ok(Response::new(reg::RegistrationStatusResponse {}))
    }
}
