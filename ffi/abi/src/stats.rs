//! Statistics structs (ECC, utilisation, processes, PCIe and HCCS links).

use core::ffi::{c_int, c_uchar, c_uint, c_ulong, c_ulonglong, c_ushort};

use crate::consts::{
    AGENTDRV_PROF_DATA_NUM, DCMI_UTIL_RESERVED_LEN, HCCS_MAX_PCS_NUM, HCCS_RES_PCS_NUM,
};

/// `struct dcmi_ecc_info` (36 bytes; the driver header has the first 7 fields).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiEccInfo {
    /// 1 when ECC is enabled.
    pub enable_flag: c_int,
    /// Single-bit errors now.
    pub single_bit_error_cnt: c_uint,
    /// Double-bit errors now.
    pub double_bit_error_cnt: c_uint,
    /// Single-bit errors in total.
    pub total_single_bit_error_cnt: c_uint,
    /// Double-bit errors in total.
    pub total_double_bit_error_cnt: c_uint,
    /// Pages isolated for single-bit errors.
    pub single_bit_isolated_pages_cnt: c_uint,
    /// Pages isolated for double-bit errors.
    pub double_bit_isolated_pages_cnt: c_uint,
    /// Pages to isolate next for single-bit errors.
    pub single_bit_next_isolated_pages_cnt: c_uint,
    /// Pages to isolate next for double-bit errors.
    pub double_bit_next_isolated_pages_cnt: c_uint,
}

/// `struct dcmi_multi_utilization_info` (48 bytes), each 0..100.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiMultiUtilizationInfo {
    /// AI cube.
    pub aic_util: c_uint,
    /// AI vector.
    pub aiv_util: c_uint,
    /// AI core.
    pub aicore_util: c_uint,
    /// Whole NPU.
    pub npu_util: c_uint,
    /// Reserved.
    pub reserved: [c_uint; DCMI_UTIL_RESERVED_LEN],
}

/// `struct dcmi_proc_mem_info` (16 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiProcMemInfo {
    /// Process id.
    pub proc_id: c_int,
    /// Bytes.
    pub proc_mem_usage: c_ulong,
}

/// `struct dcmi_pcie_link_bandwidth_info` (88 bytes); arrays are [min, max, avg].
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiPcieLinkBandwidthInfo {
    /// Input: sampling time in ms.
    pub profiling_time: c_int,
    /// TX posted.
    pub tx_p_bw: [c_uint; AGENTDRV_PROF_DATA_NUM],
    /// TX non-posted.
    pub tx_np_bw: [c_uint; AGENTDRV_PROF_DATA_NUM],
    /// TX completion.
    pub tx_cpl_bw: [c_uint; AGENTDRV_PROF_DATA_NUM],
    /// TX non-posted latency (vendor spelling).
    pub tx_np_lantency: [c_uint; AGENTDRV_PROF_DATA_NUM],
    /// RX posted.
    pub rx_p_bw: [c_uint; AGENTDRV_PROF_DATA_NUM],
    /// RX non-posted.
    pub rx_np_bw: [c_uint; AGENTDRV_PROF_DATA_NUM],
    /// RX completion.
    pub rx_cpl_bw: [c_uint; AGENTDRV_PROF_DATA_NUM],
}

/// `struct dcmi_hccs_statistic_info` (512 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DcmiHccsStatisticInfo {
    /// TX packets per port.
    pub tx_cnt: [c_uint; HCCS_MAX_PCS_NUM],
    /// RX packets per port.
    pub rx_cnt: [c_uint; HCCS_MAX_PCS_NUM],
    /// CRC errors per port.
    pub crc_err_cnt: [c_uint; HCCS_MAX_PCS_NUM],
    /// Retries per port.
    pub retry_cnt: [c_uint; HCCS_MAX_PCS_NUM],
    /// Reserved.
    pub reserved_field_cnt: [c_uint; HCCS_RES_PCS_NUM],
}

impl Default for DcmiHccsStatisticInfo {
    fn default() -> Self {
        Self {
            tx_cnt: [0; HCCS_MAX_PCS_NUM],
            rx_cnt: [0; HCCS_MAX_PCS_NUM],
            crc_err_cnt: [0; HCCS_MAX_PCS_NUM],
            retry_cnt: [0; HCCS_MAX_PCS_NUM],
            reserved_field_cnt: [0; HCCS_RES_PCS_NUM],
        }
    }
}

/// `struct dcmi_hccs_statistic_info_u64` (1024 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DcmiHccsStatisticInfoU64 {
    /// TX packets per port.
    pub tx_cnt: [c_ulonglong; HCCS_MAX_PCS_NUM],
    /// RX packets per port.
    pub rx_cnt: [c_ulonglong; HCCS_MAX_PCS_NUM],
    /// CRC errors per port.
    pub crc_err_cnt: [c_ulonglong; HCCS_MAX_PCS_NUM],
    /// Retries per port.
    pub retry_cnt: [c_ulonglong; HCCS_MAX_PCS_NUM],
    /// Reserved.
    pub reserved: [c_ulonglong; HCCS_RES_PCS_NUM],
}

impl Default for DcmiHccsStatisticInfoU64 {
    fn default() -> Self {
        Self {
            tx_cnt: [0; HCCS_MAX_PCS_NUM],
            rx_cnt: [0; HCCS_MAX_PCS_NUM],
            crc_err_cnt: [0; HCCS_MAX_PCS_NUM],
            retry_cnt: [0; HCCS_MAX_PCS_NUM],
            reserved: [0; HCCS_RES_PCS_NUM],
        }
    }
}

/// `struct dcmi_hccs_bandwidth_info` (280 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DcmiHccsBandwidthInfo {
    /// Input: sampling time in ms.
    pub profiling_time: c_int,
    /// Total TX bandwidth.
    pub total_txbw: f64,
    /// Total RX bandwidth.
    pub total_rxbw: f64,
    /// TX bandwidth per port.
    pub tx_bandwidth: [f64; HCCS_MAX_PCS_NUM],
    /// RX bandwidth per port.
    pub rx_bandwidth: [f64; HCCS_MAX_PCS_NUM],
}

/// `struct dcmi_sio_crc_err_statistic_info` (12 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiSioCrcErrStatisticInfo {
    /// TX CRC errors.
    pub tx_error_count: c_ushort,
    /// RX CRC errors.
    pub rx_error_count: c_ushort,
    /// Reserved.
    pub reserved: [c_uchar; 8],
}
