/*
 * cmodx-check — what the kernel does for the guest.
 *
 * Under qemu-user the guest's system calls are the host's: the plugin sees
 * each one before and after it runs (syscall callbacks) and keeps the
 * mappings (maps.c) and the model (model.c) in step with what Linux would
 * have done, which is not always what qemu does:
 *  - ARM's cacheflush and RISC-V's riscv_flush_icache are handled by qemu's
 *    CPU loop (no syscall callback) and always "succeed"; they are read at
 *    the SVC/ECALL instruction and their arguments are validated as Linux
 *    validates them (an EINVAL call flushes nothing);
 *  - qemu's vDSO turns clock_gettime and friends into real system calls,
 *    whose exception return would count as a context synchronisation; on
 *    Linux they run in user space and synchronise nothing.  RISC-V's
 *    __vdso_flush_icache is "return 0" in qemu and the riscv_flush_icache
 *    system call on Linux (glibc's __riscv_flush_icache and so
 *    __builtin___clear_cache go through it);
 *  - data the kernel copies into user memory (read, pread, readv, preadv,
 *    recv*, process_vm_readv) is a store into those buffers, made through
 *    the data side like any other store;
 *  - on ARM (a 32-bit guest) every address and return value is 32 bits.
 */
#include <glib.h>
#include <qemu-plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gate.h"
#include "maps.h"
#include "xproc.h"
#include "model.h"
#include "report.h"
#include "symbols.h"
#include "syscall.h"

#define MAX_HANDLERS 128
static uint64_t handlers[MAX_HANDLERS];   /* signal handler entry points */
static unsigned nhandlers;

/* Syscall numbers of the three guests (asm-generic for aarch64/riscv64);
 * -1 where the guest has no such call. */
struct sysnums {
    int64_t mmap, mprotect, munmap, mremap, membarrier, rt_sigaction, write, pwrite;
    int64_t writev, pwritev, pwritev2, sendfile, sendfile64, splice, copy_file_range,
        vmsplice, msgrcv;
    int64_t read, readv, pread, preadv, preadv2, recv, recvfrom, recvmsg, recvmmsg,
        recvmmsg64, process_vm_readv, brk, prctl, shmat, shmdt;
    int64_t pkey_mprotect, truncate, ftruncate, truncate64, ftruncate64, madvise;
    unsigned mmap_shift;   /* ARM's mmap2 counts the offset in 4 KiB units */
};
static struct sysnums sn;

/* The guest's word: ARM is a 32-bit guest on a 64-bit host. */
static uint64_t gword(uint64_t x)
{
    return cfg.arch == ARCH_ARM ? (x & 0xffffffffu) : x;
}

/* A syscall result as the guest sees it (qemu hands a sign-extended abi_long). */
static int64_t gret(int64_t r)
{
    return cfg.arch == ARCH_ARM ? (int64_t)(int32_t)r : r;
}

/* Linux returns -4095..-1 for errors; anything else is a value. */
static bool gret_ok(int64_t r)
{
    return r >= 0 || r < -4095;
}

bool sys_set_arch(const char *target)
{
    if (strcmp(target, "aarch64") == 0 || strcmp(target, "riscv64") == 0) {
        cfg.arch = target[0] == 'a' ? ARCH_AARCH64 : ARCH_RISCV64;
        sn = (struct sysnums){ .mmap = 222, .mprotect = 226, .munmap = 215, .mremap = 216,
                               .membarrier = 283, .rt_sigaction = 134, .write = 64,
                               .pwrite = 68, .read = 63, .readv = 65, .pread = 67,
                               .preadv = 69, .preadv2 = 286, .recv = -1, .recvfrom = 207,
                               .recvmsg = 212, .recvmmsg = 243, .recvmmsg64 = -1,
                               .process_vm_readv = 270, .brk = 214, .prctl = 167,
                               .shmat = 196, .shmdt = 197,
                               .writev = 66, .pwritev = 70, .pwritev2 = 287,
                               .sendfile = 71, .sendfile64 = -1, .splice = 76,
                               .copy_file_range = 285, .vmsplice = 75, .msgrcv = 188,
                               .pkey_mprotect = 288, .truncate = 45, .ftruncate = 46,
                               .truncate64 = -1, .ftruncate64 = -1, .madvise = 233,
                               .mmap_shift = 0 };
    } else if (strcmp(target, "arm") == 0) {
        cfg.arch = ARCH_ARM;
        sn = (struct sysnums){ .mmap = 192, .mprotect = 125, .munmap = 91, .mremap = 163,
                               .membarrier = 389, .rt_sigaction = 174, .write = 4,
                               .pwrite = 181, .read = 3, .readv = 145, .pread = 180,
                               .preadv = 361, .preadv2 = 392, .recv = 291, .recvfrom = 292,
                               .recvmsg = 297, .recvmmsg = 365, .recvmmsg64 = 417,
                               .process_vm_readv = 376, .brk = 45, .prctl = 172,
                               .shmat = 305, .shmdt = 306,
                               .writev = 146, .pwritev = 362, .pwritev2 = 393,
                               .sendfile = 187, .sendfile64 = 239, .splice = 340,
                               .copy_file_range = 391, .vmsplice = 343, .msgrcv = 302,
                               .pkey_mprotect = 394, .truncate = 92, .ftruncate = 93,
                               .truncate64 = 193, .ftruncate64 = 194, .madvise = 220,
                               .mmap_shift = 12 };
    } else {
        return false;
    }
    return true;
}

bool sys_is_handler(uint64_t va)
{
    for (unsigned k = 0; k < nhandlers; k++) {
        if ((handlers[k] & ~1ull) == va) {
            return true;
        }
    }
    return false;
}

unsigned sys_nhandlers(void)
{
    return __atomic_load_n(&nhandlers, __ATOMIC_ACQUIRE);
}

/* ---- guest memory ---- */

/* A guest pointer or size_t at va (4 bytes on ARM). */
static bool guest_word(uint64_t va, uint64_t *out)
{
    uint64_t x = 0;
    unsigned w = cfg.arch == ARCH_ARM ? 4 : 8;
    if (!guest_read(va, &x, w)) {
        return false;
    }
    *out = gword(x);
    return true;
}

/*
 * Mappings change only through system calls; maps_gen moves at the entry
 * and the return of every one (a check made while another thread's munmap
 * runs is cached only until that call returns).  A JIT's flush runs DC and
 * IC line by line over one page: each asked the kernel before
 * (process_vm_readv), a quarter of pcre2test's time under the checker.
 */
static uint64_t maps_gen = 1;
static __thread uint64_t readable_page, readable_gen;

bool sys_readable(uint64_t va)
{
    uint64_t page = gword(va) >> PAGE_SHIFT;
    uint64_t g = __atomic_load_n(&maps_gen, __ATOMIC_ACQUIRE);
    if (page == readable_page && g == readable_gen) {
        return true;
    }
    uint8_t b;
    if (!guest_read(gword(va), &b, 1)) {
        return false;
    }
    readable_page = page;
    readable_gen = g;
    return true;
}

/*
 * The guest's [va, va+len) now holds `bytes` (NULL: read it from memory),
 * written by v at pc (0: by the kernel on v's behalf).  Only pages that
 * hold or may hold code reach the model.  Caller holds model_lock.
 */
void sys_store_range(struct vcpu *v, uint64_t va, uint64_t len, const uint8_t *bytes,
                     int fill, uint64_t pc)
{
    uint8_t chunk[PAGE_SIZE];
    while (len > 0) {
        uint64_t room = PAGE_SIZE - (va & (PAGE_SIZE - 1));
        unsigned n = (unsigned)(len < room ? len : room);
        if (page_tracked(va)) {
            const uint8_t *src = chunk;
            if (fill >= 0) {
                memset(chunk, fill, n);
            } else if (bytes) {
                src = bytes;
            } else if (!guest_read(va, chunk, n)) {
                return;
            }
            model_store(v, va, n, src, pc);
        }
        if (bytes) {
            bytes += n;
        }
        va += n;
        len -= n;
    }
}

/* The kernel filled `total` bytes of an iovec array at iov (cnt entries). */
static void store_iov(struct vcpu *v, uint64_t iov, uint64_t cnt, uint64_t total)
{
    unsigned w = cfg.arch == ARCH_ARM ? 4 : 8;
    for (uint64_t k = 0; k < cnt && k < 1024 && total > 0; k++) {
        uint64_t base, len;
        if (!guest_word(iov + 2 * w * k, &base) || !guest_word(iov + 2 * w * k + w, &len)) {
            return;
        }
        uint64_t n = len < total ? len : total;
        sys_store_range(v, base, n, NULL, -1, 0);
        total -= n;
    }
}

/* struct msghdr: msg_iov and msg_iovlen follow name and namelen. */
static void store_msghdr(struct vcpu *v, uint64_t msg, uint64_t total)
{
    unsigned w = cfg.arch == ARCH_ARM ? 4 : 8;
    uint64_t iov, cnt;
    /* 64-bit: name 0, namelen 8 (padded), iov 16, iovlen 24;
     * 32-bit: name 0, namelen 4, iov 8, iovlen 12. */
    if (guest_word(msg + 2 * w, &iov) && guest_word(msg + 3 * w, &cnt)) {
        store_iov(v, iov, cnt, total);
    }
}

/* ---- the private cache-flush calls ---- */

/*
 * ARM cacheflush(start, end, flags): Linux (arch/arm/kernel/traps.c
 * do_cache_op; arch/arm64/kernel/sys_compat.c for 32-bit tasks on arm64)
 * returns EINVAL when end < start or flags != 0, EFAULT when the range is
 * not user memory (access_ok: below TASK_SIZE, 4 GiB less a page for a
 * compat task), and otherwise flushes page by page until a page faults.
 */
static void arm_cacheflush(struct vcpu *v, uint64_t start, uint64_t end, uint64_t flags)
{
    if (end < start || flags != 0 || end > 0xfffff000u) {
        return;   /* EINVAL / EFAULT: nothing flushed */
    }
    uint64_t p = start;
    while (p < end) {
        uint64_t next = (p & ~(uint64_t)(PAGE_SIZE - 1)) + PAGE_SIZE;
        if (!sys_readable(p)) {
            return;   /* EFAULT part way: the pages before were flushed */
        }
        model_cacheflush(v, p, next < end ? next : end);
        p = next;
    }
}

static void arm_private_syscall(struct vcpu *v)
{
    if ((uint32_t)read_reg(7) == 0x0f0002) {   /* __ARM_NR_cacheflush */
        arm_cacheflush(v, gword(read_reg(0)), gword(read_reg(1)), gword(read_reg(2)));
        /* Its exception return synchronises the caller's context (the
         * syscall-return callback does not see these private calls), even
         * when the call failed. */
        model_csync(v);
    }
}

/*
 * riscv_flush_icache(start, end, flags): Linux (arch/riscv/kernel/
 * sys_riscv.c) returns EINVAL for any flag but SYS_RISCV_FLUSH_ICACHE_LOCAL
 * (bit 0) and otherwise flushes the whole instruction cache of the mm
 * (start and end are ignored): every hart with flags 0, only the calling
 * one with LOCAL (flush_icache_mm; the other harts are marked stale and
 * flushed when this mm next runs there, so the caller stays safe if it
 * migrates).
 */
static void riscv_flush(struct vcpu *v, uint64_t start, uint64_t end, uint64_t flags)
{
    if (flags & ~1ull) {
        return;   /* EINVAL: nothing flushed */
    }
    /* Private memory written while it was not tracked (a JIT's buffer
     * before mprotect makes it executable) gets its history now, before
     * the flush, from the range the program names: otherwise it would be
     * taken as written after the flush when it becomes executable.  (Linux
     * flushes everything; other untracked pages still get their history
     * when they become executable, as written at that time.) */
    if (end > start && end - start <= (64u << 20)) {
        for (uint64_t p = start & ~(uint64_t)(PAGE_SIZE - 1); p < end; p += PAGE_SIZE) {
            if (sys_readable(p)) {
                model_touch(p);
            }
        }
    }
    if (flags & 1) {
        model_local_flush(v);
    } else {
        model_global_sync();
    }
}

void sys_private_call(struct vcpu *v)
{
    if (cfg.arch == ARCH_ARM) {
        arm_private_syscall(v);
    } else if (cfg.arch == ARCH_RISCV64 && read_reg(7) == 259) {   /* __NR_riscv_flush_icache */
        riscv_flush(v, read_reg(0), read_reg(1), read_reg(2));
    }
}

/* ---- RISC-V: fence.i and migration ---- */

/*
 * Linux may move a thread to another hart at any time; a user fence.i only
 * orders the hart it ran on.  PR_RISCV_SET_ICACHE_FLUSH_CTX (Linux 6.10,
 * Documentation/arch/riscv/cmodx.rst) asks the kernel to fence.i when a
 * thread of the process (or this thread) migrates; only then is a thread's
 * own fence.i lasting.
 */
#define PR_RISCV_SET_ICACHE_FLUSH_CTX 71
static bool fencei_process;               /* PR_RISCV_SCOPE_PER_PROCESS */
static bool fencei_thread[MAX_VCPUS];     /* PR_RISCV_SCOPE_PER_THREAD */

bool sys_fence_i_lasting(unsigned idx)
{
    return __atomic_load_n(&fencei_process, __ATOMIC_RELAXED) ||
           __atomic_load_n(&fencei_thread[vcpu_slot(idx)], __ATOMIC_RELAXED);
}

static uint64_t transient_fence_seq[MAX_VCPUS];   /* last uncredited fence.i */
static bool ic_alias_miss[MAX_VCPUS];
static bool in_vdso_call[MAX_VCPUS];     /* the next syscall comes from the vDSO */

void sys_thread_start(unsigned rec)
{
    /* What a thread that held the record before did is not this one's:
     * its fence.i, its PR_RISCV_SET_ICACHE_FLUSH_CTX of thread scope
     * (which the prctl gives "the thread calling" it only), an IC by an
     * alias, a vDSO call it had not finished. */
    __atomic_store_n(&transient_fence_seq[rec], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fencei_thread[rec], false, __ATOMIC_RELAXED);
    ic_alias_miss[rec] = false;
    in_vdso_call[rec] = false;
}

void sys_fence_i(struct vcpu *v, unsigned idx)
{
    model_foreign_news();
    if (sys_fence_i_lasting(idx)) {
        model_local_flush(v);
    } else {
        __atomic_store_n(&transient_fence_seq[vcpu_slot(idx)],
                         seq_next(), __ATOMIC_RELAXED);
        xproc_transient_fence(v);
    }
}

bool sys_fence_i_after(const struct vcpu *v, uint64_t pc)
{
    size_t rec = (size_t)(v - vcpus);
    struct bpage *bp = bpage_get(pc, false);
    if (rec >= MAX_VCPUS || !bp || !bp->words) {
        return false;
    }
    const struct word *w = &bp->words[(pc & (PAGE_SIZE - 1)) / 4];
    return __atomic_load_n(&transient_fence_seq[rec], __ATOMIC_RELAXED) > w->seq;
}

/* ---- cache maintenance on memory the program cannot read ---- */

struct maint_insn {
    uint64_t pc;
    uint32_t insn;
    uint8_t rt;
    bool ic;
};

uint64_t sys_ctr_el0 = 0x80038003;

/*
 * VIPT instruction caches (CTR_EL0.L1Ip = 0b10; the default 0x80038003
 * the program sees under qemu says VIPT) may hold one physical line under
 * several indexes, one per virtual alias: IC IVAU by one virtual address
 * need not remove the line fetched through another (ARM ARM D7.4.2,
 * "Instruction caches"; Linux assumes aliasing for VIPT and invalidates
 * the whole I-cache, arch/arm64/kernel/cpuinfo.c).  The model applies an
 * IC through a view that cannot be executed (no PROT_EXEC) to nothing
 * when the same memory is executable through another view: fetches come
 * from that other view.  (Two executable views, each invalidated only
 * through itself, are not told apart: a documented approximation.)
 */
static void vipt_check(unsigned idx, uint64_t addr)
{
    bool vipt = ((sys_ctr_el0 >> 14) & 3) == 2;
    struct map *m = map_find(addr);
    ic_alias_miss[vcpu_slot(idx)] =
        vipt && m && !(m->prot & CM_PROT_EXEC) && maps_exec_alias(addr);
}

bool sys_ic_misses_fetch_alias(unsigned idx)
{
    bool *p = &ic_alias_miss[vcpu_slot(idx)];
    bool r = *p;
    *p = false;
    return r;
}

/*
 * DC CVAU and IC IVAU at EL0 are checked as reads of their address (ARM
 * ARM D7.5.9.x, "Cache maintenance instructions and permissions"): on
 * memory that is unmapped or not readable they take a Translation or
 * Permission fault, SIGSEGV on Linux.  qemu treats them as no-ops.  The
 * model goes on as if the instruction had done its work: on hardware the
 * program would not go on at all.
 */
static void on_maint_addr(unsigned int idx, void *ud)
{
    const struct maint_insn *mi = ud;
    uint64_t addr = read_reg(mi->rt) & 0x00ffffffffffffffull;   /* top-byte-ignore */
    struct map *m;
    pthread_mutex_lock(&model_lock);
    bool fault = !sys_readable(addr) ||
                 ((m = map_find(addr)) && !(m->prot & (mi->ic ? 5 : 1)));   /* READ(|EXEC) */
    if (fault) {
        report_add(K_MAINT_FAULT, cur(idx), mi->pc, mi->insn, 0, 0, addr);
    }
    if (mi->ic) {
        vipt_check(idx, addr);
    }
    pthread_mutex_unlock(&model_lock);
}

/* DC CVAC/CVAU/CVAP/CVADP/CIVAC, DC ZVA/GVA/GZVA and IC IVAU: the
 * maintenance instructions that take an address. */
static bool a64_maint_by_va(uint32_t i, bool *ic)
{
    if ((i & 0xfff80000u) != 0xd5080000u) {
        return false;
    }
    unsigned op1 = (i >> 16) & 7, crn = (i >> 12) & 15, crm = (i >> 8) & 15, op2 = (i >> 5) & 7;
    *ic = op1 == 3 && crn == 7 && crm == 5 && op2 == 1;
    bool dc = op1 == 3 && crn == 7 && ((crm >= 10 && crm <= 14 && op2 == 1) || crm == 4);
    return *ic || dc;
}

/*
 * The prctl as Linux handles it (arch/riscv/mm/cacheflush.c,
 * riscv_set_icache_flush_ctx): ctx ON (0) or OFF (1), scope PER_PROCESS
 * (0) or PER_THREAD (1), anything else EINVAL.  qemu 10 does not know the
 * option and returns EINVAL to the program; the model follows Linux.
 */
static void riscv_prctl(unsigned idx, uint64_t ctx, uint64_t scope)
{
    if (ctx > 1 || scope > 1) {
        return;
    }
    bool on = ctx == 0;
    if (scope == 0) {
        __atomic_store_n(&fencei_process, on, __ATOMIC_RELAXED);
    } else {
        __atomic_store_n(&fencei_thread[vcpu_slot(idx)], on,
                         __ATOMIC_RELAXED);
    }
}

/* ---- the vDSO ---- */

enum vdso_fn { VF_NONE, VF_TIME, VF_FLUSH_ICACHE };

static void on_vdso_entry(unsigned int idx, void *ud)
{
    struct vcpu *v = cur(idx);
    if ((uintptr_t)ud == VF_FLUSH_ICACHE) {
        /* __vdso_flush_icache(start, end, flags) is the system call. */
        pthread_mutex_lock(&model_lock);
        riscv_flush(v, read_reg(0), read_reg(1), read_reg(2));
        pthread_mutex_unlock(&model_lock);
    } else {
        in_vdso_call[vcpu_slot(idx)] = true;
    }
}

static enum vdso_fn vdso_kind(const char *name)
{
    static const char *const time_fns[] = {
        "clock_gettime", "clock_gettime64", "gettimeofday", "time", "getcpu",
        "clock_getres", "clock_getres_time64", "riscv_hwprobe",
    };
    const char *base = strncmp(name, "__vdso_", 7) == 0     ? name + 7
                       : strncmp(name, "__kernel_", 9) == 0 ? name + 9
                                                            : NULL;
    if (!base) {
        return VF_NONE;
    }
    if (strcmp(base, "flush_icache") == 0) {
        return cfg.arch == ARCH_RISCV64 ? VF_FLUSH_ICACHE : VF_NONE;
    }
    for (size_t k = 0; k < sizeof(time_fns) / sizeof(time_fns[0]); k++) {
        if (strcmp(base, time_fns[k]) == 0) {
            return VF_TIME;
        }
    }
    return VF_NONE;   /* rt_sigreturn: a real system call on Linux too */
}

/* ---- the process's start: auxv ---- */

static bool auxv_done;
static struct qemu_plugin_register *sp_reg;

static void find_sp(void)
{
    GArray *regs = qemu_plugin_get_registers();
    for (guint i = 0; i < regs->len; i++) {
        qemu_plugin_reg_descriptor *d = &g_array_index(regs, qemu_plugin_reg_descriptor, i);
        if (strcmp(d->name, "sp") == 0) {
            sp_reg = d->handle;
        }
    }
    g_array_free(regs, TRUE);
}

/*
 * At the first instruction the stack holds argc, argv[], envp[] and the
 * auxiliary vector (the ELF ABI's process start): AT_SYSINFO_EHDR gives
 * the vDSO.
 */
static void on_first_insn(unsigned int idx, void *ud)
{
    (void)idx;
    (void)ud;
    if (__atomic_exchange_n(&auxv_done, true, __ATOMIC_ACQ_REL)) {
        return;
    }
    find_sp();
    if (!sp_reg) {
        return;
    }
    GByteArray *buf = g_byte_array_new();
    uint64_t sp = 0;
    if (qemu_plugin_read_register(sp_reg, buf) > 0) {
        memcpy(&sp, buf->data, buf->len < 8 ? buf->len : 8);
    }
    g_byte_array_free(buf, TRUE);
    sp = gword(sp);
    unsigned w = cfg.arch == ARCH_ARM ? 4 : 8;
    uint64_t argc, x, p = sp;
    if (!guest_word(p, &argc) || argc > 100000) {
        return;
    }
    p += w * (argc + 2);                     /* argv[], NULL */
    while (guest_word(p, &x) && x != 0) {    /* envp[] */
        p += w;
    }
    p += w;
    uint64_t type, val;
    pthread_mutex_lock(&model_lock);
    for (int k = 0; k < 64 && guest_word(p, &type) && type != 0; k++, p += 2 * w) {
        if (guest_word(p + w, &val)) {
            syms_auxv(type, val);
        }
    }
    syms_stack_top(sp);
    pthread_mutex_unlock(&model_lock);
}

void sys_instrument_tb(struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (!__atomic_load_n(&auxv_done, __ATOMIC_ACQUIRE) && n > 0) {
        qemu_plugin_register_vcpu_insn_exec_cb(qemu_plugin_tb_get_insn(tb, 0), on_first_insn,
                                               QEMU_PLUGIN_CB_R_REGS, NULL);
    }
    for (size_t k = 0; cfg.arch == ARCH_AARCH64 && k < n; k++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, k);
        uint32_t i = 0;
        bool ic;
        if (qemu_plugin_insn_data(insn, &i, 4) == 4 && a64_maint_by_va(i, &ic)) {
            /* Kept for the life of the translation; these are few. */
            struct maint_insn *mi = malloc(sizeof(*mi));
            *mi = (struct maint_insn){ qemu_plugin_insn_vaddr(insn), i, (uint8_t)(i & 31), ic };
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_maint_addr, QEMU_PLUGIN_CB_R_REGS, mi);
        }
    }
    uint64_t lo, hi;
    if (!syms_vdso_range(&lo, &hi)) {
        return;
    }
    for (size_t k = 0; k < n; k++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, k);
        uint64_t va = qemu_plugin_insn_vaddr(insn);
        const char *name;
        if (va < lo || va >= hi || !(name = syms_vdso_entry(va))) {
            continue;
        }
        enum vdso_fn f = vdso_kind(name);
        if (f != VF_NONE) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_vdso_entry, QEMU_PLUGIN_CB_R_REGS,
                                                   (void *)(uintptr_t)f);
        }
    }
}

/* ---- system calls ---- */

/*
 * May the call take away the readability of guest memory that another
 * thread has just read (model.c, granule_read)?  Unmapping, protecting,
 * moving or replacing a mapping (MAP_FIXED, and a System V attach over
 * one), shrinking the heap or a mapped file (a read past the end is a
 * SIGBUS), and MADV_GUARD_INSTALL (102).
 */
static bool may_unmap(int64_t num, const uint64_t *a)
{
    return num == sn.munmap || num == sn.mprotect || num == sn.pkey_mprotect ||
           num == sn.mremap || (num == sn.mmap && (a[3] & 0x10)) || num == sn.brk ||
           num == sn.shmat || num == sn.shmdt || num == sn.truncate || num == sn.ftruncate ||
           num == sn.truncate64 || num == sn.ftruncate64 || (num == sn.madvise && a[2] == 102);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int idx, int64_t num, uint64_t a1,
                       uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                       uint64_t a7, uint64_t a8)
{
    (void)id;
    (void)a7;
    (void)a8;
    plugin_vcpu_check(idx);
    gate_enter();
    __atomic_add_fetch(&maps_gen, 1, __ATOMIC_RELEASE);   /* sys_readable */
    struct vcpu *v = cur(idx);
    v->sc_num = num;
    uint64_t a[6] = { gword(a1), gword(a2), gword(a3), gword(a4), gword(a5), gword(a6) };
    memcpy(v->sc_args, a, sizeof(a));
    if (cfg.arch == ARCH_AARCH64 && may_unmap(num, a)) {
        /* Only AArch64 keeps a shadow of memory, read by loads' and
         * stores' callbacks. */
        plugin_reads_stop(idx);
        v->stopping_reads = true;
    }
    if (num == sn.rt_sigaction && a[1]) {
        /* sa_handler is the first member of the kernel's sigaction. */
        uint64_t h;
        if (guest_word(a[1], &h)) {
            pthread_mutex_lock(&model_lock);
            if (h > 1 && !sys_is_handler(h) && nhandlers < MAX_HANDLERS) {
                handlers[nhandlers] = h;
                __atomic_store_n(&nhandlers, nhandlers + 1, __ATOMIC_RELEASE);
            }
            pthread_mutex_unlock(&model_lock);
        }
    } else if (num == sn.prctl && a[0] == PR_RISCV_SET_ICACHE_FLUSH_CTX &&
               cfg.arch == ARCH_RISCV64) {
        riscv_prctl(idx, a[1], a[2]);
    }
    bool spawn = plugin_syscall_clone(num, a[0]);
    /* What the caller has ordered reaches the kernel when the call starts:
     * a signal it sends may be delivered, a futex waiter woken, before the
     * call returns (model.c). */
    pthread_mutex_lock(&model_lock);
    model_syscall_entry(v);
    pthread_mutex_unlock(&model_lock);
    gate_leave();
    if (spawn) {
        gate_spawn();   /* until the new vCPU's init callback (gate.h) */
    }
}

/*
 * Is fd a memfd?  Then st is its identity (a guest fd is the host fd under
 * qemu-user, so the plugin can fstat it and read its offset).
 */
static bool memfd_stat(int fd, struct stat *st)
{
    /* fstat first: a memfd is a regular file, and a program's writes go
     * mostly to terminals, pipes, sockets and /dev/null, which then cost
     * no path lookup in /proc (a readlink per write was a seventieth of
     * pcre2test's time under the checker). */
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        return false;
    }
    char link[64], target[32];
    /* thread-self: /proc/self names the main thread, whose table of files
     * is gone once it has left with pthread_exit. */
    snprintf(link, sizeof(link), "/proc/thread-self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    return n >= 7 && strncmp(target, "/memfd:", 7) == 0;
}

/* The file offset an explicit 64-bit offset argument names: ARM passes
 * pwrite's in an aligned register pair (r4, r5), pwritev's as lo, hi. */
static uint64_t off_arg(uint64_t lo, uint64_t hi)
{
    return cfg.arch == ARCH_ARM ? (lo & 0xffffffffu) | hi << 32 : lo;
}

/*
 * The kernel wrote ret bytes into the memfd fd: at an explicit offset, or
 * (has_off false) at the file position, which the call advanced past them.
 * Every mapping of those pages sees the bytes (model_file_write keys them
 * by backing page): a store by the calling thread.
 */
static void memfd_written(struct vcpu *v, int fd, bool has_off, uint64_t off, int64_t ret)
{
    struct stat st;
    if (!memfd_stat(fd, &st)) {
        return;
    }
    if (!has_off) {
        off_t end = lseek(fd, 0, SEEK_CUR);
        if (end < ret) {
            return;
        }
        off = (uint64_t)(end - ret);
    }
    model_file_write(v, (uint64_t)st.st_dev, (uint64_t)st.st_ino, off, (uint64_t)ret);
}

/* An offset pointer argument (splice, copy_file_range): NULL uses and
 * advances the file position; otherwise the kernel advanced *p by ret. */
static void memfd_written_at(struct vcpu *v, int fd, uint64_t p, int64_t ret)
{
    int64_t after = 0;   /* loff_t: 64 bits on every guest */
    if (p && !guest_read(p, &after, sizeof(after))) {
        return;
    }
    memfd_written(v, fd, p != 0, (uint64_t)(after - ret), ret);
}

/*
 * The system calls by which the kernel writes a file: write, pwrite,
 * writev, pwritev(2), and the file-to-file copies sendfile, splice and
 * copy_file_range (their destination).  Only memfds are followed.
 */
static bool file_write(struct vcpu *v, int64_t num, int64_t ret)
{
    const uint64_t *a = v->sc_args;
    if (num == sn.write || num == sn.writev || num == sn.sendfile || num == sn.sendfile64) {
        memfd_written(v, (int)a[0], false, 0, ret);
    } else if (num == sn.pwrite) {
        memfd_written(v, (int)a[0], true,
                      cfg.arch == ARCH_ARM ? off_arg(a[4], a[5]) : a[3], ret);
    } else if (num == sn.pwritev) {
        memfd_written(v, (int)a[0], true, off_arg(a[3], a[4]), ret);
    } else if (num == sn.pwritev2) {
        /* offset -1: the file position, as writev */
        uint64_t off = off_arg(a[3], a[4]);
        memfd_written(v, (int)a[0], off != ~0ull, off, ret);
    } else if (num == sn.splice || num == sn.copy_file_range) {
        memfd_written_at(v, (int)a[2], a[3], ret);
    } else {
        return false;
    }
    return true;
}

/* The read family: the kernel's copy into user buffers is a store. */
static bool kernel_fill(struct vcpu *v, int64_t num, int64_t ret)
{
    const uint64_t *a = v->sc_args;
    if (num == sn.read || num == sn.pread || num == sn.recv || num == sn.recvfrom) {
        sys_store_range(v, a[1], (uint64_t)ret, NULL, -1, 0);
    } else if (num == sn.readv || num == sn.preadv || num == sn.preadv2) {
        store_iov(v, a[1], a[2], (uint64_t)ret);
    } else if (num == sn.msgrcv) {
        /* struct msgbuf { long mtype; char mtext[]; }: ret bytes of text */
        sys_store_range(v, a[1], (uint64_t)ret + (cfg.arch == ARCH_ARM ? 4 : 8), NULL, -1, 0);
    } else if (num == sn.vmsplice) {
        /* From a pipe's read end into the iovec: the kernel stores (to a
         * pipe it reads the user memory instead). */
        int fl = fcntl((int)a[0], F_GETFL);
        if (fl >= 0 && (fl & O_ACCMODE) == O_RDONLY) {
            store_iov(v, a[1], a[2], (uint64_t)ret);
        }
    } else if (num == sn.process_vm_readv) {
        store_iov(v, a[1], a[2], (uint64_t)ret);   /* the local iovec */
    } else if (num == sn.recvmsg) {
        store_msghdr(v, a[1], (uint64_t)ret);
    } else if (num == sn.recvmmsg || num == sn.recvmmsg64) {
        /* struct mmsghdr { struct msghdr; unsigned msg_len; }, ret entries */
        uint64_t size = cfg.arch == ARCH_ARM ? 32 : 64;   /* 28+4 / 56+4+pad */
        for (int64_t k = 0; k < ret && k < 1024; k++) {
            uint32_t len = 0;
            uint64_t msg = a[1] + (uint64_t)k * size;
            if (guest_read(msg + (cfg.arch == ARCH_ARM ? 28 : 56), &len, 4)) {
                store_msghdr(v, msg, len);
            }
        }
    } else {
        return false;
    }
    return true;
}

static void on_syscall_ret(qemu_plugin_id_t id, unsigned int idx, int64_t num, int64_t ret)
{
    (void)id;
    plugin_vcpu_check(idx);
    plugin_clone_returned(gret(ret));   /* before the gate: it may end a creation */
    gate_enter();
    __atomic_add_fetch(&maps_gen, 1, __ATOMIC_RELEASE);   /* sys_readable */
    struct vcpu *v = cur(idx);
    const uint64_t *a = v->sc_args;
    if (v->stopping_reads) {
        v->stopping_reads = false;
        model_reads_resume();
    }
    ret = gret(ret);
    bool ok = gret_ok(ret);
    bool from_vdso = false;
    if (in_vdso_call[vcpu_slot(idx)]) {
        in_vdso_call[vcpu_slot(idx)] = false;
        from_vdso = true;
    }
    pthread_mutex_lock(&model_lock);
    if (num == sn.mmap && ok) {
        maps_add(gword((uint64_t)ret), a[1], (int)a[2], (int)a[3], (int)a[4],
                 a[5] << sn.mmap_shift);
    } else if (num == sn.mprotect && ret == 0) {
        maps_protect(a[0], a[1], (int)a[2], model_made_exec);
    } else if (num == sn.munmap && ret == 0) {
        maps_unmap(a[0], a[1]);
    } else if (num == sn.mremap && ok) {
        maps_move(a[0], a[1], gword((uint64_t)ret), a[2]);
    } else if (num == sn.shmat && ok) {
        /* System V shared memory: the same object in every process that
         * attaches the segment (the host's shmid is the guest's). */
        struct shmid_ds ds;
        if (shmctl((int)a[0], IPC_STAT, &ds) == 0) {
            int prot = 1 | ((a[2] & SHM_RDONLY) ? 0 : CM_PROT_WRITE) |
                       ((a[2] & 0100000) ? CM_PROT_EXEC : 0);   /* SHM_EXEC */
            uint64_t len = ((uint64_t)ds.shm_segsz + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
            struct map *m = maps_add_shm(gword((uint64_t)ret), len, prot, (int)a[0]);
            if (m && (prot & CM_PROT_EXEC)) {
                model_made_exec(m->start);
            }
        }
    } else if (num == sn.shmdt && ret == 0) {
        struct map *m = map_find(a[0]);
        if (m && m->shm) {
            maps_unmap(m->start, m->end - m->start);
        }
    } else if (num == sn.brk && ok) {
        syms_brk(gword((uint64_t)ret));
    } else if (ret > 0 && file_write(v, num, ret)) {
        /* done */
    } else if (ret > 0 && kernel_fill(v, num, ret)) {
        /* done */
    } else if (num == sn.membarrier && ret >= 0 && a[0] == 32 && !(a[1] & 1)) {
        /* MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: every thread has
         * executed a core serialising instruction when it returns (with
         * MEMBARRIER_CMD_FLAG_CPU only those on one CPU: not counted). */
        model_global_sync();
    }
    /* Returning from the syscall exception is context synchronising on
     * ARM (ARM ARM, "Context synchronization event": exception return);
     * RISC-V's sret does not order instruction fetch.  A call made by
     * qemu's vDSO is no exception on Linux, whose vDSO stays in user
     * space. */
    if (cfg.arch != ARCH_RISCV64 && !from_vdso) {
        model_csync(v);
    } else {
        model_foreign_news();   /* a check anew, not a synchronisation */
    }
    pthread_mutex_unlock(&model_lock);
    plugin_syscall_returned();
    gate_leave();
}

void sys_register(qemu_plugin_id_t id)
{
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_vcpu_syscall_ret_cb(id, on_syscall_ret);
}
