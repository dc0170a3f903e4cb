//! The library's global state: the loaded topology, the fault state last
//! read, vNPUs and fault subscribers, behind one mutex. `dcmi_init` builds it;
//! every export reads it through [`with_sim`] or [`with_chip`].

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::c_int;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dcmi_abi::{
    DCMI_ERR_CODE_INNER_ERR, DCMI_ERR_CODE_INVALID_DEVICE_ID, DCMI_ERR_CODE_NOT_READY, DcmiEvent,
    DcmiEventFilter,
};

use crate::chaos::{self, Chaos, ChaosMode};
use crate::state::FaultState;
use crate::topology::{Card, Chip, DEFAULT_TOPOLOGY, Topology};
use crate::vnpu::{self, VnpuMap};

/// Names the topology: a built-in name or a JSON file path.
pub const ENV_TOPOLOGY: &str = "ASCEND_SIM_TOPOLOGY";
/// Path of the fault state file.
pub const ENV_STATE: &str = "ASCEND_SIM_STATE";
/// Initial chaos modes (comma list).
pub const ENV_CHAOS: &str = "ASCEND_SIM_CHAOS";
/// `1`: do not pin the library in memory (see `pin`), so a consumer that
/// `dlclose`s it while the watcher thread runs crashes, as with a driver
/// that does not pin itself. For tests of the consumer's shutdown.
pub const ENV_NO_PIN: &str = "ASCEND_SIM_NO_PIN";

/// How long a `hang` call blocks at most.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// A fault callback registered with `dcmi_subscribe_fault_event`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subscriber {
    /// -1 = every card.
    pub card_id: c_int,
    /// -1 = every chip of the card.
    pub device_id: c_int,
    pub filter: DcmiEventFilter,
    pub handler: unsafe extern "C" fn(*mut DcmiEvent),
}

/// Everything `dcmi_init` set up.
#[derive(Debug)]
pub(crate) struct Sim {
    pub topology: Topology,
    pub state: FaultState,
    /// The state file bytes `state` came from (the watcher skips identical reads).
    pub state_bytes: Option<Vec<u8>>,
    /// Bytes the watcher could not parse (logged once).
    pub rejected_bytes: Option<Vec<u8>>,
    pub state_path: Option<PathBuf>,
    pub env_chaos: BTreeSet<ChaosMode>,
    pub vnpus: VnpuMap,
    pub subscribers: Vec<Subscriber>,
    pub multi_die_policy: u32,
    pub spod_status: BTreeMap<(u32, u32), u32>,
    pub event_serial: c_int,
    /// When each chip was last reset (its boot status counts from there).
    pub booting: BTreeMap<u32, Instant>,
}

static SIM: Mutex<Option<Sim>> = Mutex::new(None);
/// Signalled whenever the state changes (wakes `hang` waiters).
static CHANGED: Condvar = Condvar::new();

/// Locks the global state; a panic elsewhere never makes it unusable.
pub(crate) fn lock() -> MutexGuard<'static, Option<Sim>> {
    SIM.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Wakes every thread waiting on a state change.
pub(crate) fn notify_changed() {
    CHANGED.notify_all();
}

/// Runs `f` on the initialised state; -8005 before a successful `dcmi_init`.
pub(crate) fn with_sim<R>(f: impl FnOnce(&mut Sim) -> Result<R, c_int>) -> Result<R, c_int> {
    let mut guard = lock();
    let sim = guard.as_mut().ok_or(DCMI_ERR_CODE_INNER_ERR)?;
    f(sim)
}

/// What an export needs to answer for one chip.
pub(crate) struct ChipCtx<'a> {
    pub card: &'a Card,
    pub chip: &'a Chip,
    pub state: &'a FaultState,
    pub chaos: Chaos,
    pub vnpus: &'a [vnpu::Vnpu],
}

/// Runs `f` for the chip at (card, dev): -8007 for an unknown card or
/// device, -8012 when the card dropped.
pub(crate) fn with_chip<R>(
    card_id: c_int,
    device_id: c_int,
    f: impl FnOnce(ChipCtx<'_>) -> Result<R, c_int>,
) -> Result<R, c_int> {
    with_sim(|sim| {
        let (card, chip) = sim.chip(card_id, device_id)?;
        let ctx = ChipCtx {
            card,
            chip,
            state: &sim.state,
            chaos: sim.chaos(),
            vnpus: sim
                .vnpus
                .get(&chip.phy_id)
                .map(Vec::as_slice)
                .unwrap_or_default(),
        };
        f(ctx)
    })
}

impl Sim {
    /// The chaos modes in force: the state file's when it says, else the env's.
    pub fn chaos(&self) -> Chaos {
        Chaos(
            self.state
                .chaos
                .clone()
                .unwrap_or_else(|| self.env_chaos.clone()),
        )
    }

    /// The card, checked for existence (-8007) and presence (-8012).
    pub fn card(&self, card_id: c_int) -> Result<&Card, c_int> {
        let card = self
            .topology
            .card(card_id)
            .ok_or(DCMI_ERR_CODE_INVALID_DEVICE_ID)?;
        if self.state.dropped_cards.contains(&card_id) {
            return Err(DCMI_ERR_CODE_NOT_READY);
        }
        Ok(card)
    }

    /// The chip, checked like [`Sim::card`] plus the device index (-8007).
    pub fn chip(&self, card_id: c_int, device_id: c_int) -> Result<(&Card, &Chip), c_int> {
        let card = self
            .topology
            .card(card_id)
            .ok_or(DCMI_ERR_CODE_INVALID_DEVICE_ID)?;
        let chip = card
            .chips
            .iter()
            .find(|chip| chip.dev == device_id)
            .ok_or(DCMI_ERR_CODE_INVALID_DEVICE_ID)?;
        if self.state.dropped_cards.contains(&card_id) {
            return Err(DCMI_ERR_CODE_NOT_READY);
        }
        Ok((card, chip))
    }

    /// A reset of chip `phy` took effect: its faults and health override are
    /// gone, it starts booting, and the reset is counted. Recorded in the
    /// state file too, so `ascend-sim` sees it and a later edit does not
    /// bring the faults back.
    pub fn reset_chip(&mut self, phy: u32) {
        let edit = |state: &mut FaultState| {
            state.faults.remove(&phy);
            state.health.remove(&phy);
            *state.resets.entry(phy).or_default() += 1;
        };
        self.booting.insert(phy, Instant::now());
        match &self.state_path {
            Some(path) => match FaultState::edit_locked(path, edit) {
                Ok((state, bytes)) => {
                    self.state = state;
                    self.state_bytes = Some(bytes);
                }
                Err(error) => {
                    eprintln!("dcmi-sim: cannot record the reset of phy {phy}: {error}");
                    edit(&mut self.state);
                }
            },
            None => edit(&mut self.state),
        }
        notify_changed();
    }

    /// The multi-die policy was set: kept, and recorded in the state file
    /// so `ascend-sim` (and a test) sees what the plugin chose.
    pub fn set_multi_die_policy(&mut self, policy: u32) {
        self.multi_die_policy = policy;
        let edit = |state: &mut FaultState| state.multi_die_policy = Some(policy);
        match &self.state_path {
            Some(path) => match FaultState::edit_locked(path, edit) {
                Ok((state, bytes)) => {
                    self.state = state;
                    self.state_bytes = Some(bytes);
                }
                Err(error) => {
                    eprintln!("dcmi-sim: cannot record the multi-die policy {policy}: {error}");
                    edit(&mut self.state);
                }
            },
            None => edit(&mut self.state),
        }
        notify_changed();
    }

    /// `dcmi_get_device_boot_status` of chip `phy` now.
    pub fn boot_status(&self, phy: u32) -> u32 {
        let Some(since) = self.booting.get(&phy) else {
            return dcmi_abi::DCMI_SYSTEM_START_FINISH;
        };
        if self.state.reset.hang.contains(&phy) {
            return dcmi_abi::DCMI_BOOT_STATUS_OS;
        }
        let total = u128::from(self.state.reset.boot_ms);
        let elapsed = since.elapsed().as_millis();
        if elapsed >= total {
            return dcmi_abi::DCMI_SYSTEM_START_FINISH;
        }
        // Four equal steps: uninit, BIOS, OS, finish.
        u32::try_from(elapsed * 4 / total).unwrap_or(dcmi_abi::DCMI_BOOT_STATUS_FINISH)
    }

    /// Where created vNPUs persist (`<state>.vnpu.json`), if a state file is set.
    pub fn vnpu_store_path(&self) -> Option<PathBuf> {
        self.state_path.as_ref().map(|path| {
            let mut name = path.clone().into_os_string();
            name.push(".vnpu.json");
            PathBuf::from(name)
        })
    }

    /// Persists the vNPUs when a store is configured.
    pub fn save_vnpus(&self) {
        if let Some(path) = self.vnpu_store_path()
            && let Err(error) = vnpu::save_store(&path, &self.topology.name, &self.vnpus)
        {
            eprintln!(
                "dcmi-sim: cannot write vNPU store {}: {error}",
                path.display()
            );
        }
    }
}

/// `dcmi_init`: (re)reads the environment, the topology, the state file and
/// the vNPU store. Subscriptions from before are dropped.
pub(crate) fn init() -> Result<(), c_int> {
    let fail = |problem: String| {
        eprintln!("dcmi-sim: {problem}");
        *lock() = None;
        notify_changed();
        DCMI_ERR_CODE_INNER_ERR
    };
    let spec = std::env::var(ENV_TOPOLOGY).unwrap_or_else(|_| DEFAULT_TOPOLOGY.to_owned());
    let topology =
        Topology::load(&spec).map_err(|error| fail(format!("topology {spec}: {error}")))?;
    let env_chaos = match std::env::var(ENV_CHAOS) {
        Ok(text) => {
            chaos::parse_list(&text).map_err(|error| fail(format!("{ENV_CHAOS}: {error}")))?
        }
        Err(_) => BTreeSet::new(),
    };
    let state_path = std::env::var_os(ENV_STATE)
        .filter(|path| !path.is_empty())
        .map(PathBuf::from);
    let (state, state_bytes) = match &state_path {
        Some(path) => read_initial_state(path),
        None => (FaultState::default(), None),
    };
    let mut sim = Sim {
        vnpus: topology
            .chips()
            .map(|(_, chip)| (chip.phy_id, chip.vnpus.clone()))
            .collect(),
        topology,
        state,
        state_bytes,
        rejected_bytes: None,
        state_path,
        env_chaos,
        subscribers: Vec::new(),
        multi_die_policy: 0,
        spod_status: BTreeMap::new(),
        event_serial: 0,
        booting: BTreeMap::new(),
    };
    if let Some(path) = sim.vnpu_store_path()
        && let Some(stored) = vnpu::load_store(&path, &sim.topology.name)
    {
        match check_stored_vnpus(&sim.topology, &stored) {
            Ok(()) => sim.vnpus = stored,
            Err(problem) => eprintln!(
                "dcmi-sim: ignoring vNPU store {}: {problem}",
                path.display()
            ),
        }
    }
    let watch = sim.state_path.is_some();
    if let Err(problem) = crate::pin::pin_library() {
        eprintln!("dcmi-sim: cannot pin the library in memory: {problem}");
    }
    *lock() = Some(sim);
    notify_changed();
    if watch {
        crate::watcher::ensure_running();
    }
    Ok(())
}

/// `dcmi_init` (api 1) or `dcmiv2_init` (api 2): initialises like [`init`],
/// then refuses with -8255 (and stays uninitialised) when the topology's
/// driver serves the other API, as an Ascend 950 driver fails `dcmi_init`.
pub(crate) fn init_api(api: u8) -> Result<(), c_int> {
    init()?;
    let mut guard = lock();
    let served = guard.as_ref().map(|sim| sim.topology.dcmi_api);
    if served != Some(api) {
        *guard = None;
        drop(guard);
        notify_changed();
        return Err(dcmi_abi::DCMI_ERR_CODE_NOT_SUPPORT);
    }
    Ok(())
}

fn read_initial_state(path: &std::path::Path) -> (FaultState, Option<Vec<u8>>) {
    let Ok(bytes) = std::fs::read(path) else {
        return (FaultState::default(), None);
    };
    match FaultState::from_json(&bytes) {
        Ok(state) => (state, Some(bytes)),
        Err(problem) => {
            eprintln!(
                "dcmi-sim: state file {}: {problem}; starting with no faults",
                path.display()
            );
            (FaultState::default(), None)
        }
    }
}

fn check_stored_vnpus(topology: &Topology, stored: &VnpuMap) -> Result<(), String> {
    let mut ids = BTreeSet::new();
    for (phy, vnpus) in stored {
        let (_, chip) = topology
            .by_phy(*phy)
            .ok_or_else(|| format!("phy {phy} is not in the topology"))?;
        vnpu::check_chip_vnpus(vnpus, chip.aicore)?;
        if !vnpus.is_empty() && !chip.virtualization {
            return Err(format!("phy {phy} cannot have vNPUs"));
        }
        for vnpu in vnpus {
            if !ids.insert(vnpu.vdev_id) {
                return Err(format!("vdev_id {} is used twice", vnpu.vdev_id));
            }
        }
    }
    Ok(())
}

/// Whether chaos mode `mode` is on (false before `dcmi_init`).
pub(crate) fn chaos_has(mode: ChaosMode) -> bool {
    lock().as_ref().is_some_and(|sim| sim.chaos().has(mode))
}

/// Blocks while chaos mode `hang` is on, at most 60 s.
pub(crate) fn wait_while_hanging() {
    let deadline = Instant::now() + HANG_LIMIT;
    let mut guard = lock();
    loop {
        let hanging = guard
            .as_ref()
            .is_some_and(|sim| sim.chaos().has(ChaosMode::Hang));
        let now = Instant::now();
        if !hanging || now >= deadline {
            return;
        }
        guard = match CHANGED.wait_timeout(guard, deadline - now) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}
