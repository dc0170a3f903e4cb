//! Shared test harness: loads the built `libdcmi.so` the way a consumer does
//! (dlopen + dlsym), serialises tests that change the process environment,
//! records fault events, and runs the `ascend-sim` CLI.

#![allow(dead_code, unsafe_code, clippy::unwrap_used, clippy::expect_used)]

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use dcmi_abi::*;

/// The built library, found from this test binary's location
/// (`target/<profile>/deps/<test>`): `cargo build` leaves it in
/// `target/<profile>/libdcmi.so`, `cargo test` refreshes only
/// `target/<profile>/deps/libdcmi.so`; the newer of the two wins.
pub fn library_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let profile = deps.parent().unwrap();
    [deps.join("libdcmi.so"), profile.join("libdcmi.so")]
        .into_iter()
        .filter_map(|path| Some((std::fs::metadata(&path).ok()?.modified().ok()?, path)))
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, path)| path)
        .unwrap_or_else(|| panic!("libdcmi.so not found next to {}", exe.display()))
}

fn dlerror() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string owned by the loader.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "unknown dlerror".into();
    }
    // SAFETY: non-NULL, NUL-terminated (above).
    unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned()
}

/// A dlopen'ed libdcmi.so.
pub struct Lib {
    handle: *mut c_void,
}

// SAFETY: a dlopen handle may be used from any thread.
unsafe impl Send for Lib {}
// SAFETY: dlsym on a handle is thread-safe.
unsafe impl Sync for Lib {}

impl Lib {
    /// dlopen(RTLD_NOW | RTLD_LOCAL) of the built library.
    pub fn open() -> Lib {
        let path = CString::new(library_path().to_str().unwrap()).unwrap();
        // SAFETY: `path` is a NUL-terminated path; loading runs the library's
        // initialisers, which are Rust's standard ones.
        let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        assert!(!handle.is_null(), "dlopen: {}", dlerror());
        Lib { handle }
    }

    /// dlclose; the library stays mapped (it pins itself at init).
    pub fn close(self) {
        // SAFETY: `handle` came from dlopen and is closed once (self is consumed).
        assert_eq!(
            unsafe { libc::dlclose(self.handle) },
            0,
            "dlclose: {}",
            dlerror()
        );
    }

    /// The symbol `name` as a function pointer of type `F` (one of the
    /// dcmi-abi `Fn*` aliases, so the prototype is the header's).
    pub fn sym<F: Copy>(&self, name: &str) -> F {
        assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
        let cname = CString::new(name).unwrap();
        // SAFETY: `handle` is live and `cname` is NUL-terminated.
        let ptr = unsafe { libc::dlsym(self.handle, cname.as_ptr()) };
        assert!(!ptr.is_null(), "{name} is not exported");
        // SAFETY: F is a function-pointer type of pointer size, and the
        // symbol is the exported function of that prototype.
        unsafe { std::mem::transmute_copy::<*mut c_void, F>(&ptr) }
    }
}

/// The library shared by the tests of one binary.
pub fn lib() -> &'static Lib {
    static LIB: OnceLock<Lib> = OnceLock::new();
    LIB.get_or_init(Lib::open)
}

/// Calls an exported function through its `Fn*` alias:
/// `dcmi!(FnGetDeviceHealth, "dcmi_get_device_health")(card, dev, &mut health)`.
#[macro_export]
macro_rules! dcmi {
    ($alias:ident, $name:literal) => {
        $crate::common::lib().sym::<dcmi_abi::$alias>($name)
    };
}

/// Serialises the tests of one binary: the simulator is one per process and
/// its configuration is the process environment.
static SERIAL: Mutex<()> = Mutex::new(());

/// A configured, initialised simulator; holds the serialisation lock.
pub struct Session {
    _guard: MutexGuard<'static, ()>,
    pub dir: PathBuf,
    pub state: PathBuf,
}

/// Sets (or removes) an environment variable.
pub fn set_env(name: &str, value: Option<&str>) {
    // SAFETY: every test that touches the environment holds SERIAL, and the
    // simulator reads it only inside dcmi_init, called under the same lock;
    // no other thread of this process reads or writes it meanwhile.
    unsafe {
        match value {
            Some(value) => std::env::set_var(name, value),
            None => std::env::remove_var(name),
        }
    }
}

/// A fresh empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: Mutex<u32> = Mutex::new(0);
    let mut counter = COUNTER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *counter += 1;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("dcmi-sim-tests")
        .join(format!("{name}-{}-{}", std::process::id(), *counter));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Config<'a> {
    pub topology: &'a str,
    pub with_state: bool,
    pub chaos: Option<&'a str>,
}

impl Session {
    /// Configures the environment and calls dcmi_init, expecting success.
    pub fn start(topology: &str) -> Session {
        Self::with(Config {
            topology,
            with_state: true,
            chaos: None,
        })
    }

    pub fn with(config: Config<'_>) -> Session {
        let session = Self::prepare(&config);
        assert_eq!(
            session.init(),
            DCMI_OK,
            "dcmi_init with {}",
            config.topology
        );
        session
    }

    /// Configures the environment for a topology whose driver serves the v2
    /// API (Ascend 950) and calls dcmiv2_init, expecting success.
    pub fn start_v2(topology: &str) -> Session {
        let session = Self::prepare(&Config {
            topology,
            with_state: true,
            chaos: None,
        });
        assert_eq!(session.init_v2(), DCMI_OK, "dcmiv2_init with {topology}");
        session
    }

    pub fn init_v2(&self) -> c_int {
        // SAFETY: dcmiv2_init takes no arguments.
        unsafe { dcmi!(FnV2Init, "dcmiv2_init")() }
    }

    /// Sets the environment up without initialising the library.
    pub fn prepare(config: &Config<'_>) -> Session {
        let guard = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = temp_dir("session");
        let state = dir.join("state.json");
        set_env("ASCEND_SIM_TOPOLOGY", Some(config.topology));
        set_env(
            "ASCEND_SIM_STATE",
            config.with_state.then(|| state.to_str().unwrap()),
        );
        set_env("ASCEND_SIM_CHAOS", config.chaos);
        clear_events();
        Session {
            _guard: guard,
            dir,
            state,
        }
    }

    pub fn init(&self) -> c_int {
        // SAFETY: dcmi_init takes no arguments.
        unsafe { dcmi!(FnInit, "dcmi_init")() }
    }

    /// Runs `ascend-sim --state <this session's file> ARGS`, expecting success.
    pub fn sim(&self, args: &str) -> String {
        let output = ascend_sim(Some(&self.state), args);
        assert!(
            output.status.success(),
            "ascend-sim {args}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Subscribes the recording callback to every chip.
    pub fn subscribe_all(&self) {
        assert_eq!(subscribe(-1, -1, DcmiEventFilter::default()), DCMI_OK);
    }
}

/// Runs the CLI.
pub fn ascend_sim(state: Option<&Path>, args: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ascend-sim"));
    if let Some(state) = state {
        command.arg("--state").arg(state);
    }
    command
        .args(args.split_whitespace())
        .env_remove("ASCEND_SIM_STATE")
        .output()
        .unwrap()
}

// ---- fault events ----

static EVENTS: Mutex<Vec<DcmiEvent>> = Mutex::new(Vec::new());
static EVENT_ARRIVED: Condvar = Condvar::new();

/// The fault callback: copies the event out and returns.
pub unsafe extern "C" fn record_event(event: *mut DcmiEvent) {
    // SAFETY: the simulator passes a pointer to a dcmi_event valid for the call.
    let event = unsafe { *event };
    EVENTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(event);
    EVENT_ARRIVED.notify_all();
}

pub fn clear_events() {
    EVENTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clear();
}

pub fn subscribe(card: c_int, dev: c_int, filter: DcmiEventFilter) -> c_int {
    // SAFETY: arguments by value, the callback has the dcmi_fault_event_callback prototype.
    unsafe {
        dcmi!(FnSubscribeFaultEvent, "dcmi_subscribe_fault_event")(
            card,
            dev,
            filter,
            Some(record_event),
        )
    }
}

/// Waits for the first recorded event matching `wanted` (removing it).
pub fn wait_event(
    timeout: Duration,
    wanted: impl Fn(&DcmiDmsFaultEvent) -> bool,
) -> Option<DcmiDmsFaultEvent> {
    let deadline = Instant::now() + timeout;
    let mut events = EVENTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        if let Some(index) = events
            .iter()
            .position(|event| wanted(&event.event_t.dms_event))
        {
            return Some(events.remove(index).event_t.dms_event);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        events = EVENT_ARRIVED
            .wait_timeout(events, deadline - now)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0;
    }
}

/// Every recorded event so far.
pub fn recorded_events() -> Vec<DcmiDmsFaultEvent> {
    EVENTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .iter()
        .map(|event| event.event_t.dms_event)
        .collect()
}

// ---- typed calls (the raw return code plus the output) ----

pub fn card_list(list_len: c_int) -> (c_int, c_int, Vec<c_int>) {
    let mut num = 0;
    let mut list = vec![-7; list_len.max(0) as usize];
    // SAFETY: `list` holds `list_len` ints, `num` is writable.
    let rc = unsafe {
        dcmi!(FnGetCardList, "dcmi_get_card_list")(&mut num, list.as_mut_ptr(), list_len)
    };
    (rc, num, list)
}

pub fn cards() -> Vec<c_int> {
    let (rc, num, list) = card_list(MAX_CARD_NUM as c_int);
    assert_eq!(rc, DCMI_OK);
    list[..num as usize].to_vec()
}

pub fn device_num(card: c_int) -> (c_int, c_int) {
    let mut num = 0;
    // SAFETY: `num` is writable.
    let rc = unsafe { dcmi!(FnGetDeviceNumInCard, "dcmi_get_device_num_in_card")(card, &mut num) };
    (rc, num)
}

pub fn logic_id(card: c_int, dev: c_int) -> (c_int, c_int) {
    let mut logic = -1;
    // SAFETY: `logic` is writable.
    let rc =
        unsafe { dcmi!(FnGetDeviceLogicId, "dcmi_get_device_logic_id")(&mut logic, card, dev) };
    (rc, logic)
}

pub fn phy_from_logic(logic: c_uint) -> (c_int, c_uint) {
    let mut phy = 0;
    // SAFETY: `phy` is writable.
    let rc = unsafe {
        dcmi!(
            FnGetDevicePhyidFromLogicid,
            "dcmi_get_device_phyid_from_logicid"
        )(logic, &mut phy)
    };
    (rc, phy)
}

pub fn chip_info_v2(card: c_int, dev: c_int) -> (c_int, DcmiChipInfoV2) {
    let mut info = DcmiChipInfoV2::default();
    // SAFETY: `info` is a writable dcmi_chip_info_v2.
    let rc = unsafe {
        dcmi!(FnGetDeviceChipInfoV2, "dcmi_get_device_chip_info_v2")(card, dev, &mut info)
    };
    (rc, info)
}

pub fn health(card: c_int, dev: c_int) -> (c_int, c_uint) {
    let mut health = 0xdead;
    // SAFETY: `health` is writable.
    let rc = unsafe { dcmi!(FnGetDeviceHealth, "dcmi_get_device_health")(card, dev, &mut health) };
    (rc, health)
}

pub fn error_codes(card: c_int, dev: c_int, list_len: c_uint) -> (c_int, c_int, Vec<c_uint>) {
    let mut count = -7;
    let mut list = vec![0; list_len as usize];
    // SAFETY: `list` holds `list_len` unsigned ints.
    let rc = unsafe {
        dcmi!(FnGetDeviceErrorcodeV2, "dcmi_get_device_errorcode_v2")(
            card,
            dev,
            &mut count,
            list.as_mut_ptr(),
            list_len,
        )
    };
    (rc, count, list)
}

pub fn network_health(card: c_int, dev: c_int) -> (c_int, c_uint) {
    let mut value = 0xdead;
    // SAFETY: `value` is writable.
    let rc = unsafe {
        dcmi!(FnGetDeviceNetworkHealth, "dcmi_get_device_network_health")(card, dev, &mut value)
    };
    (rc, value)
}

pub fn product_type(card: c_int, dev: c_int, buf_size: c_int) -> (c_int, Vec<u8>) {
    let mut buf = vec![0x55u8; buf_size.max(0) as usize];
    // SAFETY: `buf` holds `buf_size` bytes.
    let rc = unsafe {
        dcmi!(FnGetProductType, "dcmi_get_product_type")(
            card,
            dev,
            buf.as_mut_ptr().cast::<c_char>(),
            buf_size,
        )
    };
    (rc, buf)
}

pub fn device_info<T: Default>(
    card: c_int,
    dev: c_int,
    main: c_uint,
    sub: c_uint,
    value: T,
) -> (c_int, T, c_uint) {
    let mut value = value;
    let mut size = std::mem::size_of::<T>() as c_uint;
    // SAFETY: `value` is a writable T and `size` says its size.
    let rc = unsafe {
        dcmi!(FnGetDeviceInfo, "dcmi_get_device_info")(
            card,
            dev,
            main,
            sub,
            (&raw mut value).cast::<c_void>(),
            &mut size,
        )
    };
    (rc, value, size)
}

pub fn total_resource(card: c_int, dev: c_int) -> (c_int, DcmiSocTotalResource) {
    let (rc, total, _) = device_info(
        card,
        dev,
        DCMI_MAIN_CMD_VDEV_MNG,
        DCMI_VMNG_SUB_CMD_GET_TOTAL_RESOURCE,
        DcmiSocTotalResource::default(),
    );
    (rc, total)
}

pub fn vdev_resource(card: c_int, dev: c_int, vdev_id: c_uint) -> (c_int, DcmiVdevQueryStru) {
    let query = DcmiVdevQueryStru {
        vdev_id,
        ..DcmiVdevQueryStru::default()
    };
    let (rc, query, _) = device_info(
        card,
        dev,
        DCMI_MAIN_CMD_VDEV_MNG,
        DCMI_VMNG_SUB_CMD_GET_VDEV_RESOURCE,
        query,
    );
    (rc, query)
}

pub fn create_vnpu(card: c_int, dev: c_int, template: &str) -> (c_int, DcmiCreateVdevOut) {
    let mut request = DcmiCreateVdevResStru {
        vdev_id: u32::MAX,
        vfg_id: u32::MAX,
        ..DcmiCreateVdevResStru::default()
    };
    for (slot, byte) in request.template_name.iter_mut().zip(template.bytes()) {
        *slot = byte as c_char;
    }
    let mut out = DcmiCreateVdevOut::default();
    // SAFETY: both structs are valid and writable.
    let rc =
        unsafe { dcmi!(FnCreateVdevice, "dcmi_create_vdevice")(card, dev, &mut request, &mut out) };
    (rc, out)
}

pub fn destroy_vnpu(card: c_int, dev: c_int, vdev_id: c_uint) -> c_int {
    // SAFETY: arguments by value.
    unsafe { dcmi!(FnSetDestroyVdevice, "dcmi_set_destroy_vdevice")(card, dev, vdev_id) }
}

/// The text before the first NUL (panics when there is none).
pub fn c_text(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|byte| *byte == 0)
        .expect("NUL-terminated");
    String::from_utf8(bytes[..end].to_vec()).unwrap()
}

/// Same for `char` arrays.
pub fn c_text_chars(chars: &[c_char]) -> String {
    c_text(&chars.iter().map(|c| *c as u8).collect::<Vec<u8>>())
}
