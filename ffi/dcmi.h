/*
 * dcmi.h - the part of the Ascend driver management library (libdcmi.so) ABI
 * that this project binds, and that its simulator (ffi/sim) exports.
 *
 * Written for this project from the interface facts (names, prototypes,
 * field order, array sizes). Layout assumptions: LP64 (int 4, long 8,
 * long long 8), every enum 4 bytes. ffi/abi/tests/layout.rs compiles
 * ffi/probe/layout.c against this file and checks every struct and field
 * against the Rust definitions in ffi/abi.
 *
 * Conventions of the library:
 *   - every function returns int: DCMI_OK (0) or a negative DCMI_ERR_CODE_*;
 *   - chips are addressed by (card id, device index in card); card ids come
 *     from dcmi_get_card_list and need not start at 0;
 *   - "logic" and "physical" ids are both node-wide chip numbers; the
 *     physical id is the N of /dev/davinciN.
 */
#ifndef ASCEND_DCMI_H
#define ASCEND_DCMI_H

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Array sizes and limits                                              */
/* ------------------------------------------------------------------ */

#define MAX_CARD_NUM               64  /* card list length callers pass */
#define MAX_CHIP_NAME_LEN          32
#define TEMPLATE_NAME_LEN          32
#define DIE_ID_COUNT               5
#define MAX_LENGTH                 256 /* the vendor header spells it MAX_LENTH */
#define AGENTDRV_PROF_DATA_NUM     3
#define DCMI_UTIL_RESERVED_LEN     8
#define DCMI_VDEV_RES_NAME_LEN     16
#define DCMI_VDEV_FOR_RESERVE      32
#define DCMI_VDEV_SIZE             20  /* 2 * sizeof(u64) + sizeof(u32) */
#define DCMI_SOC_SPLIT_MAX         32  /* vNPUs per chip at most */
#define DCMI_MAX_EVENT_NAME_LENGTH 256
#define DCMI_MAX_EVENT_DATA_LENGTH 32
#define DCMI_MAX_EVENT_RESV_LENGTH 32
#define HCCS_MAX_PCS_NUM           16
#define HCCS_RES_PCS_NUM           64
#define DCMI_ERROR_CODE_MAX_COUNT  128 /* error code list length callers pass */
/* buffer lengths callers pass (names of this header, not the vendor's) */
#define DCMI_PRODUCT_TYPE_LEN      65  /* dcmi_get_product_type */
#define DCMI_VERSION_LEN           33  /* dcmi_get_dcmi_version */

/* filter_flag bits of struct dcmi_event_filter */
#define DCMI_EVENT_FILTER_FLAG_EVENT_ID  (1UL << 0)
#define DCMI_EVENT_FILTER_FLAG_SERVERITY (1UL << 1) /* vendor spelling */
#define DCMI_EVENT_FILTER_FLAG_NODE_TYPE (1UL << 2)

/* ------------------------------------------------------------------ */
/* Return codes                                                        */
/* ------------------------------------------------------------------ */

#define DCMI_OK                                0
#define DCMI_ERROR_CODE_BASE                   (-8000)
#define DCMI_ERR_CODE_INVALID_PARAMETER        (-8001)
#define DCMI_ERR_CODE_OPER_NOT_PERMITTED       (-8002)
#define DCMI_ERR_CODE_MEM_OPERATE_FAIL         (-8003)
#define DCMI_ERR_CODE_SECURE_FUN_FAIL          (-8004)
#define DCMI_ERR_CODE_INNER_ERR                (-8005)
#define DCMI_ERR_CODE_TIME_OUT                 (-8006)
#define DCMI_ERR_CODE_INVALID_DEVICE_ID        (-8007)
#define DCMI_ERR_CODE_DEVICE_NOT_EXIST         (-8008)
#define DCMI_ERR_CODE_IOCTL_FAIL               (-8009)
#define DCMI_ERR_CODE_SEND_MSG_FAIL            (-8010)
#define DCMI_ERR_CODE_RECV_MSG_FAIL            (-8011)
#define DCMI_ERR_CODE_NOT_READY                (-8012) /* card dropped */
#define DCMI_ERR_CODE_NOT_REDAY                DCMI_ERR_CODE_NOT_READY /* vendor spelling */
#define DCMI_ERR_CODE_NOT_SUPPORT_IN_CONTAINER (-8013)
#define DCMI_ERR_CODE_FILE_OPERATE_FAIL        (-8014)
#define DCMI_ERR_CODE_RESET_FAIL               (-8015)
#define DCMI_ERR_CODE_ABORT_OPERATE            (-8016)
#define DCMI_ERR_CODE_IS_UPGRADING             (-8017)
#define DCMI_ERR_CODE_RESOURCE_OCCUPIED        (-8020)
#define DCMI_ERR_CODE_PARTITION_NOT_RIGHT      (-8022)
#define DCMI_ERR_CODE_CONFIG_INFO_NOT_EXIST    (-8023)
#define DCMI_ERR_CODE_NOT_SUPPORT              (-8255)

/* ------------------------------------------------------------------ */
/* Enumerations (each 4 bytes)                                         */
/* ------------------------------------------------------------------ */

enum dcmi_unit_type {
    NPU_TYPE = 0,
    MCU_TYPE = 1,
    CPU_TYPE = 2,
    INVALID_TYPE = 0xFF
};

enum dcmi_ip_addr_type {
    DCMI_IPADDR_TYPE_V4 = 0,
    DCMI_IPADDR_TYPE_V6 = 1,
    DCMI_IPADDR_TYPE_ANY = 2
};

enum dcmi_port_type {
    DCMI_VNIC_PORT = 0,
    DCMI_ROCE_PORT = 1,
    DCMI_INVALID_PORT = 2
};

/* result of dcmi_get_device_network_health: OK and INIT are healthy */
enum dcmi_rdfx_detect_result {
    DCMI_RDFX_DETECT_OK = 0,
    DCMI_RDFX_DETECT_SOCK_FAIL = 1,
    DCMI_RDFX_DETECT_RECV_TIMEOUT = 2,
    DCMI_RDFX_DETECT_UNREACH = 3,
    DCMI_RDFX_DETECT_TIME_EXCEEDED = 4,
    DCMI_RDFX_DETECT_FAULT = 5,
    DCMI_RDFX_DETECT_INIT = 6,
    DCMI_RDFX_DETECT_THREAD_ERR = 7,
    DCMI_RDFX_DETECT_IP_SET = 8,
    DCMI_RDFX_DETECT_MAX = 0xFF
};

/* main_cmd of dcmi_get_device_info */
enum dcmi_main_cmd {
    DCMI_MAIN_CMD_DVPP = 0,
    DCMI_MAIN_CMD_ISP = 1,
    DCMI_MAIN_CMD_TS_GROUP_NUM = 2,
    DCMI_MAIN_CMD_CAN = 3,
    DCMI_MAIN_CMD_UART = 4,
    DCMI_MAIN_CMD_UPGRADE = 5,
    DCMI_MAIN_CMD_UFS = 6,
    DCMI_MAIN_CMD_OS_POWER = 7,
    DCMI_MAIN_CMD_LP = 8,
    DCMI_MAIN_CMD_MEMORY = 9,
    DCMI_MAIN_CMD_RECOVERY = 10,
    DCMI_MAIN_CMD_TS = 11,
    DCMI_MAIN_CMD_CHIP_INF = 12,
    DCMI_MAIN_CMD_QOS = 13,
    DCMI_MAIN_CMD_SOC_INFO = 14,
    DCMI_MAIN_CMD_SILS = 15,
    DCMI_MAIN_CMD_HCCS = 16,
    DCMI_MAIN_CMD_HOST_AICPU = 17,
    DCMI_MAIN_CMD_TEMP = 50,
    DCMI_MAIN_CMD_SVM = 51,
    DCMI_MAIN_CMD_VDEV_MNG = 52,
    DCMI_MAIN_CMD_SEC = 53,
    DCMI_MAIN_CMD_PCIE = 55,
    DCMI_MAIN_CMD_SIO = 56,
    DCMI_MAIN_CMD_EX_COMPUTING = 0x8000,
    DCMI_MAIN_CMD_DEVICE_SHARE = 0x8001,
    DCMI_MAIN_CMD_EX_CERT = 0x8003
};

/* sub_cmd values of dcmi_get_device_info, with the struct passed as buf */
#define DCMI_VMNG_SUB_CMD_GET_VDEV_RESOURCE      0 /* struct dcmi_vdev_query_stru, vdev_id in */
#define DCMI_VMNG_SUB_CMD_GET_TOTAL_RESOURCE     1 /* struct dcmi_soc_total_resource */
#define DCMI_VMNG_SUB_CMD_GET_FREE_RESOURCE      2 /* struct dcmi_soc_free_resource */
#define DCMI_VMNG_SUB_CMD_SET_SRIOV_SWITCH       3
#define DCMI_VMNG_SUB_CMD_GET_VDEV_ACTIVITY      5 /* struct dcmi_vdev_query_stru, vdev_id in */
#define DCMI_CHIP_INF_SUB_CMD_CHIP_ID            0
#define DCMI_CHIP_INF_SUB_CMD_SPOD_INFO          1 /* struct dcmi_spod_info */
#define DCMI_HCCS_SUB_CMD_GET_STATISTIC_INFO     3 /* struct dcmi_hccs_statistic_info */
#define DCMI_HCCS_SUB_CMD_GET_STATISTIC_INFO_U64 5 /* struct dcmi_hccs_statistic_info_u64 */
#define DCMI_SIO_SUB_CMD_CRC_ERR_STATISTICS      0 /* struct dcmi_sio_crc_err_statistic_info */
#define DCMI_DEVICE_SHARE_SUB_CMD_COMMON         0

enum dcmi_freq_type {
    DCMI_FREQ_DDR = 1,
    DCMI_FREQ_CTRLCPU = 2,
    DCMI_FREQ_HBM = 6,
    DCMI_FREQ_AICORE_CURRENT_ = 7,
    DCMI_FREQ_AICORE_MAX = 9,
    DCMI_FREQ_VECTORCORE_CURRENT = 12
};

/* input_type of dcmi_get_device_utilization_rate */
#define DCMI_UTILIZATION_RATE_DDR           1
#define DCMI_UTILIZATION_RATE_AICORE        2
#define DCMI_UTILIZATION_RATE_AICPU         3
#define DCMI_UTILIZATION_RATE_CTRLCPU       4
#define DCMI_UTILIZATION_RATE_DDR_BANDWIDTH 5
#define DCMI_UTILIZATION_RATE_HBM           6
#define DCMI_UTILIZATION_RATE_HBM_BANDWIDTH 10
#define DCMI_UTILIZATION_RATE_VECTORCORE    12
#define DCMI_UTILIZATION_RATE_NPU           13
#define DCMI_UTILIZATION_RATE_AICUBE        14

enum dcmi_reset_channel {
    OUTBAND_CHANNEL = 0,
    INBAND_CHANNEL = 1
};

enum dcmi_boot_status {
    DCMI_BOOT_STATUS_UNINIT = 0,
    DCMI_BOOT_STATUS_BIOS = 1,
    DCMI_BOOT_STATUS_OS = 2,
    DCMI_BOOT_STATUS_FINISH = 3,
    DCMI_SYSTEM_START_FINISH = 16 /* "started" as consumers test it */
};

enum dcmi_device_type {
    DCMI_DEVICE_TYPE_DDR = 0,
    DCMI_DEVICE_TYPE_SRAM = 1,
    DCMI_DEVICE_TYPE_HBM = 2,
    DCMI_DEVICE_TYPE_NPU = 3,
    DCMI_DEVICE_TYPE_NONE = 0xff
};

enum dcmi_event_type {
    DCMI_DMS_FAULT_EVENT = 0
};

enum dcmi_die_type {
    NDIE = 0,
    VDIE = 1,
    DDIE = 2 /* the v2 API (Ascend 950) only; the v1 call rejects it */
};

enum dcmi_multi_die_policy {
    DCMI_MULTI_DIE_UNION_POLICY = 0,
    DCMI_MULTI_DIE_INDEP_POLICY = 1,
    DCMI_MULTI_DIE_POLICY_MAX = 2
};

/* ------------------------------------------------------------------ */
/* Chip identity                                                       */
/* ------------------------------------------------------------------ */

/* Strings are NUL-terminated within their arrays (when the driver behaves). */
struct dcmi_chip_info {
    unsigned char chip_type[MAX_CHIP_NAME_LEN]; /* "Ascend" */
    unsigned char chip_name[MAX_CHIP_NAME_LEN]; /* "910B3", "310P3", "Ascend910" on A3 */
    unsigned char chip_ver[MAX_CHIP_NAME_LEN];  /* "V1" */
    unsigned int aicore_cnt;
};

struct dcmi_chip_info_v2 {
    unsigned char chip_type[MAX_CHIP_NAME_LEN];
    unsigned char chip_name[MAX_CHIP_NAME_LEN];
    unsigned char chip_ver[MAX_CHIP_NAME_LEN];
    unsigned int aicore_cnt;
    unsigned char npu_name[MAX_CHIP_NAME_LEN]; /* e.g. "Ascend910_9392" on A3 */
};

/* 0xFFFFFFFF in a field means "not available" */
struct dcmi_board_info {
    unsigned int board_id;
    unsigned int pcb_id;
    unsigned int bom_id;
    unsigned int slot_id;
};

struct dcmi_die_id {
    unsigned int soc_die[DIE_ID_COUNT];
};

struct dcmi_pcie_info_all {
    unsigned int venderid; /* vendor spelling */
    unsigned int subvenderid;
    unsigned int deviceid;
    unsigned int subdeviceid;
    int domain;
    unsigned int bdf_busid;
    unsigned int bdf_deviceid;
    unsigned int bdf_funcid;
    unsigned char reserve[32];
};

struct dcmi_elabel_info {
    char product_name[MAX_LENGTH];
    char model[MAX_LENGTH];
    char manufacturer[MAX_LENGTH];
    char manufacturer_date[MAX_LENGTH];
    char serial_number[MAX_LENGTH];
};

/* super-pod placement of an A3 die (sub command SPOD_INFO) */
struct dcmi_spod_info {
    unsigned int sdid;
    unsigned int scale_type;   /* newer vendor headers: super_pod_size */
    unsigned int super_pod_id;
    unsigned int server_id;    /* newer vendor headers: server_index */
    unsigned int chassis_id;
    unsigned int super_pod_type;
    unsigned int reserve[6];
};

/* ------------------------------------------------------------------ */
/* Memory                                                              */
/* ------------------------------------------------------------------ */

struct dcmi_hbm_info {
    unsigned long long memory_size;  /* MB */
    unsigned int freq;               /* MHz */
    unsigned long long memory_usage; /* MB */
    int temp;
    unsigned int bandwith_util_rate; /* vendor spelling */
};

struct dcmi_get_memory_info_stru {
    unsigned long long memory_size;      /* MB */
    unsigned long long memory_available; /* MB, <= memory_size */
    unsigned int freq;
    unsigned long hugepagesize;          /* KB */
    unsigned long hugepages_total;
    unsigned long hugepages_free;
    unsigned int utiliza;                /* percent */
    unsigned char reserve[60];
};

struct dcmi_memory_info_stru {
    unsigned long long memory_size; /* MB */
    unsigned int freq;
    unsigned int utiliza;
};

/* ------------------------------------------------------------------ */
/* Network                                                             */
/* ------------------------------------------------------------------ */

/* ip4 overlays the first four bytes of ip6 */
union dcmi_ip_addr_union {
    unsigned char ip6[16];
    unsigned char ip4[4];
};

struct dcmi_ip_addr {
    union dcmi_ip_addr_union u_addr;
    enum dcmi_ip_addr_type ip_type; /* set by the caller: which family it asks for */
};

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

struct dcmi_ecc_info {
    int enable_flag;
    unsigned int single_bit_error_cnt;
    unsigned int double_bit_error_cnt;
    unsigned int total_single_bit_error_cnt;
    unsigned int total_double_bit_error_cnt;
    unsigned int single_bit_isolated_pages_cnt;
    unsigned int double_bit_isolated_pages_cnt;
    unsigned int single_bit_next_isolated_pages_cnt;
    unsigned int double_bit_next_isolated_pages_cnt;
};

struct dcmi_multi_utilization_info {
    unsigned int aic_util; /* each 0..100 */
    unsigned int aiv_util;
    unsigned int aicore_util;
    unsigned int npu_util;
    unsigned int reserved[DCMI_UTIL_RESERVED_LEN];
};

struct dcmi_proc_mem_info {
    int proc_id;
    unsigned long proc_mem_usage; /* bytes */
};

struct dcmi_pcie_link_bandwidth_info {
    int profiling_time; /* in: ms */
    unsigned int tx_p_bw[AGENTDRV_PROF_DATA_NUM]; /* [0] min, [1] max, [2] avg */
    unsigned int tx_np_bw[AGENTDRV_PROF_DATA_NUM];
    unsigned int tx_cpl_bw[AGENTDRV_PROF_DATA_NUM];
    unsigned int tx_np_lantency[AGENTDRV_PROF_DATA_NUM]; /* vendor spelling */
    unsigned int rx_p_bw[AGENTDRV_PROF_DATA_NUM];
    unsigned int rx_np_bw[AGENTDRV_PROF_DATA_NUM];
    unsigned int rx_cpl_bw[AGENTDRV_PROF_DATA_NUM];
};

struct dcmi_hccs_statistic_info {
    unsigned int tx_cnt[HCCS_MAX_PCS_NUM];
    unsigned int rx_cnt[HCCS_MAX_PCS_NUM];
    unsigned int crc_err_cnt[HCCS_MAX_PCS_NUM];
    unsigned int retry_cnt[HCCS_MAX_PCS_NUM];
    unsigned int reserved_field_cnt[HCCS_RES_PCS_NUM];
};

struct dcmi_hccs_statistic_info_u64 {
    unsigned long long tx_cnt[HCCS_MAX_PCS_NUM];
    unsigned long long rx_cnt[HCCS_MAX_PCS_NUM];
    unsigned long long crc_err_cnt[HCCS_MAX_PCS_NUM];
    unsigned long long retry_cnt[HCCS_MAX_PCS_NUM];
    unsigned long long reserved[HCCS_RES_PCS_NUM];
};

struct dcmi_hccs_bandwidth_info {
    int profiling_time; /* in: ms */
    double total_txbw;
    double total_rxbw;
    double tx_bandwidth[HCCS_MAX_PCS_NUM];
    double rx_bandwidth[HCCS_MAX_PCS_NUM];
};

struct dcmi_sio_crc_err_statistic_info {
    unsigned short tx_error_count;
    unsigned short rx_error_count;
    unsigned char reserved[8];
};

/* ------------------------------------------------------------------ */
/* Virtual NPUs (main command DCMI_MAIN_CMD_VDEV_MNG)                  */
/* ------------------------------------------------------------------ */

struct dcmi_base_resource {
    unsigned long long token;
    unsigned long long token_max;
    unsigned long long task_timeout;
    unsigned int vfg_id;
    unsigned char vip_mode;
    unsigned char reserved[DCMI_VDEV_FOR_RESERVE - 1];
};

struct dcmi_computing_resource {
    float aic; /* AI cores (of the vNPU, or of the whole chip for the total) */
    float aiv;
    unsigned short dsa;
    unsigned short rtsq;
    unsigned short acsq;
    unsigned short cdqm;
    unsigned short c_core;
    unsigned short ffts;
    unsigned short sdma;
    unsigned short pcie_dma;
    unsigned long long memory_size; /* MB */
    unsigned int event_id;
    unsigned int notify_id;
    unsigned int stream_id;
    unsigned int model_id;
    unsigned short topic_schedule_aicpu;
    unsigned short host_ctrl_cpu;
    unsigned short host_aicpu;
    unsigned short device_aicpu;
    unsigned short topic_ctrl_cpu_slot;
    unsigned int vdev_aicore_utilization;
    unsigned long long vdev_memory_total;
    unsigned long long vdev_memory_free;
    unsigned char reserved[DCMI_VDEV_FOR_RESERVE - DCMI_VDEV_SIZE];
};

struct dcmi_media_resource {
    float jpegd;
    float jpege;
    float vpc;
    float vdec;
    float pngd;
    float venc;
    unsigned char reserved[DCMI_VDEV_FOR_RESERVE];
};

/* input of dcmi_create_vdevice */
struct dcmi_create_vdev_res_stru {
    unsigned int vdev_id;                  /* 0xFFFFFFFF: the library chooses */
    unsigned int vfg_id;                   /* 0xFFFFFFFF: the library chooses */
    char template_name[TEMPLATE_NAME_LEN]; /* "vir02", "vir10_3c_32g", ... */
    unsigned char reserved[64];
};

/* output of dcmi_create_vdevice */
struct dcmi_create_vdev_out {
    unsigned int vdev_id; /* the new vNPU, >= 100 */
    unsigned int pcie_bus;
    unsigned int pcie_device;
    unsigned int pcie_func;
    unsigned int vfg_id;
    unsigned char reserved[DCMI_VDEV_FOR_RESERVE];
};

struct dcmi_vdev_query_info {
    char name[DCMI_VDEV_RES_NAME_LEN]; /* template name */
    unsigned int status;
    unsigned int is_container_used;
    unsigned int vfid;
    unsigned int vfg_id;
    unsigned long long container_id;
    struct dcmi_base_resource base;
    struct dcmi_computing_resource computing;
    struct dcmi_media_resource media;
};

/* buf of sub commands GET_VDEV_RESOURCE and GET_VDEV_ACTIVITY */
struct dcmi_vdev_query_stru {
    unsigned int vdev_id; /* in */
    struct dcmi_vdev_query_info query_info;
};

struct dcmi_soc_free_resource {
    unsigned int vfg_num;
    unsigned int vfg_bitmap;
    struct dcmi_base_resource base;
    struct dcmi_computing_resource computing;
    struct dcmi_media_resource media;
};

struct dcmi_soc_total_resource {
    unsigned int vdev_num; /* <= DCMI_SOC_SPLIT_MAX */
    unsigned int vdev_id[DCMI_SOC_SPLIT_MAX];
    unsigned int vfg_num;
    unsigned int vfg_bitmap;
    struct dcmi_base_resource base;
    struct dcmi_computing_resource computing; /* computing.aic: the chip's AI cores */
    struct dcmi_media_resource media;
};

/* ------------------------------------------------------------------ */
/* Fault events                                                        */
/* ------------------------------------------------------------------ */

struct dcmi_dms_fault_event {
    unsigned int event_id;  /* the fault code, e.g. 0x80E01801 */
    unsigned short deviceid; /* the chip's LOGIC id */
    unsigned char node_type;
    unsigned char node_id;
    unsigned char sub_node_type;
    unsigned char sub_node_id;
    unsigned char severity;  /* 0 warning, 1 minor, 2 major, 3 critical */
    unsigned char assertion; /* 0 recovered, 1 occurred, 2 one-off */
    int event_serial_num;
    int notify_serial_num;
    unsigned long long alarm_raised_time; /* ms since the epoch */
    char event_name[DCMI_MAX_EVENT_NAME_LENGTH];
    char additional_info[DCMI_MAX_EVENT_DATA_LENGTH];
    unsigned char resv[DCMI_MAX_EVENT_RESV_LENGTH];
};

union dcmi_event_union {
    struct dcmi_dms_fault_event dms_event;
};

struct dcmi_event {
    enum dcmi_event_type type;
    union dcmi_event_union event_t;
};

/* passed BY VALUE to dcmi_subscribe_fault_event; all zero = every event */
struct dcmi_event_filter {
    unsigned long long filter_flag;
    unsigned int event_id;
    unsigned char severity;
    unsigned char node_type;
    unsigned char resv[DCMI_MAX_EVENT_RESV_LENGTH];
};

/* called on a library thread; must copy the event out and return quickly */
typedef void (*dcmi_fault_event_callback)(struct dcmi_event *event);

/* ------------------------------------------------------------------ */
/* Functions                                                           */
/* ------------------------------------------------------------------ */

/* library */
int dcmi_init(void);
int dcmi_get_dcmi_version(char *dcmi_ver, unsigned int len);

/* discovery */
int dcmi_get_card_list(int *card_num, int *card_list, int list_len);
int dcmi_get_card_num_list(int *card_num, int *card_list, int list_len);
int dcmi_get_device_num_in_card(int card_id, int *device_num);
int dcmi_get_device_id_in_card(int card_id, int *device_id_max, int *mcu_id, int *cpu_id);
int dcmi_get_device_type(int card_id, int device_id, enum dcmi_unit_type *device_type);
int dcmi_get_device_logic_id(int *device_logic_id, int card_id, int device_id); /* output first */
int dcmi_get_device_phyid_from_logicid(unsigned int logicid, unsigned int *phyid);
int dcmi_get_device_logicid_from_phyid(unsigned int phyid, unsigned int *logicid);
int dcmi_get_card_id_device_id_from_logicid(int *card_id, int *device_id, unsigned int device_logic_id);
int dcmi_get_card_id_device_id_from_phyid(int *card_id, int *device_id, unsigned int device_phy_id);

/* identity */
int dcmi_get_device_chip_info(int card_id, int device_id, struct dcmi_chip_info *chip_info);
int dcmi_get_device_chip_info_v2(int card_id, int device_id, struct dcmi_chip_info_v2 *chip_info);
int dcmi_get_device_board_info(int card_id, int device_id, struct dcmi_board_info *board_info);
int dcmi_get_mainboard_id(int card_id, int device_id, unsigned int *mainboard_id);
int dcmi_get_product_type(int card_id, int device_id, char *product_type_str, int buf_size);
int dcmi_get_card_elabel_v2(int card_id, struct dcmi_elabel_info *elabel_info);
int dcmi_get_device_pcie_info_v2(int card_id, int device_id, struct dcmi_pcie_info_all *pcie_info);
int dcmi_get_device_die_v2(int card_id, int device_id, enum dcmi_die_type input_type,
                           struct dcmi_die_id *die_id);

/* health */
int dcmi_get_device_health(int card_id, int device_id, unsigned int *health);
int dcmi_get_device_errorcode_v2(int card_id, int device_id, int *error_count,
                                 unsigned int *error_code_list, unsigned int list_len);
int dcmi_get_device_errorcode(int card_id, int device_id, int *error_count,
                              unsigned int *error_code, int *error_width);
int dcmi_get_device_errorcode_string(int card_id, int device_id, unsigned int error_code,
                                     unsigned char *error_info, int buf_size);
int dcmi_get_device_network_health(int card_id, int device_id,
                                   enum dcmi_rdfx_detect_result *result);
int dcmi_get_device_boot_status(int card_id, int device_id, enum dcmi_boot_status *boot_status);
int dcmi_subscribe_fault_event(int card_id, int device_id, struct dcmi_event_filter filter,
                               dcmi_fault_event_callback handler); /* -1, -1: every chip */

/* network */
int dcmi_get_device_ip(int card_id, int device_id, enum dcmi_port_type input_type, int port_id,
                       struct dcmi_ip_addr *ip, struct dcmi_ip_addr *mask);
int dcmi_get_netdev_brother_device(int card_id, int device_id, int *brother_card_id);

/* sensors and utilisation */
int dcmi_get_device_temperature(int card_id, int device_id, int *temperature); /* deg C */
int dcmi_get_device_voltage(int card_id, int device_id, unsigned int *voltage); /* 0.01 V */
int dcmi_get_device_power_info(int card_id, int device_id, int *power);         /* 0.1 W */
int dcmi_mcu_get_power_info(int card_id, int *power);                           /* 0.1 W */
int dcmi_get_device_frequency(int card_id, int device_id, enum dcmi_freq_type input_type,
                              unsigned int *frequency); /* MHz */
int dcmi_get_device_utilization_rate(int card_id, int device_id, int input_type,
                                     unsigned int *utilization_rate);
int dcmi_get_device_multi_utilization_rate(int card_id, int device_id,
                                           struct dcmi_multi_utilization_info *util_info);
int dcmi_get_device_multi_utilization_rate_period(int card_id, int device_id,
                                                  struct dcmi_multi_utilization_info *util_info,
                                                  int period);
int dcmi_get_device_ecc_info(int card_id, int device_id, enum dcmi_device_type input_type,
                             struct dcmi_ecc_info *device_ecc_info);
int dcmi_get_device_resource_info(int card_id, int device_id, struct dcmi_proc_mem_info *proc_info,
                                  int *proc_num);
int dcmi_get_pcie_link_bandwidth_info(int card_id, int device_id,
                                      struct dcmi_pcie_link_bandwidth_info *info);
int dcmi_get_hccs_link_bandwidth_info(int card_id, int device_id,
                                      struct dcmi_hccs_bandwidth_info *info);
int dcmi_get_affinity_cpu_info_by_device_id(int card_id, int device_id, char *affinity_cpu,
                                            int *length);

/* memory */
int dcmi_get_device_memory_info_v3(int card_id, int device_id,
                                   struct dcmi_get_memory_info_stru *memory_info);
int dcmi_get_memory_info(int card_id, int device_id, struct dcmi_memory_info_stru *device_memory_info);
int dcmi_get_device_hbm_info(int card_id, int device_id, struct dcmi_hbm_info *hbm_info);

/* generic query (main/sub command; *size = sizeof the struct on input) */
int dcmi_get_device_info(int card_id, int device_id, enum dcmi_main_cmd main_cmd,
                         unsigned int sub_cmd, void *buf, unsigned int *size);

/* virtual NPUs and sharing */
int dcmi_create_vdevice(int card_id, int device_id, struct dcmi_create_vdev_res_stru *vdev,
                        struct dcmi_create_vdev_out *out);
int dcmi_set_destroy_vdevice(int card_id, int device_id, unsigned int vdevid);
int dcmi_get_device_share_enable(int card_id, int device_id, int *enable_flag);
int dcmi_get_npu_work_mode(int card_id, unsigned char *work_mode); /* 0 AMP, else SMP */

/* reset */
int dcmi_set_device_reset(int card_id, int device_id, enum dcmi_reset_channel channel_type);
int dcmi_get_device_outband_channel_state(int card_id, int device_id, int *channel_state);
int dcmi_pre_reset_soc(int card_id, int device_id);
int dcmi_rescan_soc(int card_id, int device_id);

/* multi-die and super-pod */
int dcmi_get_multi_die_policy(enum dcmi_multi_die_policy *policy);
int dcmi_set_multi_die_policy(enum dcmi_multi_die_policy policy);
int dcmi_get_spod_node_status(int card_id, int device_id, unsigned int sdid, unsigned int *status);
int dcmi_set_spod_node_status(int card_id, int device_id, unsigned int sdid, unsigned int status);

/* ------------------------------------------------------------------ */
/* The v2 API (Ascend 950 / A5 drivers)                                */
/* ------------------------------------------------------------------ */
/*
 * Chips are addressed by their logic id (dev_id) alone: there is no card.
 * A driver chooses one API: on an A5 node dcmi_init fails and dcmiv2_init
 * succeeds. v2 adds no struct of its own: every struct below is the v1 one.
 * A v1-only library exports none of these; consumers resolve them one by
 * one and treat a missing symbol as "no v2".
 */
int dcmiv2_init(void);
int dcmiv2_get_dcmi_version(char *dcmi_ver, int buf_size);
int dcmiv2_get_device_list(int *device_list, int *device_num, int list_len); /* logic ids */
int dcmiv2_get_all_device_count(int *all_device_count);
int dcmiv2_get_chip_phy_id_by_dev_id(unsigned int dev_id, unsigned int *phyid);
int dcmiv2_get_dev_id_by_chip_phy_id(unsigned int phyid, unsigned int *dev_id);
int dcmiv2_get_device_type(int dev_id, enum dcmi_unit_type *device_type);
int dcmiv2_get_device_chip_info(int dev_id, struct dcmi_chip_info_v2 *chip_info);
int dcmiv2_get_device_board_info(int dev_id, struct dcmi_board_info *board_info);
int dcmiv2_get_mainboard_id(int dev_id, unsigned int *mainboard_id);
int dcmiv2_get_device_pcie_info(int dev_id, struct dcmi_pcie_info_all *pcie_info);
int dcmiv2_get_device_die_id(int dev_id, enum dcmi_die_type input_type, struct dcmi_die_id *die_id);
int dcmiv2_get_device_hbm_info(int dev_id, struct dcmi_hbm_info *hbm_info);
int dcmiv2_get_device_info(int dev_id, enum dcmi_main_cmd main_cmd, unsigned int sub_cmd,
                           void *buf, unsigned int *size);
int dcmiv2_get_device_health(int dev_id, unsigned int *health);
int dcmiv2_get_device_error_code_list(int dev_id, int *error_count,
                                      unsigned int *error_code_list, unsigned int list_len);
int dcmiv2_get_device_network_health(int dev_id, enum dcmi_rdfx_detect_result *result);
/* dev_id -1: every chip. The vendor's header and its function-pointer type
 * disagree on the handler argument; the call the Go plugin makes (and this
 * header declares) passes it third, as dcmi_subscribe_fault_event does. */
int dcmiv2_subscribe_fault_event(int dev_id, struct dcmi_event_filter filter,
                                 dcmi_fault_event_callback handler);
int dcmiv2_reset_device(int dev_id, enum dcmi_reset_channel channel_type);
int dcmiv2_get_device_outband_channel_state(int dev_id, int *channel_state);
int dcmiv2_pre_reset_device(int dev_id);
int dcmiv2_rescan_device(int dev_id);
int dcmiv2_get_device_boot_status(int dev_id, enum dcmi_boot_status *boot_status);
int dcmiv2_get_device_proc_mem_info(int dev_id, struct dcmi_proc_mem_info *proc_info,
                                    int *proc_num); /* proc_info holds 32 entries */

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_DCMI_H */
