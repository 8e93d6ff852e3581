/*
 * floor.c — a qemu plugin that does nothing but what any model of the
 * reads-from of ordinary loads must have qemu do: call back on every
 * memory access.  measure-overhead.sh -f MODE measures it as it measures
 * the checker, so the checker's cost can be read against the cost of its
 * callbacks alone (docs/CHECKER.md, Overhead).  qemu's plugin API has no
 * conditional memory callback (an inline test cannot guard one), so these
 * are paid in full whatever the callback does.
 *
 *   mode=stores   a callback on every store (the checker's one-thread mode)
 *   mode=loads    a callback on every load and store
 *   mode=values   the same, and each asks qemu for the value accessed
 *                 (qemu_plugin_mem_get_value), as a load whose slot does
 *                 not decide it must
 */
#include <glib.h>
#include <qemu-plugin.h>
#include <stdint.h>
#include <string.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static enum { STORES, LOADS, VALUES } mode = LOADS;
static uint64_t sink[1024];   /* per vcpu slot: keeps the values used */

static void on_access(unsigned int idx, qemu_plugin_meminfo_t info, uint64_t va, void *ud)
{
    (void)va;
    (void)ud;
    if (mode == VALUES) {
        qemu_plugin_mem_value v = qemu_plugin_mem_get_value(info);
        sink[idx % 1024] += v.data.u64;
    }
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    enum qemu_plugin_mem_rw rw = mode == STORES ? QEMU_PLUGIN_MEM_W : QEMU_PLUGIN_MEM_RW;
    for (size_t i = 0; i < n; i++) {
        qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i), on_access,
                                         QEMU_PLUGIN_CB_NO_REGS, rw, NULL);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "mode=stores") == 0) {
            mode = STORES;
        } else if (strcmp(argv[i], "mode=loads") == 0) {
            mode = LOADS;
        } else if (strcmp(argv[i], "mode=values") == 0) {
            mode = VALUES;
        } else if (strncmp(argv[i], "log=", 4) != 0) {   /* the checker's, ignored */
            return -1;   /* qemu says the plugin failed to load */
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    return 0;
}
