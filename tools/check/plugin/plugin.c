/*
 * cmodx-check — QEMU TCG plugin entry points (qemu-user, QEMU >= 9.0).
 *
 * Instrumentation, chosen to keep plain code at near-native emulation
 * speed:
 *  - every store gets a memory callback whose first action is a lock-free
 *    bitmap test of the target page (the API has no address filter);
 *  - cache-maintenance instructions (DC/IC with their address register,
 *    DSB, ISB, fence.i, the ARM/RISC-V private syscalls) get an execution
 *    callback; they are rare;
 *  - only instructions on pages that may hold written code (shared or
 *    anonymous mappings, or pages already written) are checked, with one
 *    callback per translation block that holds any.
 * Plugin arguments: arch-independent key=value pairs set by the wrapper
 * (ctr=, log=, json=, status=, maxprint=).
 */
#include <glib.h>
#include <qemu-plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "maps.h"
#include "model.h"
#include "report.h"
#include "stacks.h"
#include "stores.h"
#include "syscall.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static struct report_out out = { .max_print = 200 };
static uint64_t ctr = 0x80038003;
static uint16_t nlabels;
static uint64_t writes_tracked;
static uint64_t checked[MAX_VCPUS];
static struct qemu_plugin_register *reg_handle[32];   /* x0..x30 / r0..r7 / a0..a7 */

enum maint { M_DC = 1, M_IC, M_IC_ALL, M_DSB, M_CSYNC, M_LOCAL_FLUSH, M_SVC };

/* One instrumented instruction in a page that may hold written code. */
struct xinsn {
    uint64_t vaddr;
    const uint8_t *haddr;
    struct bpage *bp;
    uint8_t size;
    uint8_t bytes[4];
};

/*
 * The checked instructions of one translation block, checked together when
 * the block starts: one callback per block rather than per instruction.  A
 * block is straight-line code (an ISB or a branch ends it), so its
 * instructions run after the same maintenance and synchronisation.
 */
struct xtb {
    size_t n;
    struct xinsn x[];
};

struct vcpu *cur(unsigned idx)
{
    return &vcpus[idx < MAX_VCPUS ? idx : MAX_VCPUS - 1];
}

/* ---- register access ---- */

uint64_t read_reg(unsigned r)
{
    if (r >= 32 || !reg_handle[r]) {
        return 0;   /* XZR, or a register the target does not expose */
    }
    GByteArray *buf = g_byte_array_new();
    int n = qemu_plugin_read_register(reg_handle[r], buf);
    uint64_t v = 0;
    if (n > 0) {
        memcpy(&v, buf->data, (size_t)n < sizeof(v) ? (size_t)n : sizeof(v));
    }
    g_byte_array_free(buf, TRUE);
    return v;
}

static void find_registers(void)
{
    char prefix = cfg.arch == ARCH_AARCH64 ? 'x' : cfg.arch == ARCH_ARM ? 'r' : 'a';
    unsigned limit = cfg.arch == ARCH_RISCV64 ? 8 : 31;
    GArray *regs = qemu_plugin_get_registers();
    for (guint i = 0; i < regs->len; i++) {
        qemu_plugin_reg_descriptor *d = &g_array_index(regs, qemu_plugin_reg_descriptor, i);
        unsigned n;
        char tail;
        if (d->name[0] == prefix && sscanf(d->name + 1, "%u%c", &n, &tail) == 1 && n < limit) {
            reg_handle[n] = d->handle;
        }
    }
    g_array_free(regs, TRUE);
}

/* ---- threads ---- */

static void vcpu_init(qemu_plugin_id_t id, unsigned int idx)
{
    (void)id;
    pthread_mutex_lock(&model_lock);
    if (!reg_handle[0]) {
        find_registers();
    }
    struct vcpu *v = cur(idx);
    v->live = true;
    /* Labels name threads in reports; past 65535 threads they stop being
     * unique (0 reads "an unknown thread"). */
    v->label = nlabels < UINT16_MAX ? ++nlabels : 0;
    v->tid = (int)syscall(SYS_gettid);
    v->nwait = 0;
    label_tid[v->label] = v->tid;
    /* A new thread starts after an exception return: context synchronised. */
    model_csync(v);
    pthread_mutex_unlock(&model_lock);
}

static void vcpu_exit(qemu_plugin_id_t id, unsigned int idx)
{
    (void)id;
    cur(idx)->live = false;
}

/* ---- execution of instructions from possibly written pages ---- */

/*
 * Memory no longer holds the translated bytes.  That is a hazard of its
 * own only when the hardware would have had to show the new bytes: the
 * model finds every written word of the instruction settled for v.
 */
static bool settled(struct vcpu *v, const struct xinsn *x, unsigned first, unsigned last)
{
    const struct word *w = x->bp->words;
    for (unsigned wi = first; w && wi <= last; wi++) {
        if (model_check_word(v, x->bp, wi) != K_COUNT ||
            (w[wi].exempt && w[wi].stage != ST_NONE &&
             model_check_word_ignoring_exempt(v, x->bp, wi) != K_COUNT)) {
            return false;
        }
    }
    return true;
}

/*
 * Another thread's store reaches memory before its callback updates the
 * model: while the model's copy of the bytes still equals the translated
 * ones, the difference is that store, not a stale translation.
 */
static bool store_in_flight(const struct xinsn *x)
{
    unsigned off = (unsigned)(x->vaddr & (PAGE_SIZE - 1));
    return x->bp->shadow && off + x->size <= PAGE_SIZE &&
           memcmp(x->bp->shadow + off, x->bytes, x->size) == 0;
}

static void check_one(struct vcpu *v, const struct xinsn *x)
{
    bool stale = x->haddr && memcmp(x->haddr, x->bytes, x->size) != 0;
    if (!stale && (!__atomic_load_n(&x->bp->words, __ATOMIC_ACQUIRE) ||
                   model_page_quiet(v, x->bp))) {
        return;   /* the fast path: nothing written here awaits v */
    }
    uint32_t insn = 0, mem = 0;
    memcpy(&insn, x->bytes, x->size);
    unsigned first = (unsigned)((x->vaddr & (PAGE_SIZE - 1)) / 4);
    unsigned last = (unsigned)(((x->vaddr + x->size - 1) & (PAGE_SIZE - 1)) / 4);
    if (last < first) {
        last = first;   /* crosses into the next page: check the first part */
    }
    pthread_mutex_lock(&model_lock);
    bool hazard = false;
    for (unsigned wi = first; x->bp->words && wi <= last; wi++) {
        enum kind k = model_check_word(v, x->bp, wi);
        if (k != K_COUNT) {
            const struct word *w = &x->bp->words[wi];
            report_add(k, v, x->vaddr, insn, 0, w->writer, w->store_pc);
            hazard = true;
            break;
        }
    }
    if (stale && !hazard && settled(v, x, first, last) && !store_in_flight(x)) {
        memcpy(&mem, x->haddr, x->size);
        report_add(K_STALE_TRANSLATION, v, x->vaddr, insn, mem, 0, 0);
    }
    pthread_mutex_unlock(&model_lock);
}

static void check_tb(unsigned int idx, void *ud)
{
    const struct xtb *t = ud;
    struct vcpu *v = cur(idx);
    checked[idx < MAX_VCPUS ? idx : MAX_VCPUS - 1] += t->n;
    for (size_t k = 0; k < t->n; k++) {
        check_one(v, &t->x[k]);
    }
}

/* ---- stores ---- */

static void on_store(unsigned int idx, qemu_plugin_meminfo_t info, uint64_t va, void *ud)
{
    if (!qemu_plugin_mem_is_store(info) || !page_tracked(va)) {
        return;   /* the fast path: not a page that holds or may hold code */
    }
    unsigned size = 1u << qemu_plugin_mem_size_shift(info);
    qemu_plugin_mem_value val = qemu_plugin_mem_get_value(info);
    uint8_t bytes[16];
    memcpy(bytes, &val.data, size <= 16 ? size : 16);
    pthread_mutex_lock(&model_lock);
    if (page_tracked(va)) {
        stacks_note_store((uint64_t)(uintptr_t)ud);
        model_store(cur(idx), va, size <= 16 ? size : 16, bytes, (uint64_t)(uintptr_t)ud);
        writes_tracked++;
    }
    pthread_mutex_unlock(&model_lock);
}

/* ---- maintenance instructions ---- */

static void on_maint(unsigned int idx, void *ud)
{
    uintptr_t u = (uintptr_t)ud;
    enum maint m = (enum maint)(u & 0xff);
    unsigned rt = (unsigned)(u >> 8);
    struct vcpu *v = cur(idx);
    uint64_t addr = (m == M_DC || m == M_IC) ? read_reg(rt) : 0;
    /* Linux runs AArch64 user space with top-byte-ignore: a tagged
     * pointer names the same line. */
    addr &= 0x00ffffffffffffffull;
    pthread_mutex_lock(&model_lock);
    switch (m) {
    case M_DC: model_dc(v, addr); break;
    case M_IC: model_ic(v, addr); break;
    case M_IC_ALL: model_ic_all(v); break;
    case M_DSB: model_dsb(v); break;
    case M_CSYNC: model_csync(v); break;
    case M_LOCAL_FLUSH: sys_fence_i(v, idx); break;
    case M_SVC: sys_private_call(v); break;
    }
    pthread_mutex_unlock(&model_lock);
}

/* Decode the instructions the model cares about; 0 if none. */
static uintptr_t decode_a64(uint32_t i)
{
    if ((i & 0xfff80000u) == 0xd5080000u) {   /* SYS: DC / IC */
        unsigned op1 = (i >> 16) & 7, crn = (i >> 12) & 15, crm = (i >> 8) & 15;
        unsigned op2 = (i >> 5) & 7, rt = i & 31;
        if (op1 == 3 && crn == 7 && op2 == 1 && crm >= 10 && crm <= 14) {
            return M_DC | (uintptr_t)rt << 8;   /* CVAC CVAU CVAP CVADP CIVAC */
        }
        if (op1 == 3 && crn == 7 && crm == 5 && op2 == 1) {
            return M_IC | (uintptr_t)rt << 8;   /* IC IVAU */
        }
        if (op1 == 0 && crn == 7 && (crm == 1 || crm == 5) && op2 == 0) {
            return M_IC_ALL;                    /* IC IALLUIS, IC IALLU */
        }
        return 0;
    }
    if ((i & 0xfffff0ffu) == 0xd503309fu) {   /* DSB <option> */
        unsigned crm = (i >> 8) & 15;
        /* SSBB/PSSBB (0, 4) are not DSBs; load-only DSBs do not wait for
         * maintenance. */
        return (crm == 0 || crm == 4 || (crm & 3) == 1) ? 0 : M_DSB;
    }
    if ((i & 0xfffff0ffu) == 0xd50330dfu) {
        return M_CSYNC;                         /* ISB */
    }
    return 0;
}

static uintptr_t decode_arm(uint32_t i, size_t size)
{
    if (size == 4 && (i & 0xfffffff0u) == 0xf57ff060u) {
        return M_CSYNC;                         /* A32 ISB */
    }
    if (size == 4 && (i & 0xfff0ffffu) == 0x8f60f3bfu) {
        return M_CSYNC;                         /* T32 ISB */
    }
    if ((size == 4 && (i & 0x0f000000u) == 0x0f000000u && (i >> 28) != 0xf) ||
        (size == 2 && (i & 0xff00u) == 0xdf00u)) {
        return M_SVC;                           /* A32 / T16 SVC */
    }
    return 0;
}

static uintptr_t decode_riscv(uint32_t i, size_t size)
{
    if (size == 4 && (i & 0x707fu) == 0x100fu) {
        return M_LOCAL_FLUSH;                   /* fence.i */
    }
    if (size == 4 && i == 0x00000073u) {
        return M_SVC;                           /* ecall */
    }
    return 0;
}

static uintptr_t decode(uint32_t i, size_t size)
{
    switch (cfg.arch) {
    case ARCH_AARCH64: return size == 4 ? decode_a64(i) : 0;
    case ARCH_ARM: return decode_arm(i, size);
    default: return decode_riscv(i, size);
    }
}

/* Add insn to the block's checks if its page may hold written code. */
static void maybe_check(struct xtb *t, struct qemu_plugin_insn *insn, uint64_t va,
                        const uint8_t *bytes, size_t size)
{
    struct map *m = map_find(va);
    bool cand = m && (m->kind == MK_SHARED || m->kind == MK_ANON) && !m->stack;
    struct bpage *bp = bpage_get(va, cand);
    if (!cand && !(bp && bp->words)) {
        return;
    }
    struct xinsn *x = &t->x[t->n++];
    x->vaddr = va;
    x->haddr = qemu_plugin_insn_haddr(insn);
    x->bp = bp;
    x->size = (uint8_t)(size < 4 ? size : 4);
    memcpy(x->bytes, bytes, x->size);
}

/* DC/IC read their address register, SVC/ECALL their syscall registers. */
static enum qemu_plugin_cb_flags maint_flags(uintptr_t m)
{
    enum maint k = (enum maint)(m & 0xff);
    return (k == M_DC || k == M_IC || k == M_SVC) ? QEMU_PLUGIN_CB_R_REGS
                                                  : QEMU_PLUGIN_CB_NO_REGS;
}

static void instrument(struct xtb *t, struct qemu_plugin_insn *insn)
{
    uint64_t va = qemu_plugin_insn_vaddr(insn);
    uint8_t bytes[4] = { 0 };
    size_t size = qemu_plugin_insn_data(insn, bytes, sizeof(bytes));
    uint32_t i;
    memcpy(&i, bytes, 4);
    if (!guest_base_known && qemu_plugin_insn_haddr(insn)) {
        /* qemu-user: guest memory is host memory at guest_base. */
        guest_base = (int64_t)((uintptr_t)qemu_plugin_insn_haddr(insn) - va);
        guest_base_known = true;
    }
    uintptr_t m = decode(i, size);
    if (m) {
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_maint, maint_flags(m), (void *)m);
    }
    /* Signal delivery is an exception entry: context synchronising (not on
     * RISC-V, where only fence.i reaches the fetch path). */
    if (cfg.arch != ARCH_RISCV64 && sys_nhandlers() && sys_is_handler(va)) {
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_maint, QEMU_PLUGIN_CB_NO_REGS,
                                               (void *)(uintptr_t)M_CSYNC);
    }
    qemu_plugin_register_vcpu_mem_cb(insn, on_store, QEMU_PLUGIN_CB_NO_REGS,
                                     QEMU_PLUGIN_MEM_W, (void *)(uintptr_t)va);
    stores_instrument(insn, va, i, size);   /* stores without memory callbacks */
    maybe_check(t, insn, va, bytes, size);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    struct xtb *t = calloc(1, sizeof(*t) + n * sizeof(t->x[0]));
    sys_instrument_tb(tb);   /* process start, vDSO entry points */
    pthread_mutex_lock(&model_lock);
    for (size_t k = 0; k < n; k++) {
        instrument(t, qemu_plugin_tb_get_insn(tb, k));
    }
    pthread_mutex_unlock(&model_lock);
    if (t->n) {
        /* Kept for the life of the translation (the API has no hook for
         * its end); small, and only for blocks of written code. */
        qemu_plugin_register_vcpu_tb_exec_cb(tb, check_tb, QEMU_PLUGIN_CB_NO_REGS, t);
    } else {
        free(t);
    }
}

/* ---- setup and exit ---- */

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    uint64_t total = 0;
    for (unsigned k = 0; k < MAX_VCPUS; k++) {
        total += checked[k];
    }
    pthread_mutex_lock(&model_lock);
    report_write(&out, total, writes_tracked);
    pthread_mutex_unlock(&model_lock);
}

static int parse_arg(const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq) {
        return -1;
    }
    size_t n = (size_t)(eq - arg);
    const char *val = eq + 1;
    if (n == 3 && strncmp(arg, "ctr", 3) == 0) {
        ctr = strtoull(val, NULL, 0);
    } else if (n == 3 && strncmp(arg, "log", 3) == 0) {
        out.log_path = strdup(val);
    } else if (n == 4 && strncmp(arg, "json", 4) == 0) {
        out.json_path = strdup(val);
    } else if (n == 6 && strncmp(arg, "status", 6) == 0) {
        out.status_path = strdup(val);
    } else if (n == 8 && strncmp(arg, "maxprint", 8) == 0) {
        out.max_print = strtoull(val, NULL, 0);
    } else if (n == 4 && strncmp(arg, "supp", 4) == 0) {
        return report_load_suppressions(val);
    } else if (n == 5 && strncmp(arg, "dczva", 5) == 0) {
        stores_dczva_bytes = (unsigned)strtoul(val, NULL, 0);
        if (stores_dczva_bytes < 4 || (stores_dczva_bytes & (stores_dczva_bytes - 1))) {
            return -1;   /* DCZID_EL0 gives a power of two */
        }
    } else {
        return -1;
    }
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    if (info->system_emulation) {
        fprintf(stderr, "cmodx-check: the plugin works with qemu-user only\n");
        return -1;
    }
    out.arch = info->target_name;
    if (!sys_set_arch(info->target_name)) {
        fprintf(stderr, "cmodx-check: unsupported target %s\n", info->target_name);
        return -1;
    }
    for (int k = 0; k < argc; k++) {
        if (parse_arg(argv[k]) != 0) {
            fprintf(stderr, "cmodx-check: bad plugin argument '%s'\n", argv[k]);
            return -1;
        }
    }
    /* CTR_EL0: IDC bit 28, DIC bit 29, DminLine 19:16, IminLine 3:0
     * (log2 of words).  ARMv7 and RISC-V maintenance is by range. */
    cfg.idc = (ctr >> 28) & 1;
    cfg.dic = (ctr >> 29) & 1;
    cfg.dline = 4u << ((ctr >> 16) & 15);
    cfg.iline = 4u << (ctr & 15);
    out.ctr = ctr;
    out.idc = cfg.idc;
    out.first_pid = getpid();
    qemu_plugin_register_vcpu_init_cb(id, vcpu_init);
    qemu_plugin_register_vcpu_exit_cb(id, vcpu_exit);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    sys_register(id);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
