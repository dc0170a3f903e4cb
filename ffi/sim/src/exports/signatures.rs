//! Compile-time proof that every export has exactly the prototype of its
//! `dcmi-abi` function-pointer alias (and so of dcmi.h).

use dcmi_abi as abi;

const _: abi::FnInit = super::library::dcmi_init;
const _: abi::FnGetDcmiVersion = super::library::dcmi_get_dcmi_version;
const _: abi::FnGetCardList = super::discovery::dcmi_get_card_list;
const _: abi::FnGetCardNumList = super::discovery::dcmi_get_card_num_list;
const _: abi::FnGetDeviceNumInCard = super::discovery::dcmi_get_device_num_in_card;
const _: abi::FnGetDeviceIdInCard = super::discovery::dcmi_get_device_id_in_card;
const _: abi::FnGetDeviceType = super::discovery::dcmi_get_device_type;
const _: abi::FnGetDeviceLogicId = super::discovery::dcmi_get_device_logic_id;
const _: abi::FnGetDevicePhyidFromLogicid = super::discovery::dcmi_get_device_phyid_from_logicid;
const _: abi::FnGetDeviceLogicidFromPhyid = super::discovery::dcmi_get_device_logicid_from_phyid;
const _: abi::FnGetCardIdDeviceIdFromLogicid =
    super::discovery::dcmi_get_card_id_device_id_from_logicid;
const _: abi::FnGetCardIdDeviceIdFromPhyid =
    super::discovery::dcmi_get_card_id_device_id_from_phyid;
const _: abi::FnGetDeviceChipInfo = super::identity::dcmi_get_device_chip_info;
const _: abi::FnGetDeviceChipInfoV2 = super::identity::dcmi_get_device_chip_info_v2;
const _: abi::FnGetDeviceBoardInfo = super::identity::dcmi_get_device_board_info;
const _: abi::FnGetMainboardId = super::identity::dcmi_get_mainboard_id;
const _: abi::FnGetProductType = super::identity::dcmi_get_product_type;
const _: abi::FnGetCardElabelV2 = super::identity::dcmi_get_card_elabel_v2;
const _: abi::FnGetDevicePcieInfoV2 = super::identity::dcmi_get_device_pcie_info_v2;
const _: abi::FnGetDeviceDieV2 = super::identity::dcmi_get_device_die_v2;
const _: abi::FnGetDeviceHealth = super::health::dcmi_get_device_health;
const _: abi::FnGetDeviceErrorcodeV2 = super::health::dcmi_get_device_errorcode_v2;
const _: abi::FnGetDeviceErrorcode = super::health::dcmi_get_device_errorcode;
const _: abi::FnGetDeviceErrorcodeString = super::health::dcmi_get_device_errorcode_string;
const _: abi::FnGetDeviceNetworkHealth = super::health::dcmi_get_device_network_health;
const _: abi::FnGetDeviceBootStatus = super::health::dcmi_get_device_boot_status;
const _: abi::FnSubscribeFaultEvent = super::health::dcmi_subscribe_fault_event;
const _: abi::FnGetDeviceIp = super::network::dcmi_get_device_ip;
const _: abi::FnGetNetdevBrotherDevice = super::network::dcmi_get_netdev_brother_device;
const _: abi::FnGetDeviceTemperature = super::sensors::dcmi_get_device_temperature;
const _: abi::FnGetDeviceVoltage = super::sensors::dcmi_get_device_voltage;
const _: abi::FnGetDevicePowerInfo = super::sensors::dcmi_get_device_power_info;
const _: abi::FnMcuGetPowerInfo = super::sensors::dcmi_mcu_get_power_info;
const _: abi::FnGetDeviceFrequency = super::sensors::dcmi_get_device_frequency;
const _: abi::FnGetDeviceUtilizationRate = super::sensors::dcmi_get_device_utilization_rate;
const _: abi::FnGetDeviceMultiUtilizationRate =
    super::sensors::dcmi_get_device_multi_utilization_rate;
const _: abi::FnGetDeviceMultiUtilizationRatePeriod =
    super::sensors::dcmi_get_device_multi_utilization_rate_period;
const _: abi::FnGetDeviceEccInfo = super::sensors::dcmi_get_device_ecc_info;
const _: abi::FnGetDeviceResourceInfo = super::sensors::dcmi_get_device_resource_info;
const _: abi::FnGetPcieLinkBandwidthInfo = super::sensors::dcmi_get_pcie_link_bandwidth_info;
const _: abi::FnGetHccsLinkBandwidthInfo = super::sensors::dcmi_get_hccs_link_bandwidth_info;
const _: abi::FnGetAffinityCpuInfoByDeviceId =
    super::sensors::dcmi_get_affinity_cpu_info_by_device_id;
const _: abi::FnGetDeviceMemoryInfoV3 = super::memory::dcmi_get_device_memory_info_v3;
const _: abi::FnGetMemoryInfo = super::memory::dcmi_get_memory_info;
const _: abi::FnGetDeviceHbmInfo = super::memory::dcmi_get_device_hbm_info;
const _: abi::FnGetDeviceInfo = super::device_info::dcmi_get_device_info;
const _: abi::FnCreateVdevice = super::vnpu::dcmi_create_vdevice;
const _: abi::FnSetDestroyVdevice = super::vnpu::dcmi_set_destroy_vdevice;
const _: abi::FnGetDeviceShareEnable = super::vnpu::dcmi_get_device_share_enable;
const _: abi::FnGetNpuWorkMode = super::vnpu::dcmi_get_npu_work_mode;
const _: abi::FnSetDeviceReset = super::reset::dcmi_set_device_reset;
const _: abi::FnGetDeviceOutbandChannelState = super::reset::dcmi_get_device_outband_channel_state;
const _: abi::FnPreResetSoc = super::reset::dcmi_pre_reset_soc;
const _: abi::FnRescanSoc = super::reset::dcmi_rescan_soc;
const _: abi::FnGetMultiDiePolicy = super::library::dcmi_get_multi_die_policy;
const _: abi::FnSetMultiDiePolicy = super::library::dcmi_set_multi_die_policy;
const _: abi::FnGetSpodNodeStatus = super::reset::dcmi_get_spod_node_status;
const _: abi::FnSetSpodNodeStatus = super::reset::dcmi_set_spod_node_status;

const _: abi::FnV2Init = super::v2::dcmiv2_init;
const _: abi::FnV2GetDcmiVersion = super::v2::dcmiv2_get_dcmi_version;
const _: abi::FnV2GetDeviceList = super::v2::dcmiv2_get_device_list;
const _: abi::FnV2GetAllDeviceCount = super::v2::dcmiv2_get_all_device_count;
const _: abi::FnV2GetChipPhyIdByDevId = super::v2::dcmiv2_get_chip_phy_id_by_dev_id;
const _: abi::FnV2GetDevIdByChipPhyId = super::v2::dcmiv2_get_dev_id_by_chip_phy_id;
const _: abi::FnV2GetDeviceType = super::v2::dcmiv2_get_device_type;
const _: abi::FnV2GetDeviceChipInfo = super::v2::dcmiv2_get_device_chip_info;
const _: abi::FnV2GetDeviceBoardInfo = super::v2::dcmiv2_get_device_board_info;
const _: abi::FnV2GetMainboardId = super::v2::dcmiv2_get_mainboard_id;
const _: abi::FnV2GetDevicePcieInfo = super::v2::dcmiv2_get_device_pcie_info;
const _: abi::FnV2GetDeviceDieId = super::v2::dcmiv2_get_device_die_id;
const _: abi::FnV2GetDeviceHbmInfo = super::v2::dcmiv2_get_device_hbm_info;
const _: abi::FnV2GetDeviceInfo = super::v2::dcmiv2_get_device_info;
const _: abi::FnV2GetDeviceHealth = super::v2::dcmiv2_get_device_health;
const _: abi::FnV2GetDeviceErrorCodeList = super::v2::dcmiv2_get_device_error_code_list;
const _: abi::FnV2GetDeviceNetworkHealth = super::v2::dcmiv2_get_device_network_health;
const _: abi::FnV2SubscribeFaultEvent = super::v2::dcmiv2_subscribe_fault_event;
const _: abi::FnV2ResetDevice = super::v2::dcmiv2_reset_device;
const _: abi::FnV2GetDeviceOutbandChannelState = super::v2::dcmiv2_get_device_outband_channel_state;
const _: abi::FnV2PreResetDevice = super::v2::dcmiv2_pre_reset_device;
const _: abi::FnV2RescanDevice = super::v2::dcmiv2_rescan_device;
const _: abi::FnV2GetDeviceBootStatus = super::v2::dcmiv2_get_device_boot_status;
const _: abi::FnV2GetDeviceProcMemInfo = super::v2::dcmiv2_get_device_proc_mem_info;
