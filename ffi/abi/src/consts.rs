//! Limits, enumerations (4-byte integers in C) and command numbers.

use core::ffi::{c_uint, c_ulonglong};

// ---- limits and array sizes ----

/// Card list length callers pass to `dcmi_get_card_list`.
pub const MAX_CARD_NUM: usize = 64;
/// Length of the name arrays in `dcmi_chip_info`.
pub const MAX_CHIP_NAME_LEN: usize = 32;
/// Length of `dcmi_create_vdev_res_stru::template_name`.
pub const TEMPLATE_NAME_LEN: usize = 32;
/// Entries in `dcmi_die_id::soc_die`.
pub const DIE_ID_COUNT: usize = 5;
/// Length of each `dcmi_elabel_info` string (vendor spelling: `MAX_LENTH`).
pub const MAX_LENGTH: usize = 256;
/// min/max/avg triples of `dcmi_pcie_link_bandwidth_info`.
pub const AGENTDRV_PROF_DATA_NUM: usize = 3;
/// Reserved words of `dcmi_multi_utilization_info`.
pub const DCMI_UTIL_RESERVED_LEN: usize = 8;
/// Length of `dcmi_vdev_query_info::name`.
pub const DCMI_VDEV_RES_NAME_LEN: usize = 16;
/// Reserved bytes of the vNPU resource structs.
pub const DCMI_VDEV_FOR_RESERVE: usize = 32;
/// `2 * sizeof(u64) + sizeof(u32)`.
pub const DCMI_VDEV_SIZE: usize = 20;
/// vNPUs per chip at most (`dcmi_soc_total_resource::vdev_id` entries).
pub const DCMI_SOC_SPLIT_MAX: usize = 32;
/// Length of `dcmi_dms_fault_event::event_name`.
pub const DCMI_MAX_EVENT_NAME_LENGTH: usize = 256;
/// Length of `dcmi_dms_fault_event::additional_info`.
pub const DCMI_MAX_EVENT_DATA_LENGTH: usize = 32;
/// Reserved bytes of the event structs.
pub const DCMI_MAX_EVENT_RESV_LENGTH: usize = 32;
/// HCCS ports counted in the statistics.
pub const HCCS_MAX_PCS_NUM: usize = 16;
/// Reserved counters of the HCCS statistics.
pub const HCCS_RES_PCS_NUM: usize = 64;
/// Error code list length callers pass to `dcmi_get_device_errorcode_v2`.
pub const DCMI_ERROR_CODE_MAX_COUNT: usize = 128;
/// Most entries `dcmi_get_device_resource_info` writes into its process
/// array (the call takes no length; callers pass an array this long).
pub const DCMI_MAX_PROC_NUM: usize = 32;
/// Buffer length callers pass to `dcmi_get_product_type` (this header's name).
pub const DCMI_PRODUCT_TYPE_LEN: usize = 65;
/// Buffer length callers pass to `dcmi_get_dcmi_version` (this header's name).
pub const DCMI_VERSION_LEN: usize = 33;

/// `dcmi_event_filter::filter_flag`: match `event_id`.
pub const DCMI_EVENT_FILTER_FLAG_EVENT_ID: c_ulonglong = 1 << 0;
/// `dcmi_event_filter::filter_flag`: match `severity` (vendor spelling).
pub const DCMI_EVENT_FILTER_FLAG_SERVERITY: c_ulonglong = 1 << 1;
/// `dcmi_event_filter::filter_flag`: match `node_type`.
pub const DCMI_EVENT_FILTER_FLAG_NODE_TYPE: c_ulonglong = 1 << 2;

// ---- enum dcmi_unit_type ----

/// `enum dcmi_unit_type`.
pub type DcmiUnitType = c_uint;
/// An NPU chip (the only unit type that has vNPUs).
pub const NPU_TYPE: DcmiUnitType = 0;
/// A management MCU.
pub const MCU_TYPE: DcmiUnitType = 1;
/// A CPU.
pub const CPU_TYPE: DcmiUnitType = 2;
/// Not a valid unit.
pub const INVALID_TYPE: DcmiUnitType = 0xFF;

// ---- enum dcmi_ip_addr_type ----

/// `enum dcmi_ip_addr_type`.
pub type DcmiIpAddrType = c_uint;
/// IPv4.
pub const DCMI_IPADDR_TYPE_V4: DcmiIpAddrType = 0;
/// IPv6.
pub const DCMI_IPADDR_TYPE_V6: DcmiIpAddrType = 1;
/// Either family.
pub const DCMI_IPADDR_TYPE_ANY: DcmiIpAddrType = 2;

// ---- enum dcmi_port_type ----

/// `enum dcmi_port_type`.
pub type DcmiPortType = c_uint;
/// Virtual NIC port.
pub const DCMI_VNIC_PORT: DcmiPortType = 0;
/// RoCE port (the one the device IP lives on).
pub const DCMI_ROCE_PORT: DcmiPortType = 1;
/// Not a port.
pub const DCMI_INVALID_PORT: DcmiPortType = 2;

// ---- enum dcmi_rdfx_detect_result ----

/// `enum dcmi_rdfx_detect_result`: network health. OK and INIT are healthy.
pub type DcmiRdfxDetectResult = c_uint;
/// Healthy.
pub const DCMI_RDFX_DETECT_OK: DcmiRdfxDetectResult = 0;
/// Socket failure.
pub const DCMI_RDFX_DETECT_SOCK_FAIL: DcmiRdfxDetectResult = 1;
/// Receive timeout.
pub const DCMI_RDFX_DETECT_RECV_TIMEOUT: DcmiRdfxDetectResult = 2;
/// Peer unreachable.
pub const DCMI_RDFX_DETECT_UNREACH: DcmiRdfxDetectResult = 3;
/// Time exceeded.
pub const DCMI_RDFX_DETECT_TIME_EXCEEDED: DcmiRdfxDetectResult = 4;
/// Fault.
pub const DCMI_RDFX_DETECT_FAULT: DcmiRdfxDetectResult = 5;
/// Detection initialising (healthy).
pub const DCMI_RDFX_DETECT_INIT: DcmiRdfxDetectResult = 6;
/// Detection thread error.
pub const DCMI_RDFX_DETECT_THREAD_ERR: DcmiRdfxDetectResult = 7;
/// IP being set.
pub const DCMI_RDFX_DETECT_IP_SET: DcmiRdfxDetectResult = 8;
/// Upper bound.
pub const DCMI_RDFX_DETECT_MAX: DcmiRdfxDetectResult = 0xFF;

// ---- enum dcmi_main_cmd ----

/// `enum dcmi_main_cmd`: the main command of `dcmi_get_device_info`.
pub type DcmiMainCmd = c_uint;
/// DVPP.
pub const DCMI_MAIN_CMD_DVPP: DcmiMainCmd = 0;
/// ISP.
pub const DCMI_MAIN_CMD_ISP: DcmiMainCmd = 1;
/// TS group number.
pub const DCMI_MAIN_CMD_TS_GROUP_NUM: DcmiMainCmd = 2;
/// CAN.
pub const DCMI_MAIN_CMD_CAN: DcmiMainCmd = 3;
/// UART.
pub const DCMI_MAIN_CMD_UART: DcmiMainCmd = 4;
/// Upgrade.
pub const DCMI_MAIN_CMD_UPGRADE: DcmiMainCmd = 5;
/// UFS.
pub const DCMI_MAIN_CMD_UFS: DcmiMainCmd = 6;
/// OS power.
pub const DCMI_MAIN_CMD_OS_POWER: DcmiMainCmd = 7;
/// Low power.
pub const DCMI_MAIN_CMD_LP: DcmiMainCmd = 8;
/// Memory.
pub const DCMI_MAIN_CMD_MEMORY: DcmiMainCmd = 9;
/// Recovery.
pub const DCMI_MAIN_CMD_RECOVERY: DcmiMainCmd = 10;
/// Task scheduler.
pub const DCMI_MAIN_CMD_TS: DcmiMainCmd = 11;
/// Chip information (sub command 1: super-pod info).
pub const DCMI_MAIN_CMD_CHIP_INF: DcmiMainCmd = 12;
/// QoS.
pub const DCMI_MAIN_CMD_QOS: DcmiMainCmd = 13;
/// SoC information.
pub const DCMI_MAIN_CMD_SOC_INFO: DcmiMainCmd = 14;
/// SILS.
pub const DCMI_MAIN_CMD_SILS: DcmiMainCmd = 15;
/// HCCS.
pub const DCMI_MAIN_CMD_HCCS: DcmiMainCmd = 16;
/// Host AI CPU.
pub const DCMI_MAIN_CMD_HOST_AICPU: DcmiMainCmd = 17;
/// Temperature.
pub const DCMI_MAIN_CMD_TEMP: DcmiMainCmd = 50;
/// SVM.
pub const DCMI_MAIN_CMD_SVM: DcmiMainCmd = 51;
/// Virtual device (vNPU) management.
pub const DCMI_MAIN_CMD_VDEV_MNG: DcmiMainCmd = 52;
/// Security.
pub const DCMI_MAIN_CMD_SEC: DcmiMainCmd = 53;
/// PCIe.
pub const DCMI_MAIN_CMD_PCIE: DcmiMainCmd = 55;
/// SIO.
pub const DCMI_MAIN_CMD_SIO: DcmiMainCmd = 56;
/// Extended computing.
pub const DCMI_MAIN_CMD_EX_COMPUTING: DcmiMainCmd = 0x8000;
/// Device sharing.
pub const DCMI_MAIN_CMD_DEVICE_SHARE: DcmiMainCmd = 0x8001;
/// Extended certificates.
pub const DCMI_MAIN_CMD_EX_CERT: DcmiMainCmd = 0x8003;

// ---- sub commands of dcmi_get_device_info ----

/// (VDEV_MNG) one vNPU's resources; buf = `dcmi_vdev_query_stru` with `vdev_id` set.
pub const DCMI_VMNG_SUB_CMD_GET_VDEV_RESOURCE: c_uint = 0;
/// (VDEV_MNG) the chip's total resources and vNPU ids; buf = `dcmi_soc_total_resource`.
pub const DCMI_VMNG_SUB_CMD_GET_TOTAL_RESOURCE: c_uint = 1;
/// (VDEV_MNG) the chip's free resources; buf = `dcmi_soc_free_resource`.
pub const DCMI_VMNG_SUB_CMD_GET_FREE_RESOURCE: c_uint = 2;
/// (VDEV_MNG) SR-IOV switch.
pub const DCMI_VMNG_SUB_CMD_SET_SRIOV_SWITCH: c_uint = 3;
/// (VDEV_MNG) one vNPU's activity; buf = `dcmi_vdev_query_stru` with `vdev_id` set.
pub const DCMI_VMNG_SUB_CMD_GET_VDEV_ACTIVITY: c_uint = 5;
/// (CHIP_INF) chip id.
pub const DCMI_CHIP_INF_SUB_CMD_CHIP_ID: c_uint = 0;
/// (CHIP_INF) super-pod placement; buf = `dcmi_spod_info`.
pub const DCMI_CHIP_INF_SUB_CMD_SPOD_INFO: c_uint = 1;
/// (HCCS) statistics; buf = `dcmi_hccs_statistic_info`.
pub const DCMI_HCCS_SUB_CMD_GET_STATISTIC_INFO: c_uint = 3;
/// (HCCS) 64-bit statistics; buf = `dcmi_hccs_statistic_info_u64`.
pub const DCMI_HCCS_SUB_CMD_GET_STATISTIC_INFO_U64: c_uint = 5;
/// (SIO) CRC error statistics; buf = `dcmi_sio_crc_err_statistic_info`.
pub const DCMI_SIO_SUB_CMD_CRC_ERR_STATISTICS: c_uint = 0;
/// (DEVICE_SHARE) common.
pub const DCMI_DEVICE_SHARE_SUB_CMD_COMMON: c_uint = 0;

// ---- enum dcmi_freq_type ----

/// `enum dcmi_freq_type`.
pub type DcmiFreqType = c_uint;
/// DDR.
pub const DCMI_FREQ_DDR: DcmiFreqType = 1;
/// Control CPU.
pub const DCMI_FREQ_CTRLCPU: DcmiFreqType = 2;
/// HBM.
pub const DCMI_FREQ_HBM: DcmiFreqType = 6;
/// AI core, current (vendor spelling with the trailing underscore).
pub const DCMI_FREQ_AICORE_CURRENT_: DcmiFreqType = 7;
/// AI core, rated maximum.
pub const DCMI_FREQ_AICORE_MAX: DcmiFreqType = 9;
/// Vector core, current.
pub const DCMI_FREQ_VECTORCORE_CURRENT: DcmiFreqType = 12;

// ---- input_type of dcmi_get_device_utilization_rate ----

/// DDR.
pub const DCMI_UTILIZATION_RATE_DDR: core::ffi::c_int = 1;
/// AI core.
pub const DCMI_UTILIZATION_RATE_AICORE: core::ffi::c_int = 2;
/// AI CPU.
pub const DCMI_UTILIZATION_RATE_AICPU: core::ffi::c_int = 3;
/// Control CPU.
pub const DCMI_UTILIZATION_RATE_CTRLCPU: core::ffi::c_int = 4;
/// DDR bandwidth.
pub const DCMI_UTILIZATION_RATE_DDR_BANDWIDTH: core::ffi::c_int = 5;
/// HBM.
pub const DCMI_UTILIZATION_RATE_HBM: core::ffi::c_int = 6;
/// HBM bandwidth.
pub const DCMI_UTILIZATION_RATE_HBM_BANDWIDTH: core::ffi::c_int = 10;
/// Vector core.
pub const DCMI_UTILIZATION_RATE_VECTORCORE: core::ffi::c_int = 12;
/// Whole NPU.
pub const DCMI_UTILIZATION_RATE_NPU: core::ffi::c_int = 13;
/// AI cube.
pub const DCMI_UTILIZATION_RATE_AICUBE: core::ffi::c_int = 14;

// ---- enum dcmi_reset_channel ----

/// `enum dcmi_reset_channel`.
pub type DcmiResetChannel = c_uint;
/// Out of band.
pub const OUTBAND_CHANNEL: DcmiResetChannel = 0;
/// In band.
pub const INBAND_CHANNEL: DcmiResetChannel = 1;

// ---- enum dcmi_boot_status ----

/// `enum dcmi_boot_status`.
pub type DcmiBootStatus = c_uint;
/// Not initialised.
pub const DCMI_BOOT_STATUS_UNINIT: DcmiBootStatus = 0;
/// In BIOS.
pub const DCMI_BOOT_STATUS_BIOS: DcmiBootStatus = 1;
/// OS booting.
pub const DCMI_BOOT_STATUS_OS: DcmiBootStatus = 2;
/// Boot finished.
pub const DCMI_BOOT_STATUS_FINISH: DcmiBootStatus = 3;
/// System started: what consumers wait for after a reset.
pub const DCMI_SYSTEM_START_FINISH: DcmiBootStatus = 16;

// ---- enum dcmi_device_type ----

/// `enum dcmi_device_type` (memory kind for ECC queries).
pub type DcmiDeviceType = c_uint;
/// DDR.
pub const DCMI_DEVICE_TYPE_DDR: DcmiDeviceType = 0;
/// SRAM.
pub const DCMI_DEVICE_TYPE_SRAM: DcmiDeviceType = 1;
/// HBM.
pub const DCMI_DEVICE_TYPE_HBM: DcmiDeviceType = 2;
/// NPU.
pub const DCMI_DEVICE_TYPE_NPU: DcmiDeviceType = 3;
/// None.
pub const DCMI_DEVICE_TYPE_NONE: DcmiDeviceType = 0xff;

// ---- enum dcmi_event_type ----

/// `enum dcmi_event_type`.
pub type DcmiEventType = c_uint;
/// A DMS fault event (`dcmi_event::event_t.dms_event` is valid).
pub const DCMI_DMS_FAULT_EVENT: DcmiEventType = 0;

// ---- enum dcmi_die_type ----

/// `enum dcmi_die_type`.
pub type DcmiDieType = c_uint;
/// N-die.
pub const NDIE: DcmiDieType = 0;
/// V-die.
pub const VDIE: DcmiDieType = 1;
/// D-die: accepted by the v2 API (Ascend 950) only.
pub const DDIE: DcmiDieType = 2;

// ---- enum dcmi_multi_die_policy ----

/// `enum dcmi_multi_die_policy`.
pub type DcmiMultiDiePolicy = c_uint;
/// Dies of a card act as one.
pub const DCMI_MULTI_DIE_UNION_POLICY: DcmiMultiDiePolicy = 0;
/// Dies are independent.
pub const DCMI_MULTI_DIE_INDEP_POLICY: DcmiMultiDiePolicy = 1;
/// Upper bound.
pub const DCMI_MULTI_DIE_POLICY_MAX: DcmiMultiDiePolicy = 2;
