//! The node's pods, kept current by one watch (`spec.nodeName=<node>`, not
//! Succeeded or Failed), so a Volcano Allocate reads memory, never the API
//! server, on its hot path. Only the fields the plugin reads are kept
//! ([`slim`]), so what a pod's author puts elsewhere (annotations,
//! `managedFields`, env) costs no memory here. Waiting for a pod that has
//! not arrived yet means waiting on this cache's change counter, bounded by
//! the caller's deadline.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::runtime::watcher::Event;
use tokio::sync::watch;

use crate::cluster::chip_list::MAX_ANNOTATION_BYTES;
use crate::cluster::volcano::{PREDICATE_TIME, RESOURCE_PREFIX, pod_key};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What the cache holds at one instant.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub pods: Vec<Arc<Pod>>,
    /// The first full list has arrived.
    pub synced: bool,
    /// The watch is connected (false after an error until the next event).
    pub connected: bool,
}

#[derive(Debug, Default)]
struct State {
    pods: BTreeMap<String, Arc<Pod>>,
    /// Objects of a re-list in progress; swapped in whole at `InitDone`.
    relisting: Option<BTreeMap<String, Arc<Pod>>>,
    synced: bool,
    connected: bool,
}

/// The watch cache of this node's pods; cheap to clone.
#[derive(Debug, Clone)]
pub struct PodCache {
    state: Arc<Mutex<State>>,
    changes: Arc<watch::Sender<u64>>,
    /// A reader asks a polling source (the kubelet's `/pods`) to read now.
    refresh: Arc<tokio::sync::Notify>,
}

impl Default for PodCache {
    fn default() -> Self {
        Self::new()
    }
}

impl PodCache {
    pub fn new() -> Self {
        Self {
            state: Arc::default(),
            changes: Arc::new(watch::channel(0).0),
            refresh: Arc::default(),
        }
    }

    /// Asks a polling source to read now rather than at its next period
    /// (a Volcano Allocate whose pod kubelet is admitting right now). A
    /// watch needs no asking; then nobody listens and this does nothing.
    pub fn request_refresh(&self) {
        self.refresh.notify_one();
    }

    /// Resolves when a reader asked for a refresh.
    pub async fn refresh_requested(&self) {
        self.refresh.notified().await;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-written
        // in a way readers care about; keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn bump(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Applies one watcher event.
    pub fn apply(&self, event: Event<Pod>) {
        {
            let mut state = self.lock();
            state.connected |= !matches!(event, Event::Init);
            match event {
                Event::Init => state.relisting = Some(BTreeMap::new()),
                Event::InitApply(pod) => {
                    let pod = Arc::new(slim(pod));
                    if let Some(relist) = state.relisting.as_mut() {
                        relist.insert(pod_key(&pod), pod);
                    }
                }
                Event::InitDone => {
                    if let Some(relist) = state.relisting.take() {
                        state.pods = relist;
                    }
                    state.synced = true;
                }
                Event::Apply(pod) => {
                    let pod = slim(pod);
                    state.pods.insert(pod_key(&pod), Arc::new(pod));
                }
                Event::Delete(pod) => {
                    state.pods.remove(&pod_key(&pod));
                }
            }
        }
        self.bump();
    }

    /// Replaces the contents with `pods`, listed from the API server while
    /// the watch was down. Ignored (false) once the watch has reconnected:
    /// its own re-list is at least as new.
    pub fn refresh(&self, pods: Vec<Pod>) -> bool {
        {
            let mut state = self.lock();
            if state.connected {
                return false;
            }
            state.pods = pods
                .into_iter()
                .map(|pod| {
                    let pod = Arc::new(slim(pod));
                    (pod_key(&pod), pod)
                })
                .collect();
            state.synced = true;
        }
        self.bump();
        true
    }

    /// Replaces the contents with a complete list from a source that has
    /// no watch (the kubelet's `/pods`, `-getPodFromKubelet`): the cache is
    /// synced and connected. Bumps the change counter only when a pod was
    /// added, removed or changed, so waiting Allocates wake for news only.
    pub fn replace(&self, pods: Vec<Pod>) {
        let changed = {
            let mut state = self.lock();
            let pods: BTreeMap<String, Arc<Pod>> = pods
                .into_iter()
                .map(|pod| (pod_key(&pod), Arc::new(pod)))
                .collect();
            let changed = state.pods != pods || !state.synced || !state.connected;
            state.pods = pods;
            state.relisting = None;
            state.synced = true;
            state.connected = true;
            changed
        };
        if changed {
            self.bump();
        }
    }

    /// The watch failed; the cache keeps its last contents.
    pub fn disconnected(&self) {
        let was = std::mem::replace(&mut self.lock().connected, false);
        if was {
            self.bump();
        }
    }

    pub fn view(&self) -> View {
        let state = self.lock();
        View {
            pods: state.pods.values().cloned().collect(),
            synced: state.synced,
            connected: state.connected,
        }
    }

    /// The cached pod `namespace/name`.
    pub fn find(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        self.lock()
            .pods
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    /// A receiver that changes whenever the cache does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Evaluates `find` on the cache now and after every change until it
    /// answers `Ok` or `deadline` passes; then returns its last answer.
    pub async fn wait_for<T, E>(
        &self,
        deadline: Instant,
        mut find: impl FnMut(&View) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut changes = self.subscribe();
        loop {
            changes.borrow_and_update();
            let answer = find(&self.view());
            if answer.is_ok() || Instant::now() >= deadline {
                return answer;
            }
            let waited =
                tokio::time::timeout_at(deadline, crate::changes::changed(&mut changes)).await;
            if waited.is_err() {
                // Deadline: one last look.
                return find(&self.view());
            }
        }
    }
}

/// The field selector of the watch: this node's pods that have not ended
/// (the plugin never uses a Succeeded or Failed pod, and a node can hold
/// any number of them).
pub fn node_selector(node: &str) -> String {
    format!("spec.nodeName={node},status.phase!=Succeeded,status.phase!=Failed")
}

/// Pods per page of the initial list (kube's default is 500): ten pods
/// of fat annotations are 2 MB of JSON held at once (docs/benchmarks.md).
const LIST_PAGE_SIZE: u32 = 10;

/// Annotations kept per pod; the plugin reads at most five.
const MAX_KEPT_ANNOTATIONS: usize = 16;

/// The pod with only what the plugin reads: name, namespace, UID, creation
/// and deletion times; the `predicate-time` and `huawei.com/*` annotations
/// (at most [`MAX_KEPT_ANNOTATIONS`], each value cut to just over the
/// parsers' limit, so an oversized one is still refused as oversized);
/// each container's `huawei.com/*` limits; node name; phase and reason.
pub fn slim(pod: Pod) -> Pod {
    let meta = pod.metadata;
    let annotations = meta.annotations.map(|all| {
        all.into_iter()
            .filter(|(key, _)| key == PREDICATE_TIME || key.starts_with(RESOURCE_PREFIX))
            .take(MAX_KEPT_ANNOTATIONS)
            .map(|(key, value)| (key, cut(value)))
            .collect()
    });
    let metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        creation_timestamp: meta.creation_timestamp,
        deletion_timestamp: meta.deletion_timestamp,
        annotations,
        ..ObjectMeta::default()
    };
    let spec = pod.spec.map(|spec| PodSpec {
        node_name: spec.node_name,
        containers: spec.containers.into_iter().map(slim_container).collect(),
        init_containers: spec
            .init_containers
            .map(|all| all.into_iter().map(slim_container).collect()),
        ..PodSpec::default()
    });
    let status = pod.status.map(|status| PodStatus {
        phase: status.phase,
        reason: status.reason.map(cut),
        ..PodStatus::default()
    });
    Pod {
        metadata,
        spec,
        status,
    }
}

fn slim_container(container: Container) -> Container {
    let limits = container.resources.and_then(|r| r.limits).map(|limits| {
        limits
            .into_iter()
            .filter(|(key, _)| key.starts_with(RESOURCE_PREFIX))
            .take(MAX_KEPT_ANNOTATIONS)
            .collect()
    });
    Container {
        resources: limits.map(|limits| ResourceRequirements {
            limits: Some(limits),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    }
}

/// Entries an oversized list keeps counting: more than any Allocate may
/// request (800 IDs), so a cut list explains exactly the requests the whole
/// one did.
const MAX_COUNTED_ENTRIES: usize = 1024;

/// `value`, or, when longer than the parsers accept, its first bytes plus
/// one comma for each further entry (up to [`MAX_COUNTED_ENTRIES`]): still
/// longer than [`MAX_ANNOTATION_BYTES`], so it is refused as too long, and
/// counted as the same number of entries, so the same pods are candidates.
fn cut(mut value: String) -> String {
    if value.len() <= MAX_ANNOTATION_BYTES + 1 {
        return value;
    }
    let mut end = MAX_ANNOTATION_BYTES + 1;
    while !value.is_char_boundary(end) {
        end += 1;
    }
    let entries = value.split(',').count().min(MAX_COUNTED_ENTRIES);
    value.truncate(end);
    let kept = value.split(',').count();
    value.push_str(&",".repeat(entries.saturating_sub(kept)));
    value
}

/// The node's pods that have not ended, listed once, as the watch lists
/// them: in pages of [`LIST_PAGE_SIZE`], decoded as [`LeanPod`].
pub async fn list_node_pods(api: &Api<LeanPod>, node: &str) -> Result<Vec<Pod>, kube::Error> {
    let selector = node_selector(node);
    let mut params = kube::api::ListParams::default()
        .fields(&selector)
        .limit(LIST_PAGE_SIZE);
    let mut pods = Vec::new();
    loop {
        let page = api.list(&params).await?;
        pods.extend(page.items.into_iter().map(|pod| pod.0));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(pods),
        }
    }
}

/// Feeds the cache from a watch on `api` until `stop`; while the watch is
/// down the cache keeps its contents and says it is disconnected. Pods are
/// decoded as [`LeanPod`]: what the plugin does not read is skipped while
/// parsing.
pub async fn run(cache: PodCache, api: Api<LeanPod>, node: String, stop: CancellationToken) {
    // Small pages: a page's JSON is held whole while it is parsed, so its
    // size bounds the memory a list of fat pods costs.
    let config = super::watch_config()
        .fields(&node_selector(&node))
        .page_size(LIST_PAGE_SIZE);
    let on_error = {
        let cache = cache.clone();
        move || cache.disconnected()
    };
    let events = super::watch_events(api, config, format!("pods on node {node}"), on_error);
    tokio::pin!(events);
    while let Some(Some(event)) = stop.run_until_cancelled(events.next()).await {
        cache.apply(unwrap_lean(event));
    }
}

/// Starts what feeds `cache`: the kubelet's `/pods` with
/// `-getPodFromKubelet`, otherwise a watch on the API server. A kubelet
/// source that cannot start (a CA or token file missing) stops the start.
pub fn start_source(
    settings: &crate::config::PodSettings,
    cache: &PodCache,
    client: &kube::Client,
    node: &str,
    stop: &CancellationToken,
) -> Result<(), kubelet::KubeletError> {
    match &settings.from_kubelet {
        Some(kubelet) => {
            let source = kubelet::KubeletPods::new(kubelet.clone(), node.to_owned())?;
            tracing::info!(endpoint = %kubelet.endpoint, verify = !kubelet.insecure, "reading the node's pods from the kubelet (-getPodFromKubelet)");
            tokio::spawn(source.run(cache.clone(), stop.clone()));
        }
        None => {
            tokio::spawn(run(
                cache.clone(),
                Api::all(client.clone()),
                node.to_owned(),
                stop.clone(),
            ));
        }
    }
    Ok(())
}

fn unwrap_lean(event: Event<LeanPod>) -> Event<Pod> {
    match event {
        Event::Init => Event::Init,
        Event::InitApply(pod) => Event::InitApply(pod.0),
        Event::InitDone => Event::InitDone,
        Event::Apply(pod) => Event::Apply(pod.0),
        Event::Delete(pod) => Event::Delete(pod.0),
    }
}

pub mod kubelet;
mod wire;
pub use wire::LeanPod;

#[cfg(test)]
mod tests;
