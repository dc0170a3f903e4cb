//! The DCMI symbol table: the only `unsafe` code in the crate.
//!
//! Symbols are resolved once when the library is opened and kept next to the
//! `Library` that owns them. The library is never closed (`dlclose`): the
//! driver runs its own fault-event thread, which would jump into unmapped
//! code if the library were unloaded under it. Each
//! wrapper passes pointers to live, exclusively borrowed Rust values whose
//! layout is the C struct's (`dcmi-abi`, proven by its layout test) and
//! buffer lengths equal to the real buffer; it returns the raw code. Turning
//! the outputs into Rust values is safe code in `api.rs`.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::mem::ManuallyDrop;
use std::path::Path;
use std::sync::Mutex;

use dcmi_abi as abi;
use libloading::Library;
use tokio::sync::mpsc;

use super::error::DcmiError;

/// A fault event copied out of the driver's callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultEvent {
    pub code: u32,
    /// The driver's logic id of the chip.
    pub logic_id: u32,
    pub severity: u8,
    /// 0 recovery, 1 occurrence, 2 one-off.
    pub assertion: u8,
    pub raised_ms: u64,
}

/// Where the fault callback delivers. The driver's callback has no user-data
/// argument, so the destination is process-global.
static FAULT_SINK: Mutex<Option<mpsc::Sender<FaultEvent>>> = Mutex::new(None);

/// Runs on a driver thread: copy the event out and hand it over without
/// blocking. When the channel is full or the lock is busy the event is
/// dropped; the health poll picks the fault up on its next round.
extern "C" fn on_fault_event(event: *mut abi::DcmiEvent) {
    if event.is_null() {
        return;
    }
    // SAFETY: the driver passes a pointer to a `dcmi_event` valid for the
    // duration of the callback (null checked above); we only read it, by
    // value, before returning.
    let event = unsafe { std::ptr::read_unaligned(event) };
    if event.r#type != 0 {
        return;
    }
    let dms = event.event_t.dms_event;
    let copied = FaultEvent {
        code: dms.event_id,
        logic_id: u32::from(dms.deviceid),
        severity: dms.severity,
        assertion: dms.assertion,
        raised_ms: dms.alarm_raised_time,
    };
    if let Ok(guard) = FAULT_SINK.try_lock()
        && let Some(sender) = guard.as_ref()
    {
        let _ = sender.try_send(copied);
    }
}

/// Resolves `name` or fails naming it.
fn required<T: Copy>(library: &Library, path: &Path, name: &'static str) -> Result<T, DcmiError> {
    optional(library, name).ok_or_else(|| DcmiError::MissingSymbol {
        path: path.to_path_buf(),
        symbol: name,
    })
}

fn optional<T: Copy>(library: &Library, name: &'static str) -> Option<T> {
    // SAFETY: every call site names T as the `dcmi-abi` function-pointer type
    // whose prototype is the one the header declares for `name`.
    unsafe { library.get::<T>(name.as_bytes()).ok().map(|symbol| *symbol) }
}

macro_rules! table {
    (required { $($rname:ident: $rty:ty = $rsym:literal,)* }
     optional { $($oname:ident: $oty:ty = $osym:literal,)* }) => {
        /// Resolved functions; `library` keeps their code mapped. It is
        /// never dropped, so never `dlclose`d: the driver's own threads (the
        /// fault-event thread) run its code until the process exits.
        pub struct Symbols {
            $($rname: $rty,)*
            $($oname: Option<$oty>,)*
            /// The v2 API (Ascend 950), when the library exports all of it.
            v2: Option<V2Symbols>,
            _library: ManuallyDrop<Library>,
        }

        impl Symbols {
            fn resolve(library: Library, path: &Path) -> Result<Self, DcmiError> {
                Ok(Self {
                    $($rname: required(&library, path, $rsym)?,)*
                    $($oname: optional(&library, $osym),)*
                    v2: V2Symbols::resolve(&library),
                    _library: ManuallyDrop::new(library),
                })
            }

            /// Names of optional symbols this driver does not export.
            pub fn missing_optional(&self) -> Vec<&'static str> {
                let mut missing = Vec::new();
                $(if self.$oname.is_none() { missing.push($osym); })*
                missing
            }
        }
    };
}

table! {
    required {
        init: abi::FnInit = "dcmi_init",
        card_list: abi::FnGetCardList = "dcmi_get_card_list",
        device_num_in_card: abi::FnGetDeviceNumInCard = "dcmi_get_device_num_in_card",
        device_logic_id: abi::FnGetDeviceLogicId = "dcmi_get_device_logic_id",
        phyid_from_logicid: abi::FnGetDevicePhyidFromLogicid = "dcmi_get_device_phyid_from_logicid",
        chip_info: abi::FnGetDeviceChipInfo = "dcmi_get_device_chip_info",
    }
    optional {
        dcmi_version: abi::FnGetDcmiVersion = "dcmi_get_dcmi_version",
        chip_info_v2: abi::FnGetDeviceChipInfoV2 = "dcmi_get_device_chip_info_v2",
        board_info: abi::FnGetDeviceBoardInfo = "dcmi_get_device_board_info",
        product_type: abi::FnGetProductType = "dcmi_get_product_type",
        device_type: abi::FnGetDeviceType = "dcmi_get_device_type",
        device_info: abi::FnGetDeviceInfo = "dcmi_get_device_info",
        device_ip: abi::FnGetDeviceIp = "dcmi_get_device_ip",
        die_v2: abi::FnGetDeviceDieV2 = "dcmi_get_device_die_v2",
        set_multi_die_policy: abi::FnSetMultiDiePolicy = "dcmi_set_multi_die_policy",
        memory_info_v3: abi::FnGetDeviceMemoryInfoV3 = "dcmi_get_device_memory_info_v3",
        hbm_info: abi::FnGetDeviceHbmInfo = "dcmi_get_device_hbm_info",
        pcie_info_v2: abi::FnGetDevicePcieInfoV2 = "dcmi_get_device_pcie_info_v2",
        health: abi::FnGetDeviceHealth = "dcmi_get_device_health",
        errorcode_v2: abi::FnGetDeviceErrorcodeV2 = "dcmi_get_device_errorcode_v2",
        network_health: abi::FnGetDeviceNetworkHealth = "dcmi_get_device_network_health",
        subscribe: abi::FnSubscribeFaultEvent = "dcmi_subscribe_fault_event",
        create_vdevice: abi::FnCreateVdevice = "dcmi_create_vdevice",
        destroy_vdevice: abi::FnSetDestroyVdevice = "dcmi_set_destroy_vdevice",
        set_device_reset: abi::FnSetDeviceReset = "dcmi_set_device_reset",
        boot_status: abi::FnGetDeviceBootStatus = "dcmi_get_device_boot_status",
        resource_info: abi::FnGetDeviceResourceInfo = "dcmi_get_device_resource_info",
        outband_state: abi::FnGetDeviceOutbandChannelState = "dcmi_get_device_outband_channel_state",
        pre_reset_soc: abi::FnPreResetSoc = "dcmi_pre_reset_soc",
        rescan_soc: abi::FnRescanSoc = "dcmi_rescan_soc",
        brother_device: abi::FnGetNetdevBrotherDevice = "dcmi_get_netdev_brother_device",
    }
}

/// Calls an optional symbol, or reports it unsupported.
macro_rules! call_optional {
    ($self:ident . $field:ident, $name:literal, |$f:ident| $call:expr) => {
        match $self.$field {
            Some($f) => Ok($call),
            None => Err(DcmiError::Unsupported { function: $name }),
        }
    };
}

/// The `dcmiv2_*` functions (Ascend 950 drivers: a chip is addressed by its
/// logic id). The core (init, chip list, ids, chip info, health and codes)
/// is resolved as one set: a library that lacks any of it has no usable v2
/// API and [`Symbols::v2`] is `None`, so a v1-only driver loads as before.
/// The rest is optional one by one, like the v1 table's optional symbols.
/// The pointers stay valid because `Symbols` never `dlclose`s the library
/// that holds them.
pub struct V2Symbols {
    init: abi::FnV2Init,
    device_list: abi::FnV2GetDeviceList,
    all_device_count: abi::FnV2GetAllDeviceCount,
    phy_id: abi::FnV2GetChipPhyIdByDevId,
    chip_info: abi::FnV2GetDeviceChipInfo,
    board_info: Option<abi::FnV2GetDeviceBoardInfo>,
    mainboard_id: Option<abi::FnV2GetMainboardId>,
    pcie_info: Option<abi::FnV2GetDevicePcieInfo>,
    die_id: Option<abi::FnV2GetDeviceDieId>,
    hbm_info: Option<abi::FnV2GetDeviceHbmInfo>,
    device_info: Option<abi::FnV2GetDeviceInfo>,
    health: abi::FnV2GetDeviceHealth,
    error_code_list: abi::FnV2GetDeviceErrorCodeList,
    network_health: Option<abi::FnV2GetDeviceNetworkHealth>,
    subscribe: Option<abi::FnV2SubscribeFaultEvent>,
    reset_device: Option<abi::FnV2ResetDevice>,
    outband_state: Option<abi::FnV2GetDeviceOutbandChannelState>,
    pre_reset: Option<abi::FnV2PreResetDevice>,
    rescan: Option<abi::FnV2RescanDevice>,
    boot_status: Option<abi::FnV2GetDeviceBootStatus>,
    proc_mem_info: Option<abi::FnV2GetDeviceProcMemInfo>,
    dcmi_version: Option<abi::FnV2GetDcmiVersion>,
}

impl V2Symbols {
    fn resolve(library: &Library) -> Option<Self> {
        Some(Self {
            init: optional(library, "dcmiv2_init")?,
            device_list: optional(library, "dcmiv2_get_device_list")?,
            all_device_count: optional(library, "dcmiv2_get_all_device_count")?,
            phy_id: optional(library, "dcmiv2_get_chip_phy_id_by_dev_id")?,
            chip_info: optional(library, "dcmiv2_get_device_chip_info")?,
            board_info: optional(library, "dcmiv2_get_device_board_info"),
            mainboard_id: optional(library, "dcmiv2_get_mainboard_id"),
            pcie_info: optional(library, "dcmiv2_get_device_pcie_info"),
            die_id: optional(library, "dcmiv2_get_device_die_id"),
            hbm_info: optional(library, "dcmiv2_get_device_hbm_info"),
            device_info: optional(library, "dcmiv2_get_device_info"),
            health: optional(library, "dcmiv2_get_device_health")?,
            error_code_list: optional(library, "dcmiv2_get_device_error_code_list")?,
            network_health: optional(library, "dcmiv2_get_device_network_health"),
            subscribe: optional(library, "dcmiv2_subscribe_fault_event"),
            reset_device: optional(library, "dcmiv2_reset_device"),
            outband_state: optional(library, "dcmiv2_get_device_outband_channel_state"),
            pre_reset: optional(library, "dcmiv2_pre_reset_device"),
            rescan: optional(library, "dcmiv2_rescan_device"),
            boot_status: optional(library, "dcmiv2_get_device_boot_status"),
            proc_mem_info: optional(library, "dcmiv2_get_device_proc_mem_info"),
            dcmi_version: optional(library, "dcmiv2_get_dcmi_version"),
        })
    }

    pub fn init(&self) -> c_int {
        // SAFETY: no arguments.
        unsafe { (self.init)() }
    }

    /// Logic ids into `list`; `num` is how many the driver reports.
    pub fn device_list(&self, list: &mut [c_int], num: &mut c_int) -> c_int {
        let len = c_int::try_from(list.len()).unwrap_or(c_int::MAX);
        // SAFETY: `list` has exactly `len` ints; `num` is a live int.
        unsafe { (self.device_list)(list.as_mut_ptr(), num, len) }
    }

    pub fn all_device_count(&self, count: &mut c_int) -> c_int {
        // SAFETY: `count` is a live int.
        unsafe { (self.all_device_count)(count) }
    }

    pub fn phy_id(&self, logic: c_uint, phy: &mut c_uint) -> c_int {
        // SAFETY: `phy` is a live unsigned int.
        unsafe { (self.phy_id)(logic, phy) }
    }

    pub fn chip_info(&self, logic: c_int, out: &mut abi::DcmiChipInfoV2) -> c_int {
        // SAFETY: `out` is a live dcmi_chip_info_v2.
        unsafe { (self.chip_info)(logic, out) }
    }

    pub fn board_info(
        &self,
        logic: c_int,
        out: &mut abi::DcmiBoardInfo,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live dcmi_board_info.
        call_optional!(
            self.board_info,
            "dcmiv2_get_device_board_info",
            |f| unsafe { f(logic, out) }
        )
    }

    pub fn mainboard_id(&self, logic: c_int, out: &mut c_uint) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live unsigned int.
        call_optional!(self.mainboard_id, "dcmiv2_get_mainboard_id", |f| unsafe {
            f(logic, out)
        })
    }

    pub fn pcie_info(
        &self,
        logic: c_int,
        out: &mut abi::DcmiPcieInfoAll,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live dcmi_pcie_info_all.
        call_optional!(self.pcie_info, "dcmiv2_get_device_pcie_info", |f| unsafe {
            f(logic, out)
        })
    }

    pub fn die_id(
        &self,
        logic: c_int,
        kind: abi::DcmiDieType,
        out: &mut abi::DcmiDieId,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live dcmi_die_id; `kind` is a plain integer.
        call_optional!(self.die_id, "dcmiv2_get_device_die_id", |f| unsafe {
            f(logic, kind, out)
        })
    }

    pub fn hbm_info(&self, logic: c_int, out: &mut abi::DcmiHbmInfo) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live dcmi_hbm_info.
        call_optional!(self.hbm_info, "dcmiv2_get_device_hbm_info", |f| unsafe {
            f(logic, out)
        })
    }

    /// `dcmiv2_get_device_info` with a typed buffer; `*size` starts as its size.
    pub fn device_info<T>(
        &self,
        logic: c_int,
        main_cmd: abi::DcmiMainCmd,
        sub_cmd: c_uint,
        buffer: &mut T,
    ) -> Result<c_int, DcmiError> {
        let mut size = c_uint::try_from(std::mem::size_of::<T>()).unwrap_or(c_uint::MAX);
        let pointer = (buffer as *mut T).cast::<c_void>();
        // SAFETY: `pointer` addresses a live, exclusively borrowed T of
        // exactly `size` bytes; callers pass the struct the command documents.
        call_optional!(self.device_info, "dcmiv2_get_device_info", |f| unsafe {
            f(logic, main_cmd, sub_cmd, pointer, &mut size)
        })
    }

    pub fn health(&self, logic: c_int, out: &mut c_uint) -> c_int {
        // SAFETY: `out` is a live unsigned int.
        unsafe { (self.health)(logic, out) }
    }

    pub fn error_code_list(&self, logic: c_int, count: &mut c_int, codes: &mut [c_uint]) -> c_int {
        let len = c_uint::try_from(codes.len()).unwrap_or(c_uint::MAX);
        // SAFETY: `count` is a live int; `codes` has exactly `len` entries.
        unsafe { (self.error_code_list)(logic, count, codes.as_mut_ptr(), len) }
    }

    pub fn network_health(
        &self,
        logic: c_int,
        out: &mut abi::DcmiRdfxDetectResult,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live 4-byte enum.
        call_optional!(
            self.network_health,
            "dcmiv2_get_device_network_health",
            |f| unsafe { f(logic, out) }
        )
    }

    /// Subscribes every chip's fault events to `sink` (replacing an earlier
    /// sink); the events are v1 `dcmi_event`s, so the v1 callback serves.
    pub fn subscribe(&self, sink: mpsc::Sender<FaultEvent>) -> Result<c_int, DcmiError> {
        if let Ok(mut guard) = FAULT_SINK.lock() {
            *guard = Some(sink);
        }
        let filter = abi::DcmiEventFilter::default();
        // SAFETY: the filter is passed by value (all zero = no filtering);
        // the callback is a plain `extern "C"` function that lives for the
        // whole program.
        call_optional!(self.subscribe, "dcmiv2_subscribe_fault_event", |f| unsafe {
            f(-1, filter, Some(on_fault_event))
        })
    }

    pub fn reset_device(
        &self,
        logic: c_int,
        channel: abi::DcmiResetChannel,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: plain integer arguments.
        call_optional!(self.reset_device, "dcmiv2_reset_device", |f| unsafe {
            f(logic, channel)
        })
    }

    pub fn outband_state(&self, logic: c_int, out: &mut c_int) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live int.
        call_optional!(
            self.outband_state,
            "dcmiv2_get_device_outband_channel_state",
            |f| unsafe { f(logic, out) }
        )
    }

    pub fn pre_reset(&self, logic: c_int) -> Result<c_int, DcmiError> {
        // SAFETY: plain integer argument.
        call_optional!(self.pre_reset, "dcmiv2_pre_reset_device", |f| unsafe {
            f(logic)
        })
    }

    pub fn rescan(&self, logic: c_int) -> Result<c_int, DcmiError> {
        // SAFETY: plain integer argument.
        call_optional!(self.rescan, "dcmiv2_rescan_device", |f| unsafe { f(logic) })
    }

    pub fn boot_status(
        &self,
        logic: c_int,
        out: &mut abi::DcmiBootStatus,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live 4-byte enum.
        call_optional!(
            self.boot_status,
            "dcmiv2_get_device_boot_status",
            |f| unsafe { f(logic, out) }
        )
    }

    /// `procs` must hold [`abi::DCMI_MAX_PROC_NUM`] entries: the call has no
    /// length argument and the driver writes at most that many.
    pub fn proc_mem_info(
        &self,
        logic: c_int,
        procs: &mut [abi::DcmiProcMemInfo; abi::DCMI_MAX_PROC_NUM],
        count: &mut c_int,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `procs` is a live array of the driver's maximum process
        // count; `count` is a live int.
        call_optional!(
            self.proc_mem_info,
            "dcmiv2_get_device_proc_mem_info",
            |f| unsafe { f(logic, procs.as_mut_ptr(), count) }
        )
    }

    pub fn dcmi_version(&self, buffer: &mut [c_char]) -> Result<c_int, DcmiError> {
        let len = c_int::try_from(buffer.len()).unwrap_or(c_int::MAX);
        // SAFETY: `buffer` has exactly `len` chars.
        call_optional!(self.dcmi_version, "dcmiv2_get_dcmi_version", |f| unsafe {
            f(buffer.as_mut_ptr(), len)
        })
    }
}

impl std::fmt::Debug for Symbols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbols")
            .field("missing_optional", &self.missing_optional())
            .field("v2", &self.v2.is_some())
            .finish_non_exhaustive()
    }
}

impl Symbols {
    /// Opens the library at `path` (already vetted by the loader) and
    /// resolves every symbol.
    pub fn open(path: &Path) -> Result<Self, DcmiError> {
        // SAFETY: loading runs the library's initialisers. The path passed the
        // loader's ownership and permission checks, which is the trust
        // decision the upstream plugin makes too.
        let library = unsafe { Library::new(path) }.map_err(|e| DcmiError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::resolve(library, path)
    }

    pub fn init(&self) -> c_int {
        // SAFETY: no arguments.
        unsafe { (self.init)() }
    }

    /// The v2 API, when the library exports every function of it.
    pub fn v2(&self) -> Option<&V2Symbols> {
        self.v2.as_ref()
    }

    pub fn card_list(&self, num: &mut c_int, list: &mut [c_int]) -> c_int {
        let len = c_int::try_from(list.len()).unwrap_or(c_int::MAX);
        // SAFETY: `num` is a live int; `list` has exactly `len` ints.
        unsafe { (self.card_list)(num, list.as_mut_ptr(), len) }
    }

    pub fn device_num_in_card(&self, card: c_int, num: &mut c_int) -> c_int {
        // SAFETY: `num` is a live int.
        unsafe { (self.device_num_in_card)(card, num) }
    }

    pub fn device_logic_id(&self, logic: &mut c_int, card: c_int, device: c_int) -> c_int {
        // SAFETY: `logic` is a live int (output comes first in this prototype).
        unsafe { (self.device_logic_id)(logic, card, device) }
    }

    pub fn phyid_from_logicid(&self, logic: c_uint, phy: &mut c_uint) -> c_int {
        // SAFETY: `phy` is a live unsigned int.
        unsafe { (self.phyid_from_logicid)(logic, phy) }
    }

    pub fn chip_info(&self, card: c_int, device: c_int, out: &mut abi::DcmiChipInfo) -> c_int {
        // SAFETY: `out` is a live dcmi_chip_info.
        unsafe { (self.chip_info)(card, device, out) }
    }

    pub fn chip_info_v2(
        &self,
        card: c_int,
        device: c_int,
        out: &mut abi::DcmiChipInfoV2,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live dcmi_chip_info_v2.
        call_optional!(
            self.chip_info_v2,
            "dcmi_get_device_chip_info_v2",
            |f| unsafe { f(card, device, out) }
        )
    }

    pub fn dcmi_version(&self, buffer: &mut [c_char]) -> Result<c_int, DcmiError> {
        let len = c_uint::try_from(buffer.len()).unwrap_or(c_uint::MAX);
        // SAFETY: `buffer` has exactly `len` chars.
        call_optional!(self.dcmi_version, "dcmi_get_dcmi_version", |f| unsafe {
            f(buffer.as_mut_ptr(), len)
        })
    }

    pub fn board_info(
        &self,
        card: c_int,
        device: c_int,
        out: &mut abi::DcmiBoardInfo,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live dcmi_board_info.
        call_optional!(self.board_info, "dcmi_get_device_board_info", |f| unsafe {
            f(card, device, out)
        })
    }

    pub fn product_type(
        &self,
        card: c_int,
        device: c_int,
        buffer: &mut [c_char],
    ) -> Result<c_int, DcmiError> {
        let len = c_int::try_from(buffer.len()).unwrap_or(c_int::MAX);
        // SAFETY: `buffer` has exactly `len` chars.
        call_optional!(self.product_type, "dcmi_get_product_type", |f| unsafe {
            f(card, device, buffer.as_mut_ptr(), len)
        })
    }

    pub fn device_type(
        &self,
        card: c_int,
        device: c_int,
        out: &mut abi::DcmiUnitType,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live 4-byte enum.
        call_optional!(self.device_type, "dcmi_get_device_type", |f| unsafe {
            f(card, device, out)
        })
    }

    /// `dcmi_get_device_info` with a typed buffer; `*size` starts as its size.
    pub fn device_info<T>(
        &self,
        card: c_int,
        device: c_int,
        main_cmd: abi::DcmiMainCmd,
        sub_cmd: c_uint,
        buffer: &mut T,
    ) -> Result<c_int, DcmiError> {
        let mut size = c_uint::try_from(std::mem::size_of::<T>()).unwrap_or(c_uint::MAX);
        let pointer = (buffer as *mut T).cast::<c_void>();
        // SAFETY: `pointer` addresses a live, exclusively borrowed T of
        // exactly `size` bytes; callers pass the struct the command documents.
        call_optional!(self.device_info, "dcmi_get_device_info", |f| unsafe {
            f(card, device, main_cmd, sub_cmd, pointer, &mut size)
        })
    }

    pub fn device_ip(
        &self,
        card: c_int,
        device: c_int,
        port: abi::DcmiPortType,
        ip: &mut abi::DcmiIpAddr,
        mask: &mut abi::DcmiIpAddr,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `ip` and `mask` are live dcmi_ip_addr values.
        call_optional!(self.device_ip, "dcmi_get_device_ip", |f| unsafe {
            f(card, device, port, 0, ip, mask)
        })
    }

    pub fn die_v2(
        &self,
        card: c_int,
        device: c_int,
        die_type: abi::DcmiDieType,
        out: &mut abi::DcmiDieId,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live `struct dcmi_die_id` (layout proven in
        // ffi/abi/tests/layout.rs); the die type is passed by value.
        call_optional!(self.die_v2, "dcmi_get_device_die_v2", |f| unsafe {
            f(card, device, die_type, out)
        })
    }

    pub fn set_multi_die_policy(
        &self,
        policy: abi::DcmiMultiDiePolicy,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: the policy is a plain enum value passed by value.
        call_optional!(
            self.set_multi_die_policy,
            "dcmi_set_multi_die_policy",
            |f| unsafe { f(policy) }
        )
    }

    pub fn memory_info_v3(
        &self,
        card: c_int,
        device: c_int,
        out: &mut abi::DcmiGetMemoryInfoStru,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live dcmi_get_memory_info_stru.
        call_optional!(
            self.memory_info_v3,
            "dcmi_get_device_memory_info_v3",
            |f| unsafe { f(card, device, out) }
        )
    }

    pub fn hbm_info(
        &self,
        card: c_int,
        device: c_int,
        out: &mut abi::DcmiHbmInfo,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live dcmi_hbm_info.
        call_optional!(self.hbm_info, "dcmi_get_device_hbm_info", |f| unsafe {
            f(card, device, out)
        })
    }

    pub fn pcie_info_v2(
        &self,
        card: c_int,
        device: c_int,
        out: &mut abi::DcmiPcieInfoAll,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live dcmi_pcie_info_all.
        call_optional!(
            self.pcie_info_v2,
            "dcmi_get_device_pcie_info_v2",
            |f| unsafe { f(card, device, out) }
        )
    }

    pub fn health(&self, card: c_int, device: c_int, out: &mut c_uint) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live unsigned int.
        call_optional!(self.health, "dcmi_get_device_health", |f| unsafe {
            f(card, device, out)
        })
    }

    pub fn errorcode_v2(
        &self,
        card: c_int,
        device: c_int,
        count: &mut c_int,
        codes: &mut [c_uint],
    ) -> Result<c_int, DcmiError> {
        let len = c_uint::try_from(codes.len()).unwrap_or(c_uint::MAX);
        // SAFETY: `count` is a live int; `codes` has exactly `len` entries.
        call_optional!(
            self.errorcode_v2,
            "dcmi_get_device_errorcode_v2",
            |f| unsafe { f(card, device, count, codes.as_mut_ptr(), len) }
        )
    }

    pub fn network_health(
        &self,
        card: c_int,
        device: c_int,
        out: &mut abi::DcmiRdfxDetectResult,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live 4-byte enum.
        call_optional!(
            self.network_health,
            "dcmi_get_device_network_health",
            |f| unsafe { f(card, device, out) }
        )
    }

    pub fn create_vdevice(
        &self,
        card: c_int,
        device: c_int,
        request: &mut abi::DcmiCreateVdevResStru,
        out: &mut abi::DcmiCreateVdevOut,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `request` and `out` are live structs of the declared types.
        call_optional!(self.create_vdevice, "dcmi_create_vdevice", |f| unsafe {
            f(card, device, request, out)
        })
    }

    pub fn destroy_vdevice(
        &self,
        card: c_int,
        device: c_int,
        vdev: c_uint,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: plain integer arguments.
        call_optional!(
            self.destroy_vdevice,
            "dcmi_set_destroy_vdevice",
            |f| unsafe { f(card, device, vdev) }
        )
    }

    pub fn set_device_reset(
        &self,
        card: c_int,
        device: c_int,
        channel: abi::DcmiResetChannel,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: plain integer arguments.
        call_optional!(self.set_device_reset, "dcmi_set_device_reset", |f| unsafe {
            f(card, device, channel)
        })
    }

    pub fn boot_status(
        &self,
        card: c_int,
        device: c_int,
        out: &mut abi::DcmiBootStatus,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live 4-byte enum.
        call_optional!(
            self.boot_status,
            "dcmi_get_device_boot_status",
            |f| unsafe { f(card, device, out) }
        )
    }

    /// `procs` must hold [`abi::DCMI_MAX_PROC_NUM`] entries: the call has no
    /// length argument and the driver writes at most that many.
    pub fn resource_info(
        &self,
        card: c_int,
        device: c_int,
        procs: &mut [abi::DcmiProcMemInfo; abi::DCMI_MAX_PROC_NUM],
        count: &mut c_int,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `procs` is a live array of the driver's maximum process
        // count; `count` is a live int.
        call_optional!(
            self.resource_info,
            "dcmi_get_device_resource_info",
            |f| unsafe { f(card, device, procs.as_mut_ptr(), count) }
        )
    }

    pub fn outband_state(
        &self,
        card: c_int,
        device: c_int,
        out: &mut c_int,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live int.
        call_optional!(
            self.outband_state,
            "dcmi_get_device_outband_channel_state",
            |f| unsafe { f(card, device, out) }
        )
    }

    pub fn pre_reset_soc(&self, card: c_int, device: c_int) -> Result<c_int, DcmiError> {
        // SAFETY: plain integer arguments.
        call_optional!(self.pre_reset_soc, "dcmi_pre_reset_soc", |f| unsafe {
            f(card, device)
        })
    }

    pub fn rescan_soc(&self, card: c_int, device: c_int) -> Result<c_int, DcmiError> {
        // SAFETY: plain integer arguments.
        call_optional!(self.rescan_soc, "dcmi_rescan_soc", |f| unsafe {
            f(card, device)
        })
    }

    pub fn brother_device(
        &self,
        card: c_int,
        device: c_int,
        out: &mut c_int,
    ) -> Result<c_int, DcmiError> {
        // SAFETY: `out` is a live int.
        call_optional!(
            self.brother_device,
            "dcmi_get_netdev_brother_device",
            |f| unsafe { f(card, device, out) }
        )
    }

    /// Subscribes every chip's fault events to `sink` (replacing an earlier sink).
    pub fn subscribe(&self, sink: mpsc::Sender<FaultEvent>) -> Result<c_int, DcmiError> {
        if let Ok(mut guard) = FAULT_SINK.lock() {
            *guard = Some(sink);
        }
        let filter = abi::DcmiEventFilter::default();
        // SAFETY: the filter is passed by value (all zero = no filtering, as
        // upstream passes); the callback is a plain `extern "C"` function that
        // lives for the whole program.
        call_optional!(self.subscribe, "dcmi_subscribe_fault_event", |f| unsafe {
            f(-1, -1, filter, Some(on_fault_event))
        })
    }
}
