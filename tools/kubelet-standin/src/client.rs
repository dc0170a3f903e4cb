//! kubelet's calls into one plugin socket: options, ListAndWatch (as a
//! [`Watch`]), GetPreferredAllocation, Allocate and PreStartContainer.

use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Response, Status, Streaming};

use crate::proto::deviceplugin::device_plugin_client::DevicePluginClient;
use crate::proto::deviceplugin::{
    AllocateRequest, AllocateResponse, ContainerAllocateRequest,
    ContainerPreferredAllocationRequest, Device, DevicePluginOptions, Empty, ListAndWatchResponse,
    PreStartContainerRequest, PreferredAllocationRequest,
};
use crate::{Error, dial};

/// How long a unary call (or the start of a stream) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A DevicePlugin client on one plugin socket.
#[derive(Debug, Clone)]
pub struct PluginClient {
    socket: PathBuf,
    client: DevicePluginClient<Channel>,
}

impl PluginClient {
    /// Dials the plugin socket at `socket`.
    pub async fn connect(socket: &Path) -> Result<PluginClient, Error> {
        let channel = dial(socket).await?;
        Ok(PluginClient {
            socket: socket.to_path_buf(),
            client: DevicePluginClient::new(channel),
        })
    }

    /// The plugin socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The generated client, for requests the helpers do not build (hostile
    /// ones, for instance).
    pub fn raw(&mut self) -> &mut DevicePluginClient<Channel> {
        &mut self.client
    }

    /// `GetDevicePluginOptions`.
    pub async fn options(&mut self) -> Result<DevicePluginOptions, Error> {
        let call = self.client.get_device_plugin_options(Empty {});
        unary(&self.socket, "GetDevicePluginOptions", call).await
    }

    /// Starts `ListAndWatch`.
    pub async fn watch(&mut self) -> Result<Watch, Error> {
        let call = self.client.list_and_watch(Empty {});
        let stream = unary(&self.socket, "ListAndWatch", call).await?;
        Ok(Watch {
            socket: self.socket.clone(),
            stream,
            last: None,
        })
    }

    /// `Allocate` with one container request per entry of `containers`.
    pub async fn allocate(
        &mut self,
        containers: Vec<Vec<String>>,
    ) -> Result<AllocateResponse, Error> {
        let request = AllocateRequest {
            container_requests: containers
                .into_iter()
                .map(|devices_ids| ContainerAllocateRequest { devices_ids })
                .collect(),
        };
        let call = self.client.allocate(request);
        unary(&self.socket, "Allocate", call).await
    }

    /// `GetPreferredAllocation` for one container; returns the IDs chosen.
    pub async fn preferred(
        &mut self,
        available: Vec<String>,
        must_include: Vec<String>,
        size: i32,
    ) -> Result<Vec<String>, Error> {
        let request = PreferredAllocationRequest {
            container_requests: vec![ContainerPreferredAllocationRequest {
                available_device_i_ds: available,
                must_include_device_i_ds: must_include,
                allocation_size: size,
            }],
        };
        let call = self.client.get_preferred_allocation(request);
        let response = unary(&self.socket, "GetPreferredAllocation", call).await?;
        let mut containers = response.container_responses.into_iter();
        match (containers.next(), containers.next()) {
            (Some(container), None) => Ok(container.device_i_ds),
            (first, _) => Err(Error::Protocol {
                call: "GetPreferredAllocation",
                socket: self.socket.clone(),
                detail: format!(
                    "{} container responses for 1 container request",
                    if first.is_some() { "2 or more" } else { "0" }
                ),
            }),
        }
    }

    /// `PreStartContainer` for the given device IDs.
    pub async fn pre_start(&mut self, devices_ids: Vec<String>) -> Result<(), Error> {
        let call = self
            .client
            .pre_start_container(PreStartContainerRequest { devices_ids });
        unary(&self.socket, "PreStartContainer", call).await?;
        Ok(())
    }
}

/// Awaits one call with [`CALL_TIMEOUT`], naming the call and the socket in
/// any error.
async fn unary<T>(
    socket: &Path,
    name: &'static str,
    call: impl Future<Output = Result<Response<T>, Status>>,
) -> Result<T, Error> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(Error::rpc(name, socket, status)),
        Err(_) => Err(Error::Timeout {
            what: format!("the answer to {name} on {}", socket.display()),
            after: CALL_TIMEOUT,
        }),
    }
}

/// One open ListAndWatch stream.
#[derive(Debug)]
pub struct Watch {
    socket: PathBuf,
    stream: Streaming<ListAndWatchResponse>,
    last: Option<Vec<Device>>,
}

impl Watch {
    /// The next full device list from the stream; an error on timeout, on a
    /// status from the stream, or when the stream ends.
    pub async fn next(&mut self, timeout: Duration) -> Result<Vec<Device>, Error> {
        match tokio::time::timeout(timeout, self.stream.message()).await {
            Ok(Ok(Some(response))) => {
                self.last = Some(response.devices.clone());
                Ok(response.devices)
            }
            Ok(Ok(None)) => Err(Error::StreamEnded {
                socket: self.socket.clone(),
            }),
            Ok(Err(status)) => Err(Error::rpc("ListAndWatch", &self.socket, status)),
            Err(_) => Err(Error::Timeout {
                what: format!("a ListAndWatch list on {}", self.socket.display()),
                after: timeout,
            }),
        }
    }

    /// Reads lists until `accept(&list)` holds and returns that list. The
    /// timeout covers the whole wait; its error shows the last list seen.
    pub async fn until(
        &mut self,
        timeout: Duration,
        mut accept: impl FnMut(&[Device]) -> bool,
    ) -> Result<Vec<Device>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let list = match self.next(left).await {
                Ok(list) => list,
                Err(Error::Timeout { .. }) => {
                    return Err(Error::Timeout {
                        what: format!(
                            "a ListAndWatch list on {} that passes the check (last list: {})",
                            self.socket.display(),
                            self.last
                                .as_deref()
                                .map_or_else(|| "none".to_string(), summary)
                        ),
                        after: timeout,
                    });
                }
                Err(other) => return Err(other),
            };
            if accept(&list) {
                return Ok(list);
            }
        }
    }

    /// The last list read from the stream, if any.
    pub fn last(&self) -> Option<&[Device]> {
        self.last.as_deref()
    }

    /// The plugin socket the stream is on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

/// `ID health` pairs, the first 16 of them.
fn summary(devices: &[Device]) -> String {
    const SHOWN: usize = 16;
    let mut text = String::new();
    for (index, device) in devices.iter().take(SHOWN).enumerate() {
        let separator = if index == 0 { "" } else { ", " };
        let _ = write!(text, "{separator}{} {}", device.id, device.health);
    }
    if devices.len() > SHOWN {
        let _ = write!(text, ", ... {} devices in all", devices.len());
    }
    if devices.is_empty() {
        text.push_str("no devices");
    }
    text
}
