//! One function-pointer type per exported DCMI function: `Fn` + the C name
//! without `dcmi_`, in CamelCase. Every function returns `DCMI_OK` or a
//! negative `DCMI_ERR_CODE_*`.

use core::ffi::{c_char, c_int, c_uchar, c_uint, c_void};

use crate::{
    DcmiBoardInfo, DcmiBootStatus, DcmiChipInfo, DcmiChipInfoV2, DcmiCreateVdevOut,
    DcmiCreateVdevResStru, DcmiDeviceType, DcmiDieId, DcmiDieType, DcmiEccInfo, DcmiElabelInfo,
    DcmiEventFilter, DcmiFreqType, DcmiGetMemoryInfoStru, DcmiHbmInfo, DcmiHccsBandwidthInfo,
    DcmiIpAddr, DcmiMainCmd, DcmiMemoryInfoStru, DcmiMultiDiePolicy, DcmiMultiUtilizationInfo,
    DcmiPcieInfoAll, DcmiPcieLinkBandwidthInfo, DcmiPortType, DcmiProcMemInfo,
    DcmiRdfxDetectResult, DcmiResetChannel, DcmiUnitType, FaultEventCallback,
};

// ---- library ----

/// `int dcmi_init(void)`.
pub type FnInit = unsafe extern "C" fn() -> c_int;
/// `int dcmi_get_dcmi_version(char *dcmi_ver, unsigned int len)`.
pub type FnGetDcmiVersion = unsafe extern "C" fn(dcmi_ver: *mut c_char, len: c_uint) -> c_int;

// ---- discovery ----

/// `int dcmi_get_card_list(int *card_num, int *card_list, int list_len)`.
pub type FnGetCardList =
    unsafe extern "C" fn(card_num: *mut c_int, card_list: *mut c_int, list_len: c_int) -> c_int;
/// `int dcmi_get_card_num_list(int *card_num, int *card_list, int list_len)`.
pub type FnGetCardNumList =
    unsafe extern "C" fn(card_num: *mut c_int, card_list: *mut c_int, list_len: c_int) -> c_int;
/// `int dcmi_get_device_num_in_card(int card_id, int *device_num)`.
pub type FnGetDeviceNumInCard =
    unsafe extern "C" fn(card_id: c_int, device_num: *mut c_int) -> c_int;
/// `int dcmi_get_device_id_in_card(int card_id, int *device_id_max, int *mcu_id, int *cpu_id)`.
pub type FnGetDeviceIdInCard = unsafe extern "C" fn(
    card_id: c_int,
    device_id_max: *mut c_int,
    mcu_id: *mut c_int,
    cpu_id: *mut c_int,
) -> c_int;
/// `int dcmi_get_device_type(int card_id, int device_id, enum dcmi_unit_type *device_type)`.
pub type FnGetDeviceType =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, device_type: *mut DcmiUnitType) -> c_int;
/// `int dcmi_get_device_logic_id(int *device_logic_id, int card_id, int device_id)` (output first).
pub type FnGetDeviceLogicId =
    unsafe extern "C" fn(device_logic_id: *mut c_int, card_id: c_int, device_id: c_int) -> c_int;
/// `int dcmi_get_device_phyid_from_logicid(unsigned int logicid, unsigned int *phyid)`.
pub type FnGetDevicePhyidFromLogicid =
    unsafe extern "C" fn(logicid: c_uint, phyid: *mut c_uint) -> c_int;
/// `int dcmi_get_device_logicid_from_phyid(unsigned int phyid, unsigned int *logicid)`.
pub type FnGetDeviceLogicidFromPhyid =
    unsafe extern "C" fn(phyid: c_uint, logicid: *mut c_uint) -> c_int;
/// `int dcmi_get_card_id_device_id_from_logicid(int *card_id, int *device_id, unsigned int device_logic_id)`.
pub type FnGetCardIdDeviceIdFromLogicid = unsafe extern "C" fn(
    card_id: *mut c_int,
    device_id: *mut c_int,
    device_logic_id: c_uint,
) -> c_int;
/// `int dcmi_get_card_id_device_id_from_phyid(int *card_id, int *device_id, unsigned int device_phy_id)`.
pub type FnGetCardIdDeviceIdFromPhyid = unsafe extern "C" fn(
    card_id: *mut c_int,
    device_id: *mut c_int,
    device_phy_id: c_uint,
) -> c_int;

// ---- identity ----

/// `int dcmi_get_device_chip_info(int card_id, int device_id, struct dcmi_chip_info *chip_info)`.
pub type FnGetDeviceChipInfo =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, chip_info: *mut DcmiChipInfo) -> c_int;
/// `int dcmi_get_device_chip_info_v2(int card_id, int device_id, struct dcmi_chip_info_v2 *chip_info)`.
pub type FnGetDeviceChipInfoV2 =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, chip_info: *mut DcmiChipInfoV2) -> c_int;
/// `int dcmi_get_device_board_info(int card_id, int device_id, struct dcmi_board_info *board_info)`.
pub type FnGetDeviceBoardInfo =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, board_info: *mut DcmiBoardInfo) -> c_int;
/// `int dcmi_get_mainboard_id(int card_id, int device_id, unsigned int *mainboard_id)`.
pub type FnGetMainboardId =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, mainboard_id: *mut c_uint) -> c_int;
/// `int dcmi_get_product_type(int card_id, int device_id, char *product_type_str, int buf_size)`.
pub type FnGetProductType = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    product_type_str: *mut c_char,
    buf_size: c_int,
) -> c_int;
/// `int dcmi_get_card_elabel_v2(int card_id, struct dcmi_elabel_info *elabel_info)`.
pub type FnGetCardElabelV2 =
    unsafe extern "C" fn(card_id: c_int, elabel_info: *mut DcmiElabelInfo) -> c_int;
/// `int dcmi_get_device_pcie_info_v2(int card_id, int device_id, struct dcmi_pcie_info_all *pcie_info)`.
pub type FnGetDevicePcieInfoV2 = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    pcie_info: *mut DcmiPcieInfoAll,
) -> c_int;
/// `int dcmi_get_device_die_v2(int card_id, int device_id, enum dcmi_die_type input_type, struct dcmi_die_id *die_id)`.
pub type FnGetDeviceDieV2 = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    input_type: DcmiDieType,
    die_id: *mut DcmiDieId,
) -> c_int;

// ---- health ----

/// `int dcmi_get_device_health(int card_id, int device_id, unsigned int *health)`.
pub type FnGetDeviceHealth =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, health: *mut c_uint) -> c_int;
/// `int dcmi_get_device_errorcode_v2(int card_id, int device_id, int *error_count, unsigned int *error_code_list, unsigned int list_len)`.
pub type FnGetDeviceErrorcodeV2 = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    error_count: *mut c_int,
    error_code_list: *mut c_uint,
    list_len: c_uint,
) -> c_int;
/// `int dcmi_get_device_errorcode(int card_id, int device_id, int *error_count, unsigned int *error_code, int *error_width)`.
pub type FnGetDeviceErrorcode = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    error_count: *mut c_int,
    error_code: *mut c_uint,
    error_width: *mut c_int,
) -> c_int;
/// `int dcmi_get_device_errorcode_string(int card_id, int device_id, unsigned int error_code, unsigned char *error_info, int buf_size)`.
pub type FnGetDeviceErrorcodeString = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    error_code: c_uint,
    error_info: *mut c_uchar,
    buf_size: c_int,
) -> c_int;
/// `int dcmi_get_device_network_health(int card_id, int device_id, enum dcmi_rdfx_detect_result *result)`.
pub type FnGetDeviceNetworkHealth = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    result: *mut DcmiRdfxDetectResult,
) -> c_int;
/// `int dcmi_get_device_boot_status(int card_id, int device_id, enum dcmi_boot_status *boot_status)`.
pub type FnGetDeviceBootStatus = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    boot_status: *mut DcmiBootStatus,
) -> c_int;
/// `int dcmi_subscribe_fault_event(int card_id, int device_id, struct dcmi_event_filter filter, dcmi_fault_event_callback handler)`;
/// the filter is passed BY VALUE; card = device = -1 subscribes to every chip.
pub type FnSubscribeFaultEvent = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    filter: DcmiEventFilter,
    handler: FaultEventCallback,
) -> c_int;

// ---- network ----

/// `int dcmi_get_device_ip(int card_id, int device_id, enum dcmi_port_type input_type, int port_id, struct dcmi_ip_addr *ip, struct dcmi_ip_addr *mask)`.
pub type FnGetDeviceIp = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    input_type: DcmiPortType,
    port_id: c_int,
    ip: *mut DcmiIpAddr,
    mask: *mut DcmiIpAddr,
) -> c_int;
/// `int dcmi_get_netdev_brother_device(int card_id, int device_id, int *brother_card_id)`.
pub type FnGetNetdevBrotherDevice =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, brother_card_id: *mut c_int) -> c_int;

// ---- sensors and utilisation ----

/// `int dcmi_get_device_temperature(int card_id, int device_id, int *temperature)` (degrees C).
pub type FnGetDeviceTemperature =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, temperature: *mut c_int) -> c_int;
/// `int dcmi_get_device_voltage(int card_id, int device_id, unsigned int *voltage)` (0.01 V).
pub type FnGetDeviceVoltage =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, voltage: *mut c_uint) -> c_int;
/// `int dcmi_get_device_power_info(int card_id, int device_id, int *power)` (0.1 W).
pub type FnGetDevicePowerInfo =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, power: *mut c_int) -> c_int;
/// `int dcmi_mcu_get_power_info(int card_id, int *power)` (0.1 W).
pub type FnMcuGetPowerInfo = unsafe extern "C" fn(card_id: c_int, power: *mut c_int) -> c_int;
/// `int dcmi_get_device_frequency(int card_id, int device_id, enum dcmi_freq_type input_type, unsigned int *frequency)` (MHz).
pub type FnGetDeviceFrequency = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    input_type: DcmiFreqType,
    frequency: *mut c_uint,
) -> c_int;
/// `int dcmi_get_device_utilization_rate(int card_id, int device_id, int input_type, unsigned int *utilization_rate)`.
pub type FnGetDeviceUtilizationRate = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    input_type: c_int,
    utilization_rate: *mut c_uint,
) -> c_int;
/// `int dcmi_get_device_multi_utilization_rate(int card_id, int device_id, struct dcmi_multi_utilization_info *util_info)`.
pub type FnGetDeviceMultiUtilizationRate = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    util_info: *mut DcmiMultiUtilizationInfo,
) -> c_int;
/// `int dcmi_get_device_multi_utilization_rate_period(int card_id, int device_id, struct dcmi_multi_utilization_info *util_info, int period)`.
pub type FnGetDeviceMultiUtilizationRatePeriod = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    util_info: *mut DcmiMultiUtilizationInfo,
    period: c_int,
) -> c_int;
/// `int dcmi_get_device_ecc_info(int card_id, int device_id, enum dcmi_device_type input_type, struct dcmi_ecc_info *device_ecc_info)`.
pub type FnGetDeviceEccInfo = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    input_type: DcmiDeviceType,
    device_ecc_info: *mut DcmiEccInfo,
) -> c_int;
/// `int dcmi_get_device_resource_info(int card_id, int device_id, struct dcmi_proc_mem_info *proc_info, int *proc_num)`.
pub type FnGetDeviceResourceInfo = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    proc_info: *mut DcmiProcMemInfo,
    proc_num: *mut c_int,
) -> c_int;
/// `int dcmi_get_pcie_link_bandwidth_info(int card_id, int device_id, struct dcmi_pcie_link_bandwidth_info *info)`.
pub type FnGetPcieLinkBandwidthInfo = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    info: *mut DcmiPcieLinkBandwidthInfo,
) -> c_int;
/// `int dcmi_get_hccs_link_bandwidth_info(int card_id, int device_id, struct dcmi_hccs_bandwidth_info *info)`.
pub type FnGetHccsLinkBandwidthInfo = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    info: *mut DcmiHccsBandwidthInfo,
) -> c_int;
/// `int dcmi_get_affinity_cpu_info_by_device_id(int card_id, int device_id, char *affinity_cpu, int *length)`.
pub type FnGetAffinityCpuInfoByDeviceId = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    affinity_cpu: *mut c_char,
    length: *mut c_int,
) -> c_int;

// ---- memory ----

/// `int dcmi_get_device_memory_info_v3(int card_id, int device_id, struct dcmi_get_memory_info_stru *memory_info)`.
pub type FnGetDeviceMemoryInfoV3 = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    memory_info: *mut DcmiGetMemoryInfoStru,
) -> c_int;
/// `int dcmi_get_memory_info(int card_id, int device_id, struct dcmi_memory_info_stru *device_memory_info)`.
pub type FnGetMemoryInfo = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    device_memory_info: *mut DcmiMemoryInfoStru,
) -> c_int;
/// `int dcmi_get_device_hbm_info(int card_id, int device_id, struct dcmi_hbm_info *hbm_info)`.
pub type FnGetDeviceHbmInfo =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, hbm_info: *mut DcmiHbmInfo) -> c_int;

// ---- generic query ----

/// `int dcmi_get_device_info(int card_id, int device_id, enum dcmi_main_cmd main_cmd, unsigned int sub_cmd, void *buf, unsigned int *size)`;
/// `*size` = the size of the struct behind `buf` on input.
pub type FnGetDeviceInfo = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    main_cmd: DcmiMainCmd,
    sub_cmd: c_uint,
    buf: *mut c_void,
    size: *mut c_uint,
) -> c_int;

// ---- virtual NPUs and sharing ----

/// `int dcmi_create_vdevice(int card_id, int device_id, struct dcmi_create_vdev_res_stru *vdev, struct dcmi_create_vdev_out *out)`.
pub type FnCreateVdevice = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    vdev: *mut DcmiCreateVdevResStru,
    out: *mut DcmiCreateVdevOut,
) -> c_int;
/// `int dcmi_set_destroy_vdevice(int card_id, int device_id, unsigned int vdevid)`.
pub type FnSetDestroyVdevice =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, vdevid: c_uint) -> c_int;
/// `int dcmi_get_device_share_enable(int card_id, int device_id, int *enable_flag)`.
pub type FnGetDeviceShareEnable =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, enable_flag: *mut c_int) -> c_int;
/// `int dcmi_get_npu_work_mode(int card_id, unsigned char *work_mode)` (0 AMP, else SMP).
pub type FnGetNpuWorkMode = unsafe extern "C" fn(card_id: c_int, work_mode: *mut c_uchar) -> c_int;

// ---- reset ----

/// `int dcmi_set_device_reset(int card_id, int device_id, enum dcmi_reset_channel channel_type)`.
pub type FnSetDeviceReset =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, channel_type: DcmiResetChannel) -> c_int;
/// `int dcmi_get_device_outband_channel_state(int card_id, int device_id, int *channel_state)`.
pub type FnGetDeviceOutbandChannelState =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, channel_state: *mut c_int) -> c_int;
/// `int dcmi_pre_reset_soc(int card_id, int device_id)`.
pub type FnPreResetSoc = unsafe extern "C" fn(card_id: c_int, device_id: c_int) -> c_int;
/// `int dcmi_rescan_soc(int card_id, int device_id)`.
pub type FnRescanSoc = unsafe extern "C" fn(card_id: c_int, device_id: c_int) -> c_int;

// ---- multi-die and super-pod ----

/// `int dcmi_get_multi_die_policy(enum dcmi_multi_die_policy *policy)`.
pub type FnGetMultiDiePolicy = unsafe extern "C" fn(policy: *mut DcmiMultiDiePolicy) -> c_int;
/// `int dcmi_set_multi_die_policy(enum dcmi_multi_die_policy policy)`.
pub type FnSetMultiDiePolicy = unsafe extern "C" fn(policy: DcmiMultiDiePolicy) -> c_int;
/// `int dcmi_get_spod_node_status(int card_id, int device_id, unsigned int sdid, unsigned int *status)`.
pub type FnGetSpodNodeStatus = unsafe extern "C" fn(
    card_id: c_int,
    device_id: c_int,
    sdid: c_uint,
    status: *mut c_uint,
) -> c_int;
/// `int dcmi_set_spod_node_status(int card_id, int device_id, unsigned int sdid, unsigned int status)`.
pub type FnSetSpodNodeStatus =
    unsafe extern "C" fn(card_id: c_int, device_id: c_int, sdid: c_uint, status: c_uint) -> c_int;

/// The C name of every exported function, in `dcmi.h` order (58 symbols).
pub const EXPORTED_FUNCTIONS: [&str; 58] = [
    "dcmi_init",
    "dcmi_get_dcmi_version",
    "dcmi_get_card_list",
    "dcmi_get_card_num_list",
    "dcmi_get_device_num_in_card",
    "dcmi_get_device_id_in_card",
    "dcmi_get_device_type",
    "dcmi_get_device_logic_id",
    "dcmi_get_device_phyid_from_logicid",
    "dcmi_get_device_logicid_from_phyid",
    "dcmi_get_card_id_device_id_from_logicid",
    "dcmi_get_card_id_device_id_from_phyid",
    "dcmi_get_device_chip_info",
    "dcmi_get_device_chip_info_v2",
    "dcmi_get_device_board_info",
    "dcmi_get_mainboard_id",
    "dcmi_get_product_type",
    "dcmi_get_card_elabel_v2",
    "dcmi_get_device_pcie_info_v2",
    "dcmi_get_device_die_v2",
    "dcmi_get_device_health",
    "dcmi_get_device_errorcode_v2",
    "dcmi_get_device_errorcode",
    "dcmi_get_device_errorcode_string",
    "dcmi_get_device_network_health",
    "dcmi_get_device_boot_status",
    "dcmi_subscribe_fault_event",
    "dcmi_get_device_ip",
    "dcmi_get_netdev_brother_device",
    "dcmi_get_device_temperature",
    "dcmi_get_device_voltage",
    "dcmi_get_device_power_info",
    "dcmi_mcu_get_power_info",
    "dcmi_get_device_frequency",
    "dcmi_get_device_utilization_rate",
    "dcmi_get_device_multi_utilization_rate",
    "dcmi_get_device_multi_utilization_rate_period",
    "dcmi_get_device_ecc_info",
    "dcmi_get_device_resource_info",
    "dcmi_get_pcie_link_bandwidth_info",
    "dcmi_get_hccs_link_bandwidth_info",
    "dcmi_get_affinity_cpu_info_by_device_id",
    "dcmi_get_device_memory_info_v3",
    "dcmi_get_memory_info",
    "dcmi_get_device_hbm_info",
    "dcmi_get_device_info",
    "dcmi_create_vdevice",
    "dcmi_set_destroy_vdevice",
    "dcmi_get_device_share_enable",
    "dcmi_get_npu_work_mode",
    "dcmi_set_device_reset",
    "dcmi_get_device_outband_channel_state",
    "dcmi_pre_reset_soc",
    "dcmi_rescan_soc",
    "dcmi_get_multi_die_policy",
    "dcmi_set_multi_die_policy",
    "dcmi_get_spod_node_status",
    "dcmi_set_spod_node_status",
];
