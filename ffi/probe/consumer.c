/*
 * A minimal C consumer of libdcmi.so written against ffi/dcmi.h: dlopen the
 * library given as argv[1], dcmi_init, then list every chip. Used by
 * ffi/sim/tests/c_consumer.rs to prove the simulator works for C callers
 * through the project's header exactly like the real driver.
 *
 * Output: "init <rc>", then per chip
 *   "chip card=<c> dev=<d> logic=<l> phy=<p> name=<chip_name> aicore=<n>".
 * When dcmi_init is not supported (an Ascend 950 driver), the v2 API instead:
 * "init-v2 <rc>", then per chip
 *   "chip-v2 logic=<l> phy=<p> name=<chip_name> aicore=<n> ddie=<hex>".
 * Exit: 0 ok, 1 a DCMI call failed, 3 dlopen/dlsym failed.
 */
#include <dlfcn.h>
#include <stdio.h>

#include "../dcmi.h"

#define LOAD(lib, name, var)                                                   \
    do {                                                                       \
        *(void **)(&(var)) = dlsym((lib), #name);                              \
        if ((var) == NULL) {                                                   \
            fprintf(stderr, "dlsym %s: %s\n", #name, dlerror());             \
            return 3;                                                          \
        }                                                                      \
    } while (0)

/* Discovery through the v2 API: chips by logic id, no cards. */
static int list_v2(void *lib)
{
    __typeof__(&dcmiv2_init) init;
    __typeof__(&dcmiv2_get_device_list) get_device_list;
    __typeof__(&dcmiv2_get_all_device_count) get_all_device_count;
    __typeof__(&dcmiv2_get_chip_phy_id_by_dev_id) get_phy_id;
    __typeof__(&dcmiv2_get_device_chip_info) get_chip_info;
    __typeof__(&dcmiv2_get_device_die_id) get_die_id;
    int ids[256];
    int num = 0, total = 0;
    int rc;

    LOAD(lib, dcmiv2_init, init);
    LOAD(lib, dcmiv2_get_device_list, get_device_list);
    LOAD(lib, dcmiv2_get_all_device_count, get_all_device_count);
    LOAD(lib, dcmiv2_get_chip_phy_id_by_dev_id, get_phy_id);
    LOAD(lib, dcmiv2_get_device_chip_info, get_chip_info);
    LOAD(lib, dcmiv2_get_device_die_id, get_die_id);
    rc = init();
    printf("init-v2 %d\n", rc);
    if (rc != DCMI_OK)
        return 1;
    if (get_device_list(ids, &num, 256) != DCMI_OK || num < 0 || num > 256 ||
        get_all_device_count(&total) != DCMI_OK || total != num)
        return 1;
    for (int i = 0; i < num; i++) {
        unsigned int phy = 0;
        struct dcmi_chip_info_v2 info;
        struct dcmi_die_id die;
        if (get_phy_id((unsigned int)ids[i], &phy) != DCMI_OK ||
            get_chip_info(ids[i], &info) != DCMI_OK || get_die_id(ids[i], DDIE, &die) != DCMI_OK)
            return 1;
        info.chip_name[MAX_CHIP_NAME_LEN - 1] = '\0';
        printf("chip-v2 logic=%d phy=%u name=%s aicore=%u ddie=%08x\n", ids[i], phy,
               (const char *)info.chip_name, info.aicore_cnt, die.soc_die[0]);
    }
    dlclose(lib);
    return 0;
}

int main(int argc, char **argv)
{
    __typeof__(&dcmi_init) init;
    __typeof__(&dcmi_get_card_list) get_card_list;
    __typeof__(&dcmi_get_device_num_in_card) get_device_num_in_card;
    __typeof__(&dcmi_get_device_logic_id) get_device_logic_id;
    __typeof__(&dcmi_get_device_phyid_from_logicid) get_phyid_from_logicid;
    __typeof__(&dcmi_get_device_chip_info_v2) get_chip_info_v2;
    int cards[MAX_CARD_NUM];
    int card_num = 0;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s LIBRARY\n", argv[0]);
        return 3;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 3;
    }
    LOAD(lib, dcmi_init, init);
    LOAD(lib, dcmi_get_card_list, get_card_list);
    LOAD(lib, dcmi_get_device_num_in_card, get_device_num_in_card);
    LOAD(lib, dcmi_get_device_logic_id, get_device_logic_id);
    LOAD(lib, dcmi_get_device_phyid_from_logicid, get_phyid_from_logicid);
    LOAD(lib, dcmi_get_device_chip_info_v2, get_chip_info_v2);

    rc = init();
    printf("init %d\n", rc);
    if (rc == DCMI_ERR_CODE_NOT_SUPPORT)
        return list_v2(lib);
    if (rc != DCMI_OK)
        return 1;
    rc = get_card_list(&card_num, cards, MAX_CARD_NUM);
    if (rc != DCMI_OK || card_num < 0 || card_num > MAX_CARD_NUM)
        return 1;
    for (int i = 0; i < card_num; i++) {
        int devices = 0;
        if (get_device_num_in_card(cards[i], &devices) != DCMI_OK)
            return 1;
        for (int dev = 0; dev < devices; dev++) {
            int logic = -1;
            unsigned int phy = 0;
            struct dcmi_chip_info_v2 info;
            if (get_device_logic_id(&logic, cards[i], dev) != DCMI_OK ||
                get_phyid_from_logicid((unsigned int)logic, &phy) != DCMI_OK ||
                get_chip_info_v2(cards[i], dev, &info) != DCMI_OK)
                return 1;
            info.chip_name[MAX_CHIP_NAME_LEN - 1] = '\0';
            printf("chip card=%d dev=%d logic=%d phy=%u name=%s aicore=%u\n", cards[i], dev, logic, phy,
                   (const char *)info.chip_name, info.aicore_cnt);
        }
    }
    dlclose(lib);
    return 0;
}
