//! Chip identity, placement, memory and network structs.

use core::ffi::{c_char, c_int, c_uchar, c_uint, c_ulong, c_ulonglong};

use crate::DcmiIpAddrType;
use crate::consts::{DIE_ID_COUNT, MAX_CHIP_NAME_LEN, MAX_LENGTH};

/// `struct dcmi_chip_info` (100 bytes). Names are NUL-terminated in their arrays.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DcmiChipInfo {
    /// "Ascend".
    pub chip_type: [c_uchar; MAX_CHIP_NAME_LEN],
    /// "910B3", "310P3", "Ascend910" (A3).
    pub chip_name: [c_uchar; MAX_CHIP_NAME_LEN],
    /// "V1".
    pub chip_ver: [c_uchar; MAX_CHIP_NAME_LEN],
    /// AI cores of the chip.
    pub aicore_cnt: c_uint,
}

/// `struct dcmi_chip_info_v2` (132 bytes): v1 plus the NPU name.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DcmiChipInfoV2 {
    /// "Ascend".
    pub chip_type: [c_uchar; MAX_CHIP_NAME_LEN],
    /// "910B3", "310P3", "Ascend910" (A3).
    pub chip_name: [c_uchar; MAX_CHIP_NAME_LEN],
    /// "V1".
    pub chip_ver: [c_uchar; MAX_CHIP_NAME_LEN],
    /// AI cores of the chip.
    pub aicore_cnt: c_uint,
    /// e.g. "Ascend910_9392" on A3; may be empty.
    pub npu_name: [c_uchar; MAX_CHIP_NAME_LEN],
}

/// `struct dcmi_board_info` (16 bytes); 0xFFFFFFFF = not available.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiBoardInfo {
    /// Board id (decides the A3 family and 910B inference boards).
    pub board_id: c_uint,
    /// PCB id.
    pub pcb_id: c_uint,
    /// BOM id.
    pub bom_id: c_uint,
    /// Slot id.
    pub slot_id: c_uint,
}

/// `struct dcmi_die_id` (20 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiDieId {
    /// The die id words.
    pub soc_die: [c_uint; DIE_ID_COUNT],
}

/// `struct dcmi_pcie_info_all` (64 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiPcieInfoAll {
    /// Vendor id (vendor spelling).
    pub venderid: c_uint,
    /// Subsystem vendor id.
    pub subvenderid: c_uint,
    /// Device id.
    pub deviceid: c_uint,
    /// Subsystem device id.
    pub subdeviceid: c_uint,
    /// PCI domain.
    pub domain: c_int,
    /// Bus number.
    pub bdf_busid: c_uint,
    /// Device number.
    pub bdf_deviceid: c_uint,
    /// Function number.
    pub bdf_funcid: c_uint,
    /// Reserved.
    pub reserve: [c_uchar; 32],
}

/// `struct dcmi_elabel_info` (1280 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DcmiElabelInfo {
    /// Product name.
    pub product_name: [c_char; MAX_LENGTH],
    /// Model.
    pub model: [c_char; MAX_LENGTH],
    /// Manufacturer.
    pub manufacturer: [c_char; MAX_LENGTH],
    /// Manufacturing date.
    pub manufacturer_date: [c_char; MAX_LENGTH],
    /// Serial number.
    pub serial_number: [c_char; MAX_LENGTH],
}

impl Default for DcmiElabelInfo {
    fn default() -> Self {
        Self {
            product_name: [0; MAX_LENGTH],
            model: [0; MAX_LENGTH],
            manufacturer: [0; MAX_LENGTH],
            manufacturer_date: [0; MAX_LENGTH],
            serial_number: [0; MAX_LENGTH],
        }
    }
}

/// `struct dcmi_spod_info` (48 bytes): an A3 die's super-pod placement.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiSpodInfo {
    /// Super device id.
    pub sdid: c_uint,
    /// Super-pod size (newer vendor name: `super_pod_size`).
    pub scale_type: c_uint,
    /// Super-pod id.
    pub super_pod_id: c_uint,
    /// Server index in the super-pod (newer vendor name: `server_index`).
    pub server_id: c_uint,
    /// Chassis id.
    pub chassis_id: c_uint,
    /// Super-pod type.
    pub super_pod_type: c_uint,
    /// Reserved.
    pub reserve: [c_uint; 6],
}

/// `struct dcmi_hbm_info` (32 bytes, padded after `freq` and at the end).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiHbmInfo {
    /// MB.
    pub memory_size: c_ulonglong,
    /// MHz.
    pub freq: c_uint,
    /// MB in use.
    pub memory_usage: c_ulonglong,
    /// Degrees C.
    pub temp: c_int,
    /// Percent (vendor spelling).
    pub bandwith_util_rate: c_uint,
}

/// `struct dcmi_get_memory_info_stru` (112 bytes on LP64).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DcmiGetMemoryInfoStru {
    /// MB.
    pub memory_size: c_ulonglong,
    /// MB, at most `memory_size`.
    pub memory_available: c_ulonglong,
    /// MHz.
    pub freq: c_uint,
    /// KB.
    pub hugepagesize: c_ulong,
    /// Huge pages in total.
    pub hugepages_total: c_ulong,
    /// Huge pages free.
    pub hugepages_free: c_ulong,
    /// Percent.
    pub utiliza: c_uint,
    /// Reserved.
    pub reserve: [c_uchar; 60],
}

impl Default for DcmiGetMemoryInfoStru {
    fn default() -> Self {
        Self {
            memory_size: 0,
            memory_available: 0,
            freq: 0,
            hugepagesize: 0,
            hugepages_total: 0,
            hugepages_free: 0,
            utiliza: 0,
            reserve: [0; 60],
        }
    }
}

/// `struct dcmi_memory_info_stru` (16 bytes): the v1 memory query.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiMemoryInfoStru {
    /// MB.
    pub memory_size: c_ulonglong,
    /// MHz.
    pub freq: c_uint,
    /// Percent.
    pub utiliza: c_uint,
}

/// `union dcmi_ip_addr_union` (16 bytes). A struct stands in for the union so
/// that reading it needs no `unsafe`: `ip4` is the first four bytes of `ip6`
/// (see [`DcmiIpAddrUnion::ip4`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiIpAddrUnion {
    /// The IPv6 address, or the IPv4 address in its first four bytes.
    pub ip6: [c_uchar; 16],
}

impl DcmiIpAddrUnion {
    /// The C member `ip4`: the first four bytes.
    pub fn ip4(&self) -> [c_uchar; 4] {
        [self.ip6[0], self.ip6[1], self.ip6[2], self.ip6[3]]
    }

    /// Writes the C member `ip4` (the first four bytes; the rest untouched).
    pub fn set_ip4(&mut self, ip4: [c_uchar; 4]) {
        self.ip6[..4].copy_from_slice(&ip4);
    }
}

/// `struct dcmi_ip_addr` (20 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiIpAddr {
    /// The address bytes.
    pub u_addr: DcmiIpAddrUnion,
    /// Set by the caller to the family it asks for (V4 or V6).
    pub ip_type: DcmiIpAddrType,
}
