//! Virtual NPU structs (main command `DCMI_MAIN_CMD_VDEV_MNG`, create/destroy).

use core::ffi::{c_char, c_uchar, c_uint, c_ulonglong, c_ushort};

use crate::consts::{
    DCMI_SOC_SPLIT_MAX, DCMI_VDEV_FOR_RESERVE, DCMI_VDEV_RES_NAME_LEN, DCMI_VDEV_SIZE,
    TEMPLATE_NAME_LEN,
};

/// `struct dcmi_base_resource` (64 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiBaseResource {
    /// Token.
    pub token: c_ulonglong,
    /// Token maximum.
    pub token_max: c_ulonglong,
    /// Task timeout.
    pub task_timeout: c_ulonglong,
    /// Virtual function group.
    pub vfg_id: c_uint,
    /// VIP mode.
    pub vip_mode: c_uchar,
    /// Reserved.
    pub reserved: [c_uchar; DCMI_VDEV_FOR_RESERVE - 1],
}

/// `struct dcmi_computing_resource` (96 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DcmiComputingResource {
    /// AI cores (of the vNPU; of the whole chip in the total resource).
    pub aic: f32,
    /// AI vector cores.
    pub aiv: f32,
    /// DSA.
    pub dsa: c_ushort,
    /// RTSQ.
    pub rtsq: c_ushort,
    /// ACSQ.
    pub acsq: c_ushort,
    /// CDQM.
    pub cdqm: c_ushort,
    /// C cores.
    pub c_core: c_ushort,
    /// FFTS.
    pub ffts: c_ushort,
    /// SDMA.
    pub sdma: c_ushort,
    /// PCIe DMA.
    pub pcie_dma: c_ushort,
    /// MB.
    pub memory_size: c_ulonglong,
    /// Event ids.
    pub event_id: c_uint,
    /// Notify ids.
    pub notify_id: c_uint,
    /// Stream ids.
    pub stream_id: c_uint,
    /// Model ids.
    pub model_id: c_uint,
    /// Topic-schedule AI CPUs.
    pub topic_schedule_aicpu: c_ushort,
    /// Host control CPUs.
    pub host_ctrl_cpu: c_ushort,
    /// Host AI CPUs.
    pub host_aicpu: c_ushort,
    /// Device AI CPUs.
    pub device_aicpu: c_ushort,
    /// Topic control CPU slots.
    pub topic_ctrl_cpu_slot: c_ushort,
    /// Percent.
    pub vdev_aicore_utilization: c_uint,
    /// MB.
    pub vdev_memory_total: c_ulonglong,
    /// MB.
    pub vdev_memory_free: c_ulonglong,
    /// Reserved.
    pub reserved: [c_uchar; DCMI_VDEV_FOR_RESERVE - DCMI_VDEV_SIZE],
}

/// `struct dcmi_media_resource` (56 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DcmiMediaResource {
    /// JPEG decoders.
    pub jpegd: f32,
    /// JPEG encoders.
    pub jpege: f32,
    /// VPC.
    pub vpc: f32,
    /// Video decoders.
    pub vdec: f32,
    /// PNG decoders.
    pub pngd: f32,
    /// Video encoders.
    pub venc: f32,
    /// Reserved.
    pub reserved: [c_uchar; DCMI_VDEV_FOR_RESERVE],
}

/// `struct dcmi_create_vdev_res_stru` (104 bytes): input of `dcmi_create_vdevice`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DcmiCreateVdevResStru {
    /// 0xFFFFFFFF: the library chooses.
    pub vdev_id: c_uint,
    /// 0xFFFFFFFF: the library chooses.
    pub vfg_id: c_uint,
    /// NUL-terminated template name, e.g. "vir02".
    pub template_name: [c_char; TEMPLATE_NAME_LEN],
    /// Reserved.
    pub reserved: [c_uchar; 64],
}

impl Default for DcmiCreateVdevResStru {
    fn default() -> Self {
        Self {
            vdev_id: 0,
            vfg_id: 0,
            template_name: [0; TEMPLATE_NAME_LEN],
            reserved: [0; 64],
        }
    }
}

/// `struct dcmi_create_vdev_out` (52 bytes): output of `dcmi_create_vdevice`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DcmiCreateVdevOut {
    /// The new vNPU's id (>= 100).
    pub vdev_id: c_uint,
    /// PCIe bus.
    pub pcie_bus: c_uint,
    /// PCIe device.
    pub pcie_device: c_uint,
    /// PCIe function.
    pub pcie_func: c_uint,
    /// Virtual function group.
    pub vfg_id: c_uint,
    /// Reserved.
    pub reserved: [c_uchar; DCMI_VDEV_FOR_RESERVE],
}

/// `struct dcmi_vdev_query_info` (256 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DcmiVdevQueryInfo {
    /// NUL-terminated template name, e.g. "vir04".
    pub name: [c_char; DCMI_VDEV_RES_NAME_LEN],
    /// Status.
    pub status: c_uint,
    /// Non-zero while a container uses it.
    pub is_container_used: c_uint,
    /// Virtual function id.
    pub vfid: c_uint,
    /// Virtual function group.
    pub vfg_id: c_uint,
    /// Container id.
    pub container_id: c_ulonglong,
    /// Base resources.
    pub base: DcmiBaseResource,
    /// Computing resources (`computing.aic` = the vNPU's AI cores).
    pub computing: DcmiComputingResource,
    /// Media resources.
    pub media: DcmiMediaResource,
}

/// `struct dcmi_vdev_query_stru` (264 bytes): buf of sub commands 0 and 5.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DcmiVdevQueryStru {
    /// Input: which vNPU.
    pub vdev_id: c_uint,
    /// Output.
    pub query_info: DcmiVdevQueryInfo,
}

/// `struct dcmi_soc_free_resource` (224 bytes): buf of sub command 2.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DcmiSocFreeResource {
    /// Free virtual function groups.
    pub vfg_num: c_uint,
    /// Bitmap of free groups.
    pub vfg_bitmap: c_uint,
    /// Base resources.
    pub base: DcmiBaseResource,
    /// Free computing resources (`computing.aic` = free AI cores).
    pub computing: DcmiComputingResource,
    /// Media resources.
    pub media: DcmiMediaResource,
}

/// `struct dcmi_soc_total_resource` (360 bytes): buf of sub command 1.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DcmiSocTotalResource {
    /// vNPUs on the chip (at most 32).
    pub vdev_num: c_uint,
    /// Their ids (first `vdev_num` entries).
    pub vdev_id: [c_uint; DCMI_SOC_SPLIT_MAX],
    /// Virtual function groups in use.
    pub vfg_num: c_uint,
    /// Bitmap of groups in use.
    pub vfg_bitmap: c_uint,
    /// Base resources.
    pub base: DcmiBaseResource,
    /// Computing resources (`computing.aic` = the chip's AI cores).
    pub computing: DcmiComputingResource,
    /// Media resources.
    pub media: DcmiMediaResource,
}
