//! Who holds the endpoint's connections. When all `max` are taken, the
//! next connection is accepted as soon as one closes or one has been idle
//! (no request) for `evict_after`: that one is closed to make room. A peer
//! holding `per_peer` connections makes room itself: its least recently
//! active one is closed for its newcomer. A silent or slow client
//! therefore cannot keep kubelet's probe, which sends its request at once,
//! waiting behind it for longer than `evict_after`, while a burst of busy
//! clients still waits its turn instead of cutting each other off.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// One open connection, as its task sees it.
#[derive(Debug)]
pub(super) struct Slot {
    id: u64,
    table: Arc<Table>,
    /// Cancelled when the connection must make room.
    pub evicted: CancellationToken,
    activity: Arc<AtomicU64>,
}

impl Slot {
    /// The handle the request handler marks activity with.
    pub fn activity(&self) -> Activity {
        Activity {
            table: Arc::clone(&self.table),
            activity: Arc::clone(&self.activity),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.lock().1.remove(&self.id);
        self.table.freed.notify_one();
    }
}

/// Marks activity on one connection from its request handler.
#[derive(Debug, Clone)]
pub(super) struct Activity {
    table: Arc<Table>,
    activity: Arc<AtomicU64>,
}

impl Activity {
    pub fn mark(&self) {
        self.activity.store(self.table.now_ms(), Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct Entry {
    peer: IpAddr,
    activity: Arc<AtomicU64>,
    evicted: CancellationToken,
}

/// The open connections.
#[derive(Debug)]
pub(super) struct Table {
    max: usize,
    per_peer: usize,
    evict_after: Duration,
    started: Instant,
    entries: Mutex<(u64, HashMap<u64, Entry>)>,
    freed: Notify,
}

impl Table {
    pub fn new(max: usize, per_peer: usize, evict_after: Duration) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            per_peer: per_peer.max(1),
            evict_after,
            started: Instant::now(),
            entries: Mutex::new((0, HashMap::new())),
            freed: Notify::new(),
        })
    }

    /// Returns once a connection may be admitted: fewer than `max` are
    /// open, or the least recently active one has been idle for
    /// `evict_after` and was closed to make room. Only the accept loop
    /// admits, so the room stays until it does.
    pub async fn room(&self) -> usize {
        loop {
            {
                let now = self.now_ms();
                let idle_ms = u64::try_from(self.evict_after.as_millis()).unwrap_or(u64::MAX);
                let mut guard = self.lock();
                let entries = &mut guard.1;
                if entries.len() < self.max {
                    return 0;
                }
                let idle =
                    |e: &Entry| now.saturating_sub(e.activity.load(Ordering::Relaxed)) >= idle_ms;
                if evict_oldest(entries, idle) > 0 {
                    return 1;
                }
            }
            tokio::select! {
                () = self.freed.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<u64, Entry>)> {
        // Nothing panics while holding it; a poisoned table is still sound.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection from `peer` (after [`Self::room`]), closing
    /// that peer's least recently active connection if it holds
    /// `per_peer`. Returns the new slot and how many it displaced.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> (Slot, usize) {
        let now = self.now_ms();
        let mut guard = self.lock();
        let (next, entries) = &mut *guard;
        let mut displaced = 0;
        let same_peer = entries.values().filter(|e| e.peer == peer).count();
        if same_peer >= self.per_peer {
            displaced += evict_oldest(entries, |e| e.peer == peer);
        }
        let id = *next;
        *next = next.wrapping_add(1);
        let activity = Arc::new(AtomicU64::new(now));
        let evicted = CancellationToken::new();
        entries.insert(
            id,
            Entry {
                peer,
                activity: Arc::clone(&activity),
                evicted: evicted.clone(),
            },
        );
        drop(guard);
        let slot = Slot {
            id,
            table: Arc::clone(self),
            evicted,
            activity,
        };
        (slot, displaced)
    }
}

/// Closes (and forgets) the least recently active entry that `which`
/// selects; 1 if there was one.
fn evict_oldest(entries: &mut HashMap<u64, Entry>, which: impl Fn(&Entry) -> bool) -> usize {
    let oldest = entries
        .iter()
        .filter(|(_, e)| which(e))
        .min_by_key(|(id, e)| (e.activity.load(Ordering::Relaxed), **id))
        .map(|(id, _)| *id);
    match oldest.and_then(|id| entries.remove(&id)) {
        Some(entry) => {
            entry.evicted.cancel();
            1
        }
        None => 0,
    }
}
