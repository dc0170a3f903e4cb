//! A small in-memory Kubernetes API server over plain HTTP on loopback, for
//! the integration tests: pods, nodes, ConfigMaps, events and (under
//! `/apis/<group>/<version>/`) ResourceSlices and ResourceClaims; get, list
//! (with `spec.nodeName` / `spec.driver` / `metadata.name` / `status.phase!=` field selectors), watch (newline-
//! delimited events), create (with `generateName`), replace, delete and JSON merge patch. It records every
//! request with its Authorization header. It is no substitute for a real
//! kube-apiserver (the end-to-end suite runs one); it lets these tests drive
//! the plugin's API flows in seconds.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Store {
    /// `kind-path` (e.g. `/api/v1/namespaces/ml/pods`) -> name -> object.
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    version: u64,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct FakeApi {
    store: Arc<Mutex<Store>>,
    changes: broadcast::Sender<(String, String, Value)>,
    pub address: SocketAddr,
    stop: tokio_util::sync::CancellationToken,
}

impl FakeApi {
    pub async fn start() -> FakeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let api = FakeApi {
            store: Arc::default(),
            changes: broadcast::channel(1024).0,
            address,
            stop: tokio_util::sync::CancellationToken::new(),
        };
        let server = api.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    () = server.stop.cancelled() => return,
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                };
                let handler = server.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let handler = handler.clone();
                        async move { Ok::<_, Infallible>(handler.handle(request).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        api
    }

    /// Stops accepting (existing watches end when their client goes).
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// A kubeconfig for this server with `token`.
    pub fn write_kubeconfig(&self, path: &Path, token: &str, extra_user_fields: &str) {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: plugin}}\ncurrent-context: fake\nusers:\n- name: plugin\n  user:\n    token: {token}\n{extra_user_fields}",
            self.address
        );
        std::fs::write(path, text).unwrap();
    }

    /// Puts `object` at `collection` (e.g. `/api/v1/namespaces/ml/pods`).
    pub fn put(&self, collection: &str, mut object: Value) {
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let mut store = self.store.lock().unwrap();
        store.version += 1;
        object["metadata"]["resourceVersion"] = json!(store.version.to_string());
        let kind = if store
            .objects
            .get(collection)
            .is_some_and(|c| c.contains_key(&name))
        {
            "MODIFIED"
        } else {
            "ADDED"
        };
        store
            .objects
            .entry(collection.to_owned())
            .or_default()
            .insert(name, object.clone());
        let _ = self
            .changes
            .send((collection.to_owned(), kind.to_owned(), object));
    }

    /// Deletes `name` from `collection`, as a client (or kubelet) would.
    pub fn delete(&self, collection: &str, name: &str) -> Option<Value> {
        let mut store = self.store.lock().unwrap();
        let object = store.objects.get_mut(collection)?.remove(name)?;
        store.version += 1;
        let _ = self
            .changes
            .send((collection.to_owned(), "DELETED".to_owned(), object.clone()));
        Some(object)
    }

    /// Every object of `collection`.
    pub fn all(&self, collection: &str) -> Vec<Value> {
        self.list(collection, None)
    }

    pub fn get(&self, collection: &str, name: &str) -> Option<Value> {
        self.store
            .lock()
            .unwrap()
            .objects
            .get(collection)?
            .get(name)
            .cloned()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.store.lock().unwrap().seen.clone()
    }

    async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Response<http_body_util::combinators::BoxBody<Bytes, Infallible>> {
        let (parts, body) = request.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let header = |name: hyper::header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let seen = Seen {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            authorization: header(hyper::header::AUTHORIZATION),
            content_type: header(hyper::header::CONTENT_TYPE),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        };
        self.store.lock().unwrap().seen.push(seen.clone());
        let path = parts.uri.path().to_owned();
        let query: BTreeMap<String, String> = parts
            .uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), percent_decode(v)))
            .collect();
        let (collection, name) = split(&path);
        match (seen.method.as_str(), name) {
            ("GET", None) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
                self.watch(collection, query.get("fieldSelector").cloned())
            }
            ("GET", None) => {
                let mut items =
                    self.list(&collection, query.get("fieldSelector").map(String::as_str));
                let version = self.store.lock().unwrap().version;
                let mut metadata = json!({"resourceVersion": version.to_string()});
                // Pages: `limit`, and `continue` = the offset of the next page.
                let offset: usize = query
                    .get("continue")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                items.drain(..offset.min(items.len()));
                if let Some(limit) = query.get("limit").and_then(|l| l.parse::<usize>().ok())
                    && limit > 0
                    && items.len() > limit
                {
                    items.truncate(limit);
                    metadata["continue"] = json!((offset + limit).to_string());
                }
                reply(
                    200,
                    json!({"kind": "List", "apiVersion": "v1", "metadata": metadata, "items": items}),
                )
            }
            ("GET", Some(name)) => match self.get(&collection, &name) {
                Some(object) => reply(200, object),
                None => not_found(&name),
            },
            ("POST", None) => {
                let mut body = seen.body.clone();
                if body["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty()
                    && let Some(prefix) = body["metadata"]["generateName"].as_str()
                {
                    let serial = self.store.lock().unwrap().version + 1;
                    body["metadata"]["name"] = json!(format!("{prefix}{serial:05x}"));
                }
                let name = body["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if self.get(&collection, &name).is_some() {
                    return reply(409, status(409, "AlreadyExists"));
                }
                self.put(&collection, body);
                reply(201, self.get(&collection, &name).unwrap())
            }
            ("PUT", Some(name)) => {
                let Some(current) = self.get(&collection, &name) else {
                    return not_found(&name);
                };
                let wanted = &seen.body["metadata"]["resourceVersion"];
                if !wanted.is_null() && *wanted != current["metadata"]["resourceVersion"] {
                    return reply(409, status(409, "Conflict"));
                }
                self.put(&collection, seen.body.clone());
                reply(200, self.get(&collection, &name).unwrap())
            }
            ("PATCH", Some(name)) => {
                let Some(mut current) = self.get(&collection, &name) else {
                    return not_found(&name);
                };
                let uid = &seen.body["metadata"]["uid"];
                if !uid.is_null() && *uid != current["metadata"]["uid"] {
                    return reply(409, status(409, "Conflict"));
                }
                merge(&mut current, &seen.body);
                self.put(&collection, current);
                reply(200, self.get(&collection, &name).unwrap())
            }
            ("DELETE", Some(name)) => match self.delete(&collection, &name) {
                Some(object) => reply(200, object),
                None => not_found(&name),
            },
            _ => reply(405, status(405, "MethodNotAllowed")),
        }
    }

    fn list(&self, collection: &str, selector: Option<&str>) -> Vec<Value> {
        let store = self.store.lock().unwrap();
        store
            .objects
            .iter()
            .filter(|(path, _)| collection_matches(collection, path))
            .flat_map(|(_, objects)| objects.values())
            .filter(|o| selects(selector, o))
            .cloned()
            .collect()
    }

    fn watch(
        &self,
        collection: String,
        selector: Option<String>,
    ) -> Response<http_body_util::combinators::BoxBody<Bytes, Infallible>> {
        let mut changes = self.changes.subscribe();
        let stop = self.stop.clone();
        let stream = async_stream(move |tx| async move {
            loop {
                let next = tokio::select! {
                    () = stop.cancelled() => return,
                    next = changes.recv() => next,
                };
                let Ok((path, kind, object)) = next else {
                    return;
                };
                if collection_matches(&collection, &path) && selects(selector.as_deref(), &object) {
                    let line = format!("{}\n", json!({"type": kind, "object": object}));
                    if tx.send(Ok(Frame::data(Bytes::from(line)))).await.is_err() {
                        return;
                    }
                }
            }
        });
        let body = StreamBody::new(stream);
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(http_body_util::combinators::BoxBody::new(body))
            .unwrap()
    }
}

/// A stream fed by a task through a channel.
fn async_stream<F, Fut>(
    make: F,
) -> tokio_stream::wrappers::ReceiverStream<Result<Frame<Bytes>, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Frame<Bytes>, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(make(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// `/api/v1/pods` (all namespaces) matches `/api/v1/namespaces/x/pods`.
fn collection_matches(wanted: &str, path: &str) -> bool {
    if wanted == path {
        return true;
    }
    let Some(kind) = wanted.strip_prefix("/api/v1/") else {
        return false;
    };
    !kind.contains('/')
        && path.starts_with("/api/v1/namespaces/")
        && path.ends_with(&format!("/{kind}"))
}

fn selects(selector: Option<&str>, object: &Value) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    selector.split(',').all(|term| match term.split_once('=') {
        Some(("status.phase!", v)) => object["status"]["phase"] != v,
        Some(("spec.nodeName", v)) => object["spec"]["nodeName"] == v,
        Some(("spec.driver", v)) => object["spec"]["driver"] == v,
        Some(("metadata.name", v)) => object["metadata"]["name"] == v,
        _ => true,
    })
}

/// `/api/v1/namespaces/ml/pods/p` -> (`/api/v1/namespaces/ml/pods`, `p`).
fn split(path: &str) -> (String, Option<String>) {
    let mut segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    // /apis/<group>/<version>/... is /api/v1/... with one more segment.
    let group = if segments.get(1) == Some(&"apis") && segments.len() > 3 {
        let group = segments.remove(2);
        Some(group)
    } else {
        None
    };
    // /api/v1/<kind> | /api/v1/<kind>/<name> | /api/v1/namespaces/<ns>/<kind>[/<name>]
    let named = match segments.get(3) {
        Some(&"namespaces") if segments.len() >= 6 => segments.len() == 7,
        _ => segments.len() == 5,
    };
    if let Some(group) = group {
        segments.insert(2, group);
    }
    if named {
        let (name, collection) = segments.split_last().unwrap();
        (collection.join("/"), Some((*name).to_owned()))
    } else {
        (segments.join("/"), None)
    }
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&value[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().unwrap();
    for (key, value) in fields {
        if value.is_null() {
            object.remove(key);
        } else {
            merge(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": reason, "reason": reason, "code": code})
}

fn not_found(name: &str) -> Response<http_body_util::combinators::BoxBody<Bytes, Infallible>> {
    let mut body = status(404, "NotFound");
    body["message"] = json!(format!("{name} not found"));
    reply(404, body)
}

fn reply(
    code: u16,
    body: Value,
) -> Response<http_body_util::combinators::BoxBody<Bytes, Infallible>> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(http_body_util::combinators::BoxBody::new(Full::new(
            Bytes::from(body.to_string()),
        )))
        .unwrap()
}
