/*
 * Layout probe for ffi/dcmi.h: prints the size and alignment of every struct
 * and union, and the offset, size and alignment of every field, one per line:
 *
 *   struct <name> <size> <align>
 *   field <name> <field> <offset> <size> <align>
 *   enum <name> <size>
 *   abi <arch> <char signed: 0|1> <sizeof(long)> <sizeof(void *)>
 *
 * ffi/abi/tests/layout.rs compiles it with the target's C compiler (cc, or
 * $DCMI_PROBE_CC when cross-compiling), runs it, and compares every line with
 * the Rust definitions in ffi/abi built for the same target.
 */
#include <stddef.h>
#include <stdio.h>

#include "../dcmi.h"

#define AGG(kind, name) \
    printf("struct %s %zu %zu\n", #name, sizeof(kind name), (size_t)__alignof__(kind name))
#define FIELD(kind, name, field)                                                        \
    printf("field %s %s %zu %zu %zu\n", #name, #field, offsetof(kind name, field),        \
           sizeof(((kind name *)0)->field), (size_t)__alignof__(((kind name *)0)->field))
#define S(name) AGG(struct, name)
#define F(name, field) FIELD(struct, name, field)
#define U(name) AGG(union, name)
#define UF(name, field) FIELD(union, name, field)
#define E(name) printf("enum %s %zu\n", #name, sizeof(enum name))

#if defined(__x86_64__)
#define ARCH "x86_64"
#elif defined(__aarch64__)
#define ARCH "aarch64"
#else
#define ARCH "other"
#endif

int main(void)
{
    /* Which target the compiler built for: the test refuses figures from a
     * compiler for another architecture. char is unsigned on aarch64. */
    printf("abi %s %d %zu %zu\n", ARCH, (char)-1 < 0, sizeof(long), sizeof(void *));

    E(dcmi_unit_type);
    E(dcmi_ip_addr_type);
    E(dcmi_port_type);
    E(dcmi_rdfx_detect_result);
    E(dcmi_main_cmd);
    E(dcmi_freq_type);
    E(dcmi_reset_channel);
    E(dcmi_boot_status);
    E(dcmi_device_type);
    E(dcmi_event_type);
    E(dcmi_die_type);
    E(dcmi_multi_die_policy);

    S(dcmi_chip_info);
    F(dcmi_chip_info, chip_type);
    F(dcmi_chip_info, chip_name);
    F(dcmi_chip_info, chip_ver);
    F(dcmi_chip_info, aicore_cnt);

    S(dcmi_chip_info_v2);
    F(dcmi_chip_info_v2, chip_type);
    F(dcmi_chip_info_v2, chip_name);
    F(dcmi_chip_info_v2, chip_ver);
    F(dcmi_chip_info_v2, aicore_cnt);
    F(dcmi_chip_info_v2, npu_name);

    S(dcmi_board_info);
    F(dcmi_board_info, board_id);
    F(dcmi_board_info, pcb_id);
    F(dcmi_board_info, bom_id);
    F(dcmi_board_info, slot_id);

    S(dcmi_die_id);
    F(dcmi_die_id, soc_die);

    S(dcmi_pcie_info_all);
    F(dcmi_pcie_info_all, venderid);
    F(dcmi_pcie_info_all, subvenderid);
    F(dcmi_pcie_info_all, deviceid);
    F(dcmi_pcie_info_all, subdeviceid);
    F(dcmi_pcie_info_all, domain);
    F(dcmi_pcie_info_all, bdf_busid);
    F(dcmi_pcie_info_all, bdf_deviceid);
    F(dcmi_pcie_info_all, bdf_funcid);
    F(dcmi_pcie_info_all, reserve);

    S(dcmi_elabel_info);
    F(dcmi_elabel_info, product_name);
    F(dcmi_elabel_info, model);
    F(dcmi_elabel_info, manufacturer);
    F(dcmi_elabel_info, manufacturer_date);
    F(dcmi_elabel_info, serial_number);

    S(dcmi_spod_info);
    F(dcmi_spod_info, sdid);
    F(dcmi_spod_info, scale_type);
    F(dcmi_spod_info, super_pod_id);
    F(dcmi_spod_info, server_id);
    F(dcmi_spod_info, chassis_id);
    F(dcmi_spod_info, super_pod_type);
    F(dcmi_spod_info, reserve);

    S(dcmi_hbm_info);
    F(dcmi_hbm_info, memory_size);
    F(dcmi_hbm_info, freq);
    F(dcmi_hbm_info, memory_usage);
    F(dcmi_hbm_info, temp);
    F(dcmi_hbm_info, bandwith_util_rate);

    S(dcmi_get_memory_info_stru);
    F(dcmi_get_memory_info_stru, memory_size);
    F(dcmi_get_memory_info_stru, memory_available);
    F(dcmi_get_memory_info_stru, freq);
    F(dcmi_get_memory_info_stru, hugepagesize);
    F(dcmi_get_memory_info_stru, hugepages_total);
    F(dcmi_get_memory_info_stru, hugepages_free);
    F(dcmi_get_memory_info_stru, utiliza);
    F(dcmi_get_memory_info_stru, reserve);

    S(dcmi_memory_info_stru);
    F(dcmi_memory_info_stru, memory_size);
    F(dcmi_memory_info_stru, freq);
    F(dcmi_memory_info_stru, utiliza);

    U(dcmi_ip_addr_union);
    UF(dcmi_ip_addr_union, ip6);
    UF(dcmi_ip_addr_union, ip4);

    S(dcmi_ip_addr);
    F(dcmi_ip_addr, u_addr);
    F(dcmi_ip_addr, ip_type);

    S(dcmi_ecc_info);
    F(dcmi_ecc_info, enable_flag);
    F(dcmi_ecc_info, single_bit_error_cnt);
    F(dcmi_ecc_info, double_bit_error_cnt);
    F(dcmi_ecc_info, total_single_bit_error_cnt);
    F(dcmi_ecc_info, total_double_bit_error_cnt);
    F(dcmi_ecc_info, single_bit_isolated_pages_cnt);
    F(dcmi_ecc_info, double_bit_isolated_pages_cnt);
    F(dcmi_ecc_info, single_bit_next_isolated_pages_cnt);
    F(dcmi_ecc_info, double_bit_next_isolated_pages_cnt);

    S(dcmi_multi_utilization_info);
    F(dcmi_multi_utilization_info, aic_util);
    F(dcmi_multi_utilization_info, aiv_util);
    F(dcmi_multi_utilization_info, aicore_util);
    F(dcmi_multi_utilization_info, npu_util);
    F(dcmi_multi_utilization_info, reserved);

    S(dcmi_proc_mem_info);
    F(dcmi_proc_mem_info, proc_id);
    F(dcmi_proc_mem_info, proc_mem_usage);

    S(dcmi_pcie_link_bandwidth_info);
    F(dcmi_pcie_link_bandwidth_info, profiling_time);
    F(dcmi_pcie_link_bandwidth_info, tx_p_bw);
    F(dcmi_pcie_link_bandwidth_info, tx_np_bw);
    F(dcmi_pcie_link_bandwidth_info, tx_cpl_bw);
    F(dcmi_pcie_link_bandwidth_info, tx_np_lantency);
    F(dcmi_pcie_link_bandwidth_info, rx_p_bw);
    F(dcmi_pcie_link_bandwidth_info, rx_np_bw);
    F(dcmi_pcie_link_bandwidth_info, rx_cpl_bw);

    S(dcmi_hccs_statistic_info);
    F(dcmi_hccs_statistic_info, tx_cnt);
    F(dcmi_hccs_statistic_info, rx_cnt);
    F(dcmi_hccs_statistic_info, crc_err_cnt);
    F(dcmi_hccs_statistic_info, retry_cnt);
    F(dcmi_hccs_statistic_info, reserved_field_cnt);

    S(dcmi_hccs_statistic_info_u64);
    F(dcmi_hccs_statistic_info_u64, tx_cnt);
    F(dcmi_hccs_statistic_info_u64, rx_cnt);
    F(dcmi_hccs_statistic_info_u64, crc_err_cnt);
    F(dcmi_hccs_statistic_info_u64, retry_cnt);
    F(dcmi_hccs_statistic_info_u64, reserved);

    S(dcmi_hccs_bandwidth_info);
    F(dcmi_hccs_bandwidth_info, profiling_time);
    F(dcmi_hccs_bandwidth_info, total_txbw);
    F(dcmi_hccs_bandwidth_info, total_rxbw);
    F(dcmi_hccs_bandwidth_info, tx_bandwidth);
    F(dcmi_hccs_bandwidth_info, rx_bandwidth);

    S(dcmi_sio_crc_err_statistic_info);
    F(dcmi_sio_crc_err_statistic_info, tx_error_count);
    F(dcmi_sio_crc_err_statistic_info, rx_error_count);
    F(dcmi_sio_crc_err_statistic_info, reserved);

    S(dcmi_base_resource);
    F(dcmi_base_resource, token);
    F(dcmi_base_resource, token_max);
    F(dcmi_base_resource, task_timeout);
    F(dcmi_base_resource, vfg_id);
    F(dcmi_base_resource, vip_mode);
    F(dcmi_base_resource, reserved);

    S(dcmi_computing_resource);
    F(dcmi_computing_resource, aic);
    F(dcmi_computing_resource, aiv);
    F(dcmi_computing_resource, dsa);
    F(dcmi_computing_resource, rtsq);
    F(dcmi_computing_resource, acsq);
    F(dcmi_computing_resource, cdqm);
    F(dcmi_computing_resource, c_core);
    F(dcmi_computing_resource, ffts);
    F(dcmi_computing_resource, sdma);
    F(dcmi_computing_resource, pcie_dma);
    F(dcmi_computing_resource, memory_size);
    F(dcmi_computing_resource, event_id);
    F(dcmi_computing_resource, notify_id);
    F(dcmi_computing_resource, stream_id);
    F(dcmi_computing_resource, model_id);
    F(dcmi_computing_resource, topic_schedule_aicpu);
    F(dcmi_computing_resource, host_ctrl_cpu);
    F(dcmi_computing_resource, host_aicpu);
    F(dcmi_computing_resource, device_aicpu);
    F(dcmi_computing_resource, topic_ctrl_cpu_slot);
    F(dcmi_computing_resource, vdev_aicore_utilization);
    F(dcmi_computing_resource, vdev_memory_total);
    F(dcmi_computing_resource, vdev_memory_free);
    F(dcmi_computing_resource, reserved);

    S(dcmi_media_resource);
    F(dcmi_media_resource, jpegd);
    F(dcmi_media_resource, jpege);
    F(dcmi_media_resource, vpc);
    F(dcmi_media_resource, vdec);
    F(dcmi_media_resource, pngd);
    F(dcmi_media_resource, venc);
    F(dcmi_media_resource, reserved);

    S(dcmi_create_vdev_res_stru);
    F(dcmi_create_vdev_res_stru, vdev_id);
    F(dcmi_create_vdev_res_stru, vfg_id);
    F(dcmi_create_vdev_res_stru, template_name);
    F(dcmi_create_vdev_res_stru, reserved);

    S(dcmi_create_vdev_out);
    F(dcmi_create_vdev_out, vdev_id);
    F(dcmi_create_vdev_out, pcie_bus);
    F(dcmi_create_vdev_out, pcie_device);
    F(dcmi_create_vdev_out, pcie_func);
    F(dcmi_create_vdev_out, vfg_id);
    F(dcmi_create_vdev_out, reserved);

    S(dcmi_vdev_query_info);
    F(dcmi_vdev_query_info, name);
    F(dcmi_vdev_query_info, status);
    F(dcmi_vdev_query_info, is_container_used);
    F(dcmi_vdev_query_info, vfid);
    F(dcmi_vdev_query_info, vfg_id);
    F(dcmi_vdev_query_info, container_id);
    F(dcmi_vdev_query_info, base);
    F(dcmi_vdev_query_info, computing);
    F(dcmi_vdev_query_info, media);

    S(dcmi_vdev_query_stru);
    F(dcmi_vdev_query_stru, vdev_id);
    F(dcmi_vdev_query_stru, query_info);

    S(dcmi_soc_free_resource);
    F(dcmi_soc_free_resource, vfg_num);
    F(dcmi_soc_free_resource, vfg_bitmap);
    F(dcmi_soc_free_resource, base);
    F(dcmi_soc_free_resource, computing);
    F(dcmi_soc_free_resource, media);

    S(dcmi_soc_total_resource);
    F(dcmi_soc_total_resource, vdev_num);
    F(dcmi_soc_total_resource, vdev_id);
    F(dcmi_soc_total_resource, vfg_num);
    F(dcmi_soc_total_resource, vfg_bitmap);
    F(dcmi_soc_total_resource, base);
    F(dcmi_soc_total_resource, computing);
    F(dcmi_soc_total_resource, media);

    S(dcmi_dms_fault_event);
    F(dcmi_dms_fault_event, event_id);
    F(dcmi_dms_fault_event, deviceid);
    F(dcmi_dms_fault_event, node_type);
    F(dcmi_dms_fault_event, node_id);
    F(dcmi_dms_fault_event, sub_node_type);
    F(dcmi_dms_fault_event, sub_node_id);
    F(dcmi_dms_fault_event, severity);
    F(dcmi_dms_fault_event, assertion);
    F(dcmi_dms_fault_event, event_serial_num);
    F(dcmi_dms_fault_event, notify_serial_num);
    F(dcmi_dms_fault_event, alarm_raised_time);
    F(dcmi_dms_fault_event, event_name);
    F(dcmi_dms_fault_event, additional_info);
    F(dcmi_dms_fault_event, resv);

    U(dcmi_event_union);
    UF(dcmi_event_union, dms_event);

    S(dcmi_event);
    F(dcmi_event, type);
    F(dcmi_event, event_t);

    S(dcmi_event_filter);
    F(dcmi_event_filter, filter_flag);
    F(dcmi_event_filter, event_id);
    F(dcmi_event_filter, severity);
    F(dcmi_event_filter, node_type);
    F(dcmi_event_filter, resv);

    return 0;
}
