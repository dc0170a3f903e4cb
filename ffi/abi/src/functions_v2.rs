//! The v2 API of Ascend 950 (A5) drivers: `Fn` + `V2` + the C name without
//! `dcmiv2_`, in CamelCase. A chip is addressed by its logic id (`dev_id`);
//! every struct is the v1 one. A v1-only library exports none of these.

use core::ffi::{c_char, c_int, c_uint, c_void};

use crate::{
    DcmiBoardInfo, DcmiBootStatus, DcmiChipInfoV2, DcmiDieId, DcmiDieType, DcmiEventFilter,
    DcmiHbmInfo, DcmiMainCmd, DcmiPcieInfoAll, DcmiProcMemInfo, DcmiRdfxDetectResult,
    DcmiResetChannel, DcmiUnitType, FaultEventCallback,
};

/// `int dcmiv2_init(void)`.
pub type FnV2Init = unsafe extern "C" fn() -> c_int;
/// `int dcmiv2_get_dcmi_version(char *dcmi_ver, int buf_size)`.
pub type FnV2GetDcmiVersion = unsafe extern "C" fn(dcmi_ver: *mut c_char, buf_size: c_int) -> c_int;
/// `int dcmiv2_get_device_list(int *device_list, int *device_num, int list_len)`: logic ids.
pub type FnV2GetDeviceList =
    unsafe extern "C" fn(device_list: *mut c_int, device_num: *mut c_int, list_len: c_int) -> c_int;
/// `int dcmiv2_get_all_device_count(int *all_device_count)`.
pub type FnV2GetAllDeviceCount = unsafe extern "C" fn(all_device_count: *mut c_int) -> c_int;
/// `int dcmiv2_get_chip_phy_id_by_dev_id(unsigned int dev_id, unsigned int *phyid)`.
pub type FnV2GetChipPhyIdByDevId =
    unsafe extern "C" fn(dev_id: c_uint, phyid: *mut c_uint) -> c_int;
/// `int dcmiv2_get_dev_id_by_chip_phy_id(unsigned int phyid, unsigned int *dev_id)`.
pub type FnV2GetDevIdByChipPhyId =
    unsafe extern "C" fn(phyid: c_uint, dev_id: *mut c_uint) -> c_int;
/// `int dcmiv2_get_device_type(int dev_id, enum dcmi_unit_type *device_type)`.
pub type FnV2GetDeviceType =
    unsafe extern "C" fn(dev_id: c_int, device_type: *mut DcmiUnitType) -> c_int;
/// `int dcmiv2_get_device_chip_info(int dev_id, struct dcmi_chip_info_v2 *chip_info)`.
pub type FnV2GetDeviceChipInfo =
    unsafe extern "C" fn(dev_id: c_int, chip_info: *mut DcmiChipInfoV2) -> c_int;
/// `int dcmiv2_get_device_board_info(int dev_id, struct dcmi_board_info *board_info)`.
pub type FnV2GetDeviceBoardInfo =
    unsafe extern "C" fn(dev_id: c_int, board_info: *mut DcmiBoardInfo) -> c_int;
/// `int dcmiv2_get_mainboard_id(int dev_id, unsigned int *mainboard_id)`.
pub type FnV2GetMainboardId =
    unsafe extern "C" fn(dev_id: c_int, mainboard_id: *mut c_uint) -> c_int;
/// `int dcmiv2_get_device_pcie_info(int dev_id, struct dcmi_pcie_info_all *pcie_info)`.
pub type FnV2GetDevicePcieInfo =
    unsafe extern "C" fn(dev_id: c_int, pcie_info: *mut DcmiPcieInfoAll) -> c_int;
/// `int dcmiv2_get_device_die_id(int dev_id, enum dcmi_die_type input_type, struct dcmi_die_id *die_id)`.
pub type FnV2GetDeviceDieId =
    unsafe extern "C" fn(dev_id: c_int, input_type: DcmiDieType, die_id: *mut DcmiDieId) -> c_int;
/// `int dcmiv2_get_device_hbm_info(int dev_id, struct dcmi_hbm_info *hbm_info)`.
pub type FnV2GetDeviceHbmInfo =
    unsafe extern "C" fn(dev_id: c_int, hbm_info: *mut DcmiHbmInfo) -> c_int;
/// `int dcmiv2_get_device_info(int dev_id, enum dcmi_main_cmd main_cmd, unsigned int sub_cmd, void *buf, unsigned int *size)`.
pub type FnV2GetDeviceInfo = unsafe extern "C" fn(
    dev_id: c_int,
    main_cmd: DcmiMainCmd,
    sub_cmd: c_uint,
    buf: *mut c_void,
    size: *mut c_uint,
) -> c_int;
/// `int dcmiv2_get_device_health(int dev_id, unsigned int *health)`.
pub type FnV2GetDeviceHealth = unsafe extern "C" fn(dev_id: c_int, health: *mut c_uint) -> c_int;
/// `int dcmiv2_get_device_error_code_list(int dev_id, int *error_count, unsigned int *error_code_list, unsigned int list_len)`.
pub type FnV2GetDeviceErrorCodeList = unsafe extern "C" fn(
    dev_id: c_int,
    error_count: *mut c_int,
    error_code_list: *mut c_uint,
    list_len: c_uint,
) -> c_int;
/// `int dcmiv2_get_device_network_health(int dev_id, enum dcmi_rdfx_detect_result *result)`.
pub type FnV2GetDeviceNetworkHealth =
    unsafe extern "C" fn(dev_id: c_int, result: *mut DcmiRdfxDetectResult) -> c_int;
/// `int dcmiv2_subscribe_fault_event(int dev_id, struct dcmi_event_filter filter, dcmi_fault_event_callback handler)`;
/// the filter is passed BY VALUE; dev_id -1 subscribes to every chip.
pub type FnV2SubscribeFaultEvent = unsafe extern "C" fn(
    dev_id: c_int,
    filter: DcmiEventFilter,
    handler: FaultEventCallback,
) -> c_int;
/// `int dcmiv2_reset_device(int dev_id, enum dcmi_reset_channel channel_type)`.
pub type FnV2ResetDevice =
    unsafe extern "C" fn(dev_id: c_int, channel_type: DcmiResetChannel) -> c_int;
/// `int dcmiv2_get_device_outband_channel_state(int dev_id, int *channel_state)`.
pub type FnV2GetDeviceOutbandChannelState =
    unsafe extern "C" fn(dev_id: c_int, channel_state: *mut c_int) -> c_int;
/// `int dcmiv2_pre_reset_device(int dev_id)`.
pub type FnV2PreResetDevice = unsafe extern "C" fn(dev_id: c_int) -> c_int;
/// `int dcmiv2_rescan_device(int dev_id)`.
pub type FnV2RescanDevice = unsafe extern "C" fn(dev_id: c_int) -> c_int;
/// `int dcmiv2_get_device_boot_status(int dev_id, enum dcmi_boot_status *boot_status)`.
pub type FnV2GetDeviceBootStatus =
    unsafe extern "C" fn(dev_id: c_int, boot_status: *mut DcmiBootStatus) -> c_int;
/// `int dcmiv2_get_device_proc_mem_info(int dev_id, struct dcmi_proc_mem_info *proc_info, int *proc_num)`:
/// `proc_info` must hold [`crate::DCMI_MAX_PROC_NUM`] entries.
pub type FnV2GetDeviceProcMemInfo = unsafe extern "C" fn(
    dev_id: c_int,
    proc_info: *mut DcmiProcMemInfo,
    proc_num: *mut c_int,
) -> c_int;

/// The C name of every v2 function, in `dcmi.h` order (24 symbols).
pub const EXPORTED_V2_FUNCTIONS: [&str; 24] = [
    "dcmiv2_init",
    "dcmiv2_get_dcmi_version",
    "dcmiv2_get_device_list",
    "dcmiv2_get_all_device_count",
    "dcmiv2_get_chip_phy_id_by_dev_id",
    "dcmiv2_get_dev_id_by_chip_phy_id",
    "dcmiv2_get_device_type",
    "dcmiv2_get_device_chip_info",
    "dcmiv2_get_device_board_info",
    "dcmiv2_get_mainboard_id",
    "dcmiv2_get_device_pcie_info",
    "dcmiv2_get_device_die_id",
    "dcmiv2_get_device_hbm_info",
    "dcmiv2_get_device_info",
    "dcmiv2_get_device_health",
    "dcmiv2_get_device_error_code_list",
    "dcmiv2_get_device_network_health",
    "dcmiv2_subscribe_fault_event",
    "dcmiv2_reset_device",
    "dcmiv2_get_device_outband_channel_state",
    "dcmiv2_pre_reset_device",
    "dcmiv2_rescan_device",
    "dcmiv2_get_device_boot_status",
    "dcmiv2_get_device_proc_mem_info",
];
