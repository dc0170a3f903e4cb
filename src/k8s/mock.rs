//! A fake API server for request-shape tests: every request the client
//! sends is recorded (method, path and query, content type, JSON body) and
//! answered by a test-supplied function. Test-only.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use kube::Client;
use serde_json::{Value, json};

/// One request as the API server would have seen it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    /// Path with query, e.g. `/api/v1/namespaces/kube-system/configmaps/x`.
    pub uri: String,
    pub content_type: Option<String>,
    pub body: Value,
}

impl Recorded {
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }
}

type Handler = dyn Fn(&Recorded) -> (u16, Value) + Send + Sync;

/// The requests seen so far.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Recorded>>>);

impl Log {
    pub fn all(&self) -> Vec<Recorded> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Requests other than GETs (what changed the cluster).
    pub fn writes(&self) -> Vec<Recorded> {
        self.all()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }
}

/// A client whose every request goes to `handler`.
pub fn client(
    handler: impl Fn(&Recorded) -> (u16, Value) + Send + Sync + 'static,
) -> (Client, Log) {
    let log = Log::default();
    let handler: Arc<Handler> = Arc::new(handler);
    let seen = log.clone();
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let handler = Arc::clone(&handler);
        let seen = seen.clone();
        async move {
            let (parts, body) = request.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let recorded = Recorded {
                method: parts.method.to_string(),
                uri: parts
                    .uri
                    .path_and_query()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                content_type: parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (status, answer) = handler(&recorded);
            if let Ok(mut log) = seen.0.lock() {
                log.push(recorded);
            }
            let response = http::Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(kube::client::Body::from(answer.to_string().into_bytes()))
                .unwrap_or_else(|_| http::Response::new(kube::client::Body::from(Vec::new())));
            Ok::<_, Infallible>(response)
        }
    });
    (Client::new(service, "default"), log)
}

/// The body of a Kubernetes `Status` error.
pub fn status(code: u16, reason: &str) -> (u16, Value) {
    (
        code,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": format!("mock: {reason}"),
            "reason": reason, "code": code,
        }),
    )
}

/// Answers a write by echoing its body (what a server does, minus defaults).
pub fn echo(request: &Recorded) -> (u16, Value) {
    (200, request.body.clone())
}

/// A pod as Volcano leaves it: on `node`, limits `huawei.com/<type>` to the
/// number of chips, annotation `huawei.com/<type>` = `chips`, a
/// `predicate-time`, a UID.
pub fn volcano_pod(
    node: &str,
    name: &str,
    resource_type: &str,
    chips: &str,
    predicate_time: &str,
) -> k8s_openapi::api::core::v1::Pod {
    use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use kube::api::ObjectMeta;
    use std::collections::BTreeMap;
    let key = format!("huawei.com/{resource_type}");
    let count = chips.split(',').count().to_string();
    Pod {
        metadata: ObjectMeta {
            namespace: Some("ml".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            resource_version: Some("7".into()),
            annotations: Some(BTreeMap::from([
                (key.clone(), chips.to_owned()),
                ("predicate-time".to_owned(), predicate_time.to_owned()),
            ])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            containers: vec![Container {
                name: "main".into(),
                resources: Some(ResourceRequirements {
                    limits: Some(BTreeMap::from([(key, Quantity(count))])),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: None,
    }
}

pub use crate::device::health::fixtures::snapshot;

/// A pod cache holding `pods`, synced and connected.
pub fn cache_of(pods: Vec<k8s_openapi::api::core::v1::Pod>) -> super::pods::PodCache {
    use kube::runtime::watcher::Event;
    let cache = super::pods::PodCache::new();
    cache.apply(Event::Init);
    for pod in pods {
        cache.apply(Event::InitApply(pod));
    }
    cache.apply(Event::InitDone);
    cache
}
