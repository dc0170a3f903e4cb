//! A fake pod-resources server (`v1.PodResourcesLister`) on a chosen socket,
//! answering with the pods and allocatable devices the test sets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

use crate::Error;
use crate::proto::podresources as api;
use crate::proto::podresources::pod_resources_lister_server::{
    PodResourcesLister, PodResourcesListerServer,
};
use crate::socket::{Serving, bind_private};

/// The fake pod-resources server.
#[derive(Debug)]
pub struct PodResources {
    socket: PathBuf,
    answers: Arc<Answers>,
    serving: Serving,
}

#[derive(Debug)]
struct Answers {
    pods: watch::Sender<Vec<api::PodResources>>,
    allocatable: watch::Sender<Vec<api::ContainerDevices>>,
}

impl PodResources {
    /// Serves on `socket` (mode 0600), creating its directory if missing.
    /// Until [`PodResources::set`], List answers no pods.
    pub async fn start(socket: &Path) -> Result<Self, Error> {
        if let Some(dir) = socket.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|error| Error::io("create the directory", dir, error))?;
        }
        let listener = bind_private(socket).await?;
        let answers = Arc::new(Answers {
            pods: watch::Sender::new(Vec::new()),
            allocatable: watch::Sender::new(Vec::new()),
        });
        let service = Lister {
            answers: Arc::clone(&answers),
        };
        let routes = Routes::new(PodResourcesListerServer::new(service));
        Ok(PodResources {
            socket: socket.to_path_buf(),
            answers,
            serving: Serving::spawn(socket, listener, routes),
        })
    }

    /// The socket served.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// What List (and Get) answer from now on.
    pub fn set(&self, pods: Vec<api::PodResources>) {
        self.answers.pods.send_replace(pods);
    }

    /// What GetAllocatableResources answers from now on.
    pub fn set_allocatable(&self, devices: Vec<api::ContainerDevices>) {
        self.answers.allocatable.send_replace(devices);
    }

    /// Stops serving; the socket file stays, as when kubelet dies.
    pub async fn stop(self) {
        if let Err(error) = self.serving.stop().await {
            eprintln!("pod-resources stand-in: {error}");
        }
    }
}

#[derive(Debug, Clone)]
struct Lister {
    answers: Arc<Answers>,
}

#[tonic::async_trait]
impl PodResourcesLister for Lister {
    async fn list(
        &self,
        _request: Request<api::ListPodResourcesRequest>,
    ) -> Result<Response<api::ListPodResourcesResponse>, Status> {
        let pod_resources = self.answers.pods.borrow().clone();
        Ok(Response::new(api::ListPodResourcesResponse {
            pod_resources,
        }))
    }

    async fn get_allocatable_resources(
        &self,
        _request: Request<api::AllocatableResourcesRequest>,
    ) -> Result<Response<api::AllocatableResourcesResponse>, Status> {
        let devices = self.answers.allocatable.borrow().clone();
        Ok(Response::new(api::AllocatableResourcesResponse {
            devices,
            cpu_ids: Vec::new(),
        }))
    }

    async fn get(
        &self,
        request: Request<api::GetPodResourcesRequest>,
    ) -> Result<Response<api::GetPodResourcesResponse>, Status> {
        let wanted = request.into_inner();
        let found = self
            .answers
            .pods
            .borrow()
            .iter()
            .find(|pod| pod.name == wanted.pod_name && pod.namespace == wanted.pod_namespace)
            .cloned();
        match found {
            Some(pod) => Ok(Response::new(api::GetPodResourcesResponse {
                pod_resources: Some(pod),
            })),
            None => Err(Status::not_found(format!(
                "pod {} in namespace {} not found",
                wanted.pod_name, wanted.pod_namespace
            ))),
        }
    }
}
