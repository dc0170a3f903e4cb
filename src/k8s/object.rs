//! One named object kept current in memory by a watch (`fieldSelector
//! metadata.name=<name>`), so the tasks that read it back (the device-info
//! ConfigMap's `ManuallySeparateNPU`, the node's labels) never poll the API
//! server: one long-lived request instead of a GET every period.

use std::sync::Arc;

use futures::StreamExt;
use kube::Api;
use kube::runtime::watcher::Event;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the watch says about the object at one instant.
#[derive(Debug)]
pub struct Observed<K> {
    /// The first full listing has arrived: `object` is the server's answer,
    /// not a guess (`None` then means the object does not exist).
    pub synced: bool,
    pub object: Option<Arc<K>>,
    /// Counts the states published: a reader compares it with the one it
    /// acted on to know the watch moved (`changed()` cannot tell it later:
    /// it forgets a change once it has woken someone).
    pub generation: u64,
}

impl<K> Clone for Observed<K> {
    fn clone(&self) -> Self {
        Self {
            synced: self.synced,
            object: self.object.clone(),
            generation: self.generation,
        }
    }
}

impl<K> Default for Observed<K> {
    fn default() -> Self {
        Self {
            synced: false,
            object: None,
            generation: 0,
        }
    }
}

/// Folds watcher events into [`Observed`]; a re-listing replaces the object
/// only when it is complete.
#[derive(Debug)]
pub struct Folder<K> {
    relisting: Option<Option<Arc<K>>>,
}

impl<K> Default for Folder<K> {
    fn default() -> Self {
        Self { relisting: None }
    }
}

impl<K> Folder<K> {
    /// The new state after `event`, or `None` when readers see no change.
    pub fn apply(&mut self, current: &Observed<K>, event: Event<K>) -> Option<Observed<K>> {
        match event {
            Event::Init => {
                self.relisting = Some(None);
                None
            }
            Event::InitApply(object) => {
                self.relisting = Some(Some(Arc::new(object)));
                None
            }
            Event::InitDone => Some(Observed {
                synced: true,
                object: self
                    .relisting
                    .take()
                    .unwrap_or_else(|| current.object.clone()),
                generation: current.generation + 1,
            }),
            Event::Apply(object) => Some(Observed {
                synced: current.synced,
                object: Some(Arc::new(object)),
                generation: current.generation + 1,
            }),
            Event::Delete(_) => Some(Observed {
                synced: current.synced,
                object: None,
                generation: current.generation + 1,
            }),
        }
    }
}

/// Watches `name` through `api` until `stop`; the receiver always holds the
/// latest state. While the watch is down it keeps the last one.
pub fn watch_named<K>(
    api: Api<K>,
    name: &str,
    what: String,
    stop: CancellationToken,
) -> watch::Receiver<Observed<K>>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default,
{
    let (sender, receiver) = watch::channel(Observed::default());
    let config = super::watch_config().fields(&format!("metadata.name={name}"));
    tokio::spawn(async move {
        let events = super::watch_events(api, config, what, || {});
        tokio::pin!(events);
        let mut folder = Folder::default();
        while let Some(Some(event)) = stop.run_until_cancelled(events.next()).await {
            let next = folder.apply(&sender.borrow(), event);
            if let Some(next) = next {
                sender.send_replace(next);
            }
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn named(rv: &str) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.resource_version = Some(rv.into());
        cm
    }

    fn rv(observed: &Observed<ConfigMap>) -> Option<String> {
        observed.object.as_ref()?.metadata.resource_version.clone()
    }

    #[test]
    fn the_object_is_known_only_once_the_listing_is_complete() {
        let mut folder = Folder::default();
        let start = Observed::default();
        assert!(folder.apply(&start, Event::Init).is_none());
        assert!(folder.apply(&start, Event::InitApply(named("1"))).is_none());
        let listed = folder.apply(&start, Event::InitDone).unwrap();
        assert!(listed.synced);
        assert_eq!(rv(&listed).as_deref(), Some("1"));
        let updated = folder.apply(&listed, Event::Apply(named("2"))).unwrap();
        assert_eq!(rv(&updated).as_deref(), Some("2"));
        let deleted = folder.apply(&updated, Event::Delete(named("2"))).unwrap();
        assert!(deleted.synced && deleted.object.is_none());
        assert_eq!(
            (listed.generation, updated.generation, deleted.generation),
            (1, 2, 3)
        );
    }

    #[test]
    fn an_empty_relisting_means_the_object_is_gone() {
        let mut folder = Folder::default();
        let known = Observed {
            synced: true,
            object: Some(Arc::new(named("5"))),
            generation: 1,
        };
        assert!(folder.apply(&known, Event::Init).is_none());
        let relisted = folder.apply(&known, Event::InitDone).unwrap();
        assert!(relisted.synced);
        assert!(relisted.object.is_none(), "not listed any more");
    }
}
