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
 *    conditional callback per translation block that holds any: it runs
 *    only until the block is found settled for the thread (verdicts.h);
 *  - loads (AArch64 reads-from) and the in-flight marks of stores only
 *    once the process has a second thread (full_mode below).
 * Plugin arguments: arch-independent key=value pairs set by the wrapper
 * (ctr=, log=, json=, status=, maxprint=).
 */
#include <glib.h>
#include <qemu-plugin.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gate.h"
#include "maps.h"
#include "model.h"
#include "report.h"
#include "stacks.h"
#include "stores.h"
#include "syscall.h"
#include "verdicts.h"
#include "xproc.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static struct report_out out = { .max_print = 200 };
static uint64_t ctr = 0x80038003;
static uint16_t nlabels;
static struct qemu_plugin_register *reg_handle[32];   /* x0..x30 / r0..r7 / a0..a7 */
static struct qemu_plugin_register *rv_x[32];         /* RISC-V x0..x31, by number */

enum maint { M_DC = 1, M_IC, M_IC_ALL, M_DSB, M_CSYNC, M_LOCAL_FLUSH, M_SVC, M_BAR, M_ISB };

/* One instrumented instruction in a page that may hold written code. */
struct xinsn {
    uint64_t vaddr;
    const uint8_t *haddr;
    struct bpage *bp;
    uint8_t size;
    uint8_t solo;      /* checked by its own callback, not at the block's start */
    uint8_t armed;     /* has a conditional recheck on same_tb_flag */
    uint8_t bytes[4];
};

/*
 * The checked instructions of one translation block, checked together when
 * the block starts: one callback per block rather than per instruction.  A
 * block is straight-line code (an ISB or a branch ends it), so its
 * instructions run after the same maintenance and synchronisation.
 */
struct xtb {
    uint64_t start, end;   /* guest addresses of the block */
    /* model_gen << CLEAN_BITS | (vcpu index + 1) of the last thread for
     * which every check of the block found it settled (0: none): while
     * model_gen is unchanged, that thread's checks of the block pass again
     * (model.h).  One word, so that two threads never mix their halves. */
    uint64_t clean;
    bool full;             /* translation: full_mode (several threads) */
    bool thumb;            /* translation: ARMv7 Thumb code (decode_arm) */
    bool after_maint;      /* translation: a barrier or maintenance seen */
    bool prev_store;       /* translation: the previous instruction may store */
    /* The block's backing pages, and its verdict entry and tag
     * (verdicts.h: blocks on one page only); without an entry, the block
     * is checked at every start and uses `clean` above. */
    bool has_vent;
    bool vbp_several;      /* the checked instructions span two pages */
    struct bpage *vbp;     /* the page of the first one */
    qemu_plugin_u64 vent;
    uint64_t vtag;
    size_t n;
    struct xinsn x[];
};

/*
 * The userdata of a store callback in a block with checked instructions:
 * the store's own (pc and UD_ flags, as on_store's) and its block, so that
 * a store into a later instruction of the block it runs in is found from
 * the translation itself, whatever the decoder knows of the instruction
 * (same_block_store).  Kept, like the block, for the life of the
 * translation.
 */
struct xstore {
    uint64_t ud;
    const struct xtb *t;
};

/*
 * Stores into the block being executed (ARM ARM: no context synchronisation
 * between the store and the fetch, so the old or the new instruction may
 * run; qemu runs the old one, translated before the store).  The store
 * callback sets the thread's flag; later checked instructions of the block
 * have a conditional callback on it that checks them again; the flag is
 * cleared when a block with checks starts.
 */
/*
 * Every per-vcpu scoreboard entry the threads write as they run (the
 * store-in-flight marks at every store, the running block at every
 * checked block) fills a cache line of its own: qemu lays a scoreboard's
 * entries out back to back, and 16-byte entries put four threads' marks
 * on one line, which every store of each of them then took from the
 * others (a loop of private loads and stores on two threads ran several
 * times slower under the checker).
 */
#define SB_LINE 64
static struct qemu_plugin_scoreboard *same_tb;
static qemu_plugin_u64 same_tb_flag;
/* Per vcpu: the last block with checks started (an inline store at the
 * start of every such block translated while several threads run: what
 * a store by another thread reads in same_block_store; a thread's own
 * block is in its stores' userdata, struct xstore). */
static struct qemu_plugin_scoreboard *run_board;
static qemu_plugin_u64 run_tb;
struct run {
    uint64_t tb;
    uint64_t pad[7];   /* a cache line each (SB_LINE) */
};
/* Highest record used + 1 (vcpu_slot): the threads whose running block a
 * store may reach, whose stores in flight a load may wait for. */
static unsigned nvcpu_idx;
uint16_t vcpu_rec_high[MAX_VCPU_INDEX];
static bool rec_held[MAX_VCPUS];   /* a record given to a high index */

/* Memory-callback user data: the instruction's address, whether it is
 * a store-release (bit 63), and whether its store callback clears the
 * thread's store-in-flight mark (bit 62: the last instruction of its
 * block, see below). */
#define UD_RELEASE (1ull << 63)
#define CLEAN_BITS 11   /* vcpu index + 1 <= MAX_VCPUS */
#define UD_CLEAR (1ull << 62)
/* Bit 61: a compare-and-swap or store-exclusive, which may fail and write
 * nothing (on_store). */
#define UD_MAYFAIL (1ull << 61)
/* Bit 60: an AArch64 LD<op> (LDADD, LDCLR, LDEOR, LDSET, LD{S,U}{MAX,MIN})
 * or RISC-V AMO<op>, whose write callback qemu may give the operand, not
 * the value written (struct rmw_read). */
#define UD_LDOP (1ull << 60)
/* Bits 48 to 59: where the instruction's store writes, recorded by its
 * first callback while it is in flight (a64_footprint, flight_record).
 * Guest addresses of AArch64 user space are below 2^48. */
#define UD_FOOT_SHIFT 48
#define UD_FOOT (0xfffull << UD_FOOT_SHIFT)
#define FOOT_ONE 1u   /* one access: the callback's own address and size */
#define UD_PC (~(UD_RELEASE | UD_CLEAR | UD_MAYFAIL | UD_LDOP | UD_FOOT))

/*
 * Stores in flight (AArch64 reads-from).  qemu calls a store's memory
 * callback after the store reached memory, so another thread can load the
 * new value before the callback has written the store's snapshot into the
 * shadow of memory (model.c).  A load that reads a value its slot does not
 * hold must then know whether a store that wrote it is still to publish,
 * and wait for exactly that; a bounded wait guessed, and on a loaded
 * machine (the storing thread preempted between its access and its
 * callback) missed reads-from edges.
 *
 * So every instruction that may store has two inline operations before it
 * (qemu emits them in order, before the instruction's own code): the
 * thread's store count is incremented, then its mark is set (SF_PLAIN, or
 * SF_ATOMIC for the atomic and exclusive instructions).  The mark is
 * cleared by an inline operation before the next instruction of the block,
 * at the start of every block (a store that faulted, a store-exclusive
 * that failed and stored nothing: no callback ran), and by the store's own
 * callback when the instruction ends its block.  A store's mark is thus
 * set before its access and cleared after its callbacks: a load that read
 * a store's value finds that store marked, or its slot published.  The
 * counter tells the same store from the thread's next one.  The order of
 * the mark, the access, the slot and the clear relies on the host keeping
 * stores in order (x86-64 is TSO; on_store adds a release fence for the
 * slot before the clear on other hosts).
 */
enum { SF_NONE, SF_PLAIN, SF_ATOMIC, SF_ATOMIC1 };
struct sf {
    uint64_t mark;    /* SF_*: a store instruction has begun, callbacks not all run */
    uint64_t count;   /* store instructions begun */
    uint64_t at_seq;  /* the count of the store at [at_lo, at_hi), 0: none (flight_record) */
    uint64_t at_lo, at_hi;
    uint64_t at_val[2];   /* the bytes it writes there, when at_vn (flight_record) */
    uint64_t at_vn;       /* how many of them are known: at_hi - at_lo, or 0 */
};   /* a cache line each (SB_LINE) */
static struct qemu_plugin_scoreboard *sf_board;
static qemu_plugin_u64 sf_mark, sf_count;

/*
 * Where a store in flight writes.  A load that reads bytes its slot does
 * not hold waits for the stores in flight, but the mark does not say
 * where they write: on a loaded machine most such waits were for an
 * unrelated thread preempted in its store's callback, a time slice each
 * (test_reclaim membarrier: 620 waits of a time slice, 2.4 s of its
 * 4.5 s; most of the values they waited for were written by no store
 * callback at all: a signal frame, a futex word, a store overwritten
 * since).  So a store instruction whose bytes its first callback can
 * bound (a64_footprint: one access, or a SIMD&FP pair whose second
 * access follows the first) records, as that callback's first act, the
 * bytes it writes, under its count (at_seq), as a sequence lock: at_seq
 * falls to 0, the range is written, then at_seq takes the count.  A
 * waiter that finds a record of the very store its mark and count show,
 * elsewhere than the bytes it read, waits no more for that thread: that
 * store did not write them, and the thread's earlier stores have
 * published their slots (their marks were cleared).  Without a record
 * (the thread not yet in its callback, or a store of several accesses) it
 * waits, as before.  A store of one access records the bytes it writes
 * too (VAL), so that a load that read other bytes there does not wait
 * for it either.  An atomic records its range at its read callback,
 * which qemu runs after the whole read-modify-write, and again with its
 * bytes at its write callback, before it waits for others (struct
 * rmw_read); one that failed (a CAS, a STXR) records an empty range
 * there, which every load passes.  ONCE: only if the store has no record
 * yet (a pair's second access).
 */
static void flight_record(unsigned idx, uint64_t va, unsigned size, const uint8_t *val, bool once)
{
    struct sf *e = qemu_plugin_scoreboard_find(sf_board, idx);
    uint64_t c = __atomic_load_n(&e->count, __ATOMIC_RELAXED);   /* this thread's own */
    if (once && __atomic_load_n(&e->at_seq, __ATOMIC_RELAXED) == c) {
        return;   /* a pair's second access: its first recorded the pair */
    }
    uint64_t w[2] = { 0, 0 };
    unsigned vn = val && size <= sizeof(w) ? size : 0;
    if (vn) {
        memcpy(w, val, vn);
    }
    __atomic_store_n(&e->at_seq, 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);   /* pairs with flight_elsewhere's acquire fence */
    __atomic_store_n(&e->at_lo, va, __ATOMIC_RELAXED);
    __atomic_store_n(&e->at_hi, va + size, __ATOMIC_RELAXED);
    __atomic_store_n(&e->at_val[0], w[0], __ATOMIC_RELAXED);
    __atomic_store_n(&e->at_val[1], w[1], __ATOMIC_RELAXED);
    __atomic_store_n(&e->at_vn, vn, __ATOMIC_RELAXED);
    __atomic_store_n(&e->at_seq, c, __ATOMIC_RELEASE);
}

/* Is the store of footprint FOOT (a64_footprint), whose access ends at
 * END, done with its accesses?  One access: yes.  A pair (a footprint of
 * several bytes): when END is where its record ends, the second access. */
static bool flight_done(unsigned idx, unsigned foot, uint64_t end)
{
    if (foot <= FOOT_ONE) {
        return true;
    }
    const struct sf *e = qemu_plugin_scoreboard_find(sf_board, idx);
    return __atomic_load_n(&e->at_hi, __ATOMIC_RELAXED) <= end;   /* this thread's own record */
}

/* What E's store number C has recorded against the HI - LO bytes a load
 * read at LO (WANT; NULL: not known): that it writes outside [lo, hi),
 * or there other bytes than WANT (FLIGHT_ELSEWHERE); those very bytes
 * (FLIGHT_SAME); or nothing that tells (FLIGHT_MAYBE: no record of that
 * store yet, or no bytes in it).  By value only when the store covers all
 * of [lo, hi): a load that read one byte from it and another from a later
 * store overlapping part of the range would lose the first store's edge
 * (it loses one of the two with the slot anyway: model.c). */
enum flight { FLIGHT_MAYBE, FLIGHT_ELSEWHERE, FLIGHT_SAME };
static enum flight flight_match(const struct sf *e, uint64_t c, uint64_t lo, uint64_t hi,
                                const uint8_t *want)
{
    uint64_t s1 = __atomic_load_n(&e->at_seq, __ATOMIC_ACQUIRE);
    if (s1 != c) {
        return FLIGHT_MAYBE;
    }
    uint64_t a = __atomic_load_n(&e->at_lo, __ATOMIC_RELAXED);
    uint64_t b = __atomic_load_n(&e->at_hi, __ATOMIC_RELAXED);
    uint64_t vn = __atomic_load_n(&e->at_vn, __ATOMIC_RELAXED);
    uint64_t w[2] = { __atomic_load_n(&e->at_val[0], __ATOMIC_RELAXED),
                      __atomic_load_n(&e->at_val[1], __ATOMIC_RELAXED) };
    __atomic_thread_fence(__ATOMIC_ACQUIRE);   /* the record before at_seq's second read */
    if (__atomic_load_n(&e->at_seq, __ATOMIC_RELAXED) != c) {
        return FLIGHT_MAYBE;
    }
    if (b <= lo || a >= hi) {
        return FLIGHT_ELSEWHERE;
    }
    if (!want || !vn || a > lo || hi > a + vn) {
        return FLIGHT_MAYBE;
    }
    return memcmp((const uint8_t *)w + (lo - a), want, hi - lo) ? FLIGHT_ELSEWHERE : FLIGHT_SAME;
}

static bool flight_elsewhere(const struct sf *e, uint64_t c, uint64_t lo, uint64_t hi,
                             const uint8_t *want)
{
    return flight_match(e, c, lo, hi, want) == FLIGHT_ELSEWHERE;
}

struct vcpu *cur(unsigned idx)
{
    return &vcpus[vcpu_slot(idx)];
}

/* ---- register access ---- */

static uint64_t read_handle(struct qemu_plugin_register *h)
{
    if (!h) {
        return 0;   /* XZR, or a register the target does not expose */
    }
    /* One buffer per host thread, kept: DC and IC run this per line. */
    static __thread GByteArray *buf;
    if (!buf) {
        buf = g_byte_array_new();
    }
    g_byte_array_set_size(buf, 0);
    int n = qemu_plugin_read_register(h, buf);
    uint64_t v = 0;
    if (n > 0) {
        memcpy(&v, buf->data, (size_t)n < sizeof(v) ? (size_t)n : sizeof(v));
    }
    return v;
}

uint64_t read_reg(unsigned r)
{
    return r < 32 ? read_handle(reg_handle[r]) : 0;
}

/* RISC-V's x registers by number (qemu names them by their ABI names). */
static const char *const rv_abi[32] = {
    "zero", "ra", "sp", "gp", "tp",  "t0",  "t1", "t2", "fp", "s1", "a0",
    "a1",   "a2", "a3", "a4", "a5",  "a6",  "a7", "s2", "s3", "s4", "s5",
    "s6",   "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
};

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
        for (unsigned x = 1; cfg.arch == ARCH_RISCV64 && x < 32; x++) {
            if (!strcmp(d->name, rv_abi[x]) || (x == 8 && !strcmp(d->name, "s0"))) {
                rv_x[x] = d->handle;
            }
        }
    }
    g_array_free(regs, TRUE);
}

/* ---- threads ---- */

/* Set for good when a thread is about to share the process's memory:
 * from then on loads and stores keep the shadow of memory (reads-from); a
 * single-threaded process skips it.  Set by the parent when it enters
 * clone (plugin_syscall_clone, called by syscall.c's on_syscall: qemu
 * keeps one syscall callback per plugin), not by the child's vcpu_init:
 * qemu runs that callback on the new thread, which the host may start
 * long after the parent has returned from clone and gone on storing.  A
 * store-release made in that window left no shadow, and the child's
 * acquire load of it ordered nothing (a false no-context-sync on the
 * canonical publish pattern; regression program hb_thread_start.c). */
static bool several_threads;
static unsigned live_threads;

/* several_threads, and on AArch64 every store out of its callback's fast
 * path (on_store): the shadow of memory needs them all. */
static void set_several_threads(void)
{
    model_reads_init();   /* before any callback reads guest memory (model.c) */
    if (cfg.arch == ARCH_AARCH64) {
        store_filter_saturate();
    }
    __atomic_store_n(&several_threads, true, __ATOMIC_SEQ_CST);
}

/*
 * Translation modes.  While the process has one thread, nothing another
 * thread does can be read: loads need no callback (reads-from orders
 * other threads' stores; the thread's own are in program order), stores
 * need no in-flight marks (no other thread waits for them), and a store
 * can reach only its own thread's block, at an instruction after the
 * store (the rechecks go only on instructions that follow one that may
 * store).  Each of these was measured: on a single-threaded JIT workload
 * (pcre2grep over 10 MB, arm64) the load callbacks alone cost 1.6x plain
 * qemu's time.  When the process is about to get a second thread (the
 * parent enters clone with CLONE_VM), full_mode is set and qemu is asked
 * for a reset: every translation is flushed and made again with the full
 * instrumentation before either thread runs another guest instruction.
 * The parent: qemu runs the reset (safe work, all vcpus stopped) as soon
 * as the clone returns, before its next block.  The child: qemu runs its
 * vcpu_init as queued work before its first block, and vcpu_init waits
 * for the reset (the child is not counted as running then, so the
 * parent's exclusive section does not wait for it).
 *
 * And back (go_one): when a system call of the last live thread returns
 * with no other thread announced (spawning: a clone with CLONE_VM whose
 * child has not started yet), the callbacks go back to what they do with
 * one thread, without a reset (go_one below).  The shadow of memory is
 * emptied then (model_shadow_clear, with no other thread to read it): a
 * later thread learns what its creator knew through the kernel
 * (model_thread_start), and a slot kept from before would hand a later
 * load the knowledge of a store its value no longer comes from.
 */
static qemu_plugin_id_t plugin_id;
static bool full_mode;
static uint64_t resets_asked, resets_done;   /* under reset_lock */
/* Threads announced and not started.  Not the gate's count of the same
 * announcements (gate.c), which falls at the start of the child's
 * vcpu_init, before the child counts in live_threads: go_one, reading
 * that count, would see one live thread and none announced while the
 * child is about to run.  This one falls once the child is counted. */
static unsigned spawning;
/* Per host thread (a guest thread's system call callbacks run on its own
 * host thread): its clone announced a thread.  Not per record: past
 * MAX_VCPUS - 1 live threads several share the last one, and another's
 * system call would clear the flag (the gate then opened, or stayed
 * closed, for a creation that was not its own). */
static __thread bool spawn_pending;
/* Per host thread: its vcpu_init has run (plugin_vcpu_check). */
static __thread bool vcpu_inited;
static pthread_mutex_t reset_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reset_cond = PTHREAD_COND_INITIALIZER;
static void register_callbacks(qemu_plugin_id_t id);

/* qemu's reset removed every callback: register them again.  Safe work:
 * every vcpu is stopped. */
static void reset_finished(qemu_plugin_id_t id)
{
    register_callbacks(id);
    pthread_mutex_lock(&reset_lock);
    resets_done++;
    pthread_cond_broadcast(&reset_cond);
    pthread_mutex_unlock(&reset_lock);
}

/* The one reset of a run: full_mode never goes back (go_one changes what
 * the callbacks do, not the translations), so that no reset is asked
 * while one is pending, which qemu would ignore without calling back (a
 * thread would then wait in wait_full for ever). */
static void go_full(void)
{
    if (__atomic_exchange_n(&full_mode, true, __ATOMIC_SEQ_CST)) {
        return;
    }
    pthread_mutex_lock(&reset_lock);
    resets_asked++;
    pthread_mutex_unlock(&reset_lock);
    qemu_plugin_reset(plugin_id, reset_finished);
}

/*
 * Called by the last live thread, after a system call (see above): the
 * translations stay those of the full mode (no reset: two of them, there
 * and back, cost tens of milliseconds in a program with much code, every
 * translation made again), but what their callbacks do at run time is the
 * one-thread mode's: a load's callback returns at once (on_load), a store
 * keeps no slot, and leaves its callback's fast path again (the store
 * filter as it was).  The shadow of memory is emptied now, with no other
 * thread to read it.
 */
static void go_one(void)
{
    if (!__atomic_load_n(&several_threads, __ATOMIC_SEQ_CST)) {
        return;
    }
    __atomic_store_n(&several_threads, false, __ATOMIC_SEQ_CST);
    store_filter_restore();
    model_shadow_clear();
}

/* A new thread's first guest instruction waits for every reset asked. */
static void wait_full(void)
{
    pthread_mutex_lock(&reset_lock);
    while (resets_done < resets_asked) {
        pthread_cond_wait(&reset_cond, &reset_lock);
    }
    pthread_mutex_unlock(&reset_lock);
}

/* Linux's clone flag: the child shares the caller's memory (a thread, or
 * vfork).  clone(2) takes the flags as its first argument; clone3(2) as
 * the first u64 of struct clone_args, which its first argument points
 * to.  Syscall numbers: asm-generic (aarch64, riscv64) and ARM EABI. */
#define CLONE_VM_FLAG 0x100ull
#define CLONE_VFORK_FLAG 0x4000ull
#define NR_CLONE3 435

bool plugin_syscall_clone(int64_t num, uint64_t a1)
{
    int64_t nr_clone = cfg.arch == ARCH_ARM ? 120 : 220;
    uint64_t flags;
    if (num == nr_clone) {
        flags = a1;
    } else if (num == NR_CLONE3) {
        if (!guest_read(cfg.arch == ARCH_ARM ? a1 & 0xffffffffu : a1, &flags,
                            sizeof(flags))) {
            flags = CLONE_VM_FLAG;   /* unreadable: take it as a thread (costs time only) */
        }
    } else {
        return false;
    }
    if (flags & CLONE_VM_FLAG) {
        /* Before the call: the child cannot run, nor this thread store,
         * before the flag is seen (the syscall callback runs on this
         * thread, ahead of the host clone). */
        set_several_threads();
        if (!(flags & CLONE_VFORK_FLAG)) {
            /* qemu-user runs vfork (vfork(2), posix_spawn, system) as a
             * fork: no second thread. */
            __atomic_add_fetch(&spawning, 1, __ATOMIC_SEQ_CST);
            spawn_pending = true;
            go_full();
            return true;
        }
    }
    return false;
}

void plugin_reads_stop(unsigned idx)
{
    model_reads_stop(cur(idx), __atomic_load_n(&nvcpu_idx, __ATOMIC_RELAXED));
}

/* One announced thread fewer to wait for (started, or its clone failed). */
static void spawned(void)
{
    unsigned n = __atomic_load_n(&spawning, __ATOMIC_SEQ_CST);
    while (n && !__atomic_compare_exchange_n(&spawning, &n, n - 1, false, __ATOMIC_SEQ_CST,
                                             __ATOMIC_SEQ_CST)) {
    }
}

void plugin_clone_returned(int64_t ret)
{
    if (spawn_pending) {
        spawn_pending = false;
        if (ret < 0) {
            spawned();   /* the clone failed: no thread comes */
            /* qemu checks the flags (EINVAL) and knows clone3 (ENOSYS)
             * before it makes the CPU; a thread that could not be started
             * (EAGAIN, ENOMEM) leaves its CPU in qemu's list for good. */
            gate_spawned(-1, ret != -22 && ret != -38);
        }
    }
}

void plugin_syscall_returned(void)
{
    if (__atomic_load_n(&live_threads, __ATOMIC_SEQ_CST) == 1 &&
        __atomic_load_n(&spawning, __ATOMIC_SEQ_CST) == 0) {
        go_one();
    }
}

static void vcpu_init(qemu_plugin_id_t id, unsigned int idx)
{
    (void)id;
    vcpu_inited = true;   /* runs on the vCPU's own thread (queued work) */
    /* qemu grew the scoreboards for this vCPU before this callback: its
     * creation no longer keeps the others' callbacks out (gate.h).  Then
     * the reset, which the parent runs once its clone has returned, and
     * whose callback may have to pass the gate first. */
    gate_spawned((int)idx, false);
    wait_full();
    gate_enter();
    pthread_mutex_lock(&model_lock);
    if (!reg_handle[0]) {
        find_registers();
    }
    if (idx >= MAX_VCPUS - 1 && idx < MAX_VCPU_INDEX) {
        /* A high index: the lowest record no live thread holds
         * (cmodx_check.h, vcpu_slot), else the shared last one. */
        unsigned r = 0;
        while (r < MAX_VCPUS - 1 && (vcpus[r].live || rec_held[r])) {
            r++;
        }
        if (r < MAX_VCPUS - 1) {
            rec_held[r] = true;
        }
        __atomic_store_n(&vcpu_rec_high[idx], r < MAX_VCPUS - 1 ? r + 1 : 0, __ATOMIC_RELAXED);
    }
    struct vcpu *v = cur(idx);
    v->live = true;
    v->idx = idx;
    unsigned rec = vcpu_slot(idx);
    if (rec >= nvcpu_idx) {
        __atomic_store_n(&nvcpu_idx, rec + 1, __ATOMIC_RELEASE);
    }
    sys_thread_start(rec);
    /* Labels name threads in reports; past 65535 threads they stop being
     * unique (0 reads "an unknown thread"). */
    v->label = nlabels < UINT16_MAX ? ++nlabels : 0;
    v->tid = (int)syscall(SYS_gettid);
    label_tid[v->label] = v->tid;
    if (__atomic_add_fetch(&live_threads, 1, __ATOMIC_SEQ_CST) > 1) {
        /* Set by the parent's clone already (plugin_syscall_clone). */
        set_several_threads();
        spawned();
    }
    if (live_threads > 1 && !__atomic_load_n(&full_mode, __ATOMIC_SEQ_CST)) {
        /* A thread whose creation no clone call announced: the reset now
         * (it runs before this thread's first block; the other thread
         * may run a few blocks translated for one thread meanwhile). */
        go_full();
    }
    verdict_vcpu_start(idx);   /* what a previous thread on idx was found to know is void */
    model_set_self(v);
    /* A new thread starts after an exception return: context synchronised,
     * ordered after what its parent gave the kernel (model.c). */
    model_thread_start(v);
    pthread_mutex_unlock(&model_lock);
    gate_leave();
}

/*
 * qemu calls a new vCPU's init callback from queued work on its thread,
 * reading the callback list after it has let go of its plugin lock; the
 * plugin's one reset (go_full, at the first clone) runs on the parent
 * meanwhile and empties that list until reset_finished registers the
 * callbacks again.  Should it fall in between, the thread never ran
 * vcpu_init: it had no record, and the gate stayed closed for its
 * creation (every later system call waited).  Its first system call, the
 * first callback a thread always makes soon (the C library's thread start
 * makes several), runs it then.  Called before the gate is entered.
 */
void plugin_vcpu_check(unsigned idx)
{
    if (!vcpu_inited) {
        vcpu_init(plugin_id, idx);
    }
}

static void vcpu_exit(qemu_plugin_id_t id, unsigned int idx)
{
    (void)id;
    /* No scoreboard here, and no gate: qemu calls this with its clone
     * lock held, which a thread creating a vCPU takes after closing the
     * gate (waiting for the creation here deadlocked). */
    pthread_mutex_lock(&model_lock);
    model_thread_exit(cur(idx));
    cur(idx)->live = false;
    unsigned rec = vcpu_slot(idx);
    if (idx >= MAX_VCPUS - 1 && idx < MAX_VCPU_INDEX && rec < MAX_VCPUS - 1) {
        rec_held[rec] = false;   /* free for the next high index */
        __atomic_store_n(&vcpu_rec_high[idx], 0, __ATOMIC_RELAXED);
    }
    __atomic_sub_fetch(&live_threads, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&model_lock);
    gate_exited(idx);
}

/* ---- execution of instructions from possibly written pages ---- */

/*
 * Memory no longer holds the translated bytes.  That is a hazard of its
 * own only when the hardware would have had to show the new bytes: the
 * model finds every written word of the instruction settled for v.
 */
static bool settled(struct vcpu *v, const struct xinsn *x, unsigned first, unsigned last,
                    unsigned foreign)
{
    const struct word *w = x->bp->words;
    for (unsigned wi = first; w && wi <= last; wi++) {
        if (foreign & (1u << (wi - first))) {
            continue;   /* another process's store, settled (xproc.c) */
        }
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

/* A fetch's wait for the stores in flight (check_one) ends
 * once the model's copy of the page holds the bytes qemu runs. */
struct fetch_wait {
    const uint8_t *shadow, *bytes;
    size_t size;
};
static bool fetch_published(const void *arg)
{
    const struct fetch_wait *f = arg;
    return memcmp(f->shadow, f->bytes, f->size) == 0;
}

/* Check one instruction; true when every word of it is settled for v
 * (nothing written there awaits v: no report, no note, no stale bytes,
 * no store in flight waited for). */
static bool check_one(struct vcpu *v, const struct xinsn *x)
{
    bool stale = x->haddr && memcmp(x->haddr, x->bytes, x->size) != 0;
    struct word *ws = __atomic_load_n(&x->bp->words, __ATOMIC_ACQUIRE);
    unsigned off = (unsigned)(x->vaddr & (PAGE_SIZE - 1));
    /* The instruction's words in its page; one that crosses into the next
     * page is checked by its first part. */
    unsigned first = off / 4;
    unsigned last = (unsigned)(((x->vaddr + x->size - 1) & (PAGE_SIZE - 1)) / 4);
    bool crosses = last < first;
    if (crosses) {
        last = first;
    }
    uint32_t insn = 0, mem = 0;
    memcpy(&insn, x->bytes, x->size);
    bool waited = false;
    if (ws && cfg.arch == ARCH_AARCH64 && !stale && off + x->size <= PAGE_SIZE &&
        memcmp(x->bp->shadow + off, x->bytes, x->size) != 0) {
        /* qemu runs bytes the model has not seen stored: another thread's
         * store reached memory and its callback has not run (a fetch's
         * reads-from, as a load's: see "Stores in flight").  Wait for the
         * stores in flight, so the check sees the store's word state.
         * Bytes no store in flight explains were written without a store
         * callback (a system call, MOPS, DC ZVA): the shadow takes them.
         * Every store in flight is waited for, wherever it recorded that
         * it writes: the record holds the virtual addresses of the view
         * the store went through, and the page's copy is shared by every
         * view of its backing (bpage_get), so a store through the write
         * view of a dual mapping writes the bytes this fetch runs through
         * the execute view (aarch64/alias_fetch: a wait that trusted the
         * record took the store's bytes as written without a store and
         * lost the round's not-cleaned). */
        struct fetch_wait fw = { x->bp->shadow + off, x->bytes, x->size };
        model_wait_stores(v, false, 0, UINT64_MAX, NULL, fetch_published, &fw);
        if (memcmp(x->bp->shadow + off, x->bytes, x->size) != 0) {
            pthread_mutex_lock(&model_lock);
            memcpy(x->bp->shadow + off, x->bytes, x->size);
            pthread_mutex_unlock(&model_lock);
        }
        waited = true;
    }
    /* A word last stored by another process (shared memory): the
     * cross-process rules decide (xproc.c). */
    unsigned foreign = 0;
    int xr = xproc_check_insn(v, x->bp, x->vaddr, x->size, insn, &foreign);
    bool all_foreign = !crosses && foreign == (2u << (last - first)) - 1;
    if (xr > 0 || (xr == 0 && all_foreign)) {
        if (xr == 0 && stale) {
            memcpy(&mem, x->haddr, x->size);
            pthread_mutex_lock(&model_lock);
            report_add(K_STALE_TRANSLATION, v, x->vaddr, insn, mem, 0, 0);
            pthread_mutex_unlock(&model_lock);
        }
        return xr == 0 && !stale && !waited;
    }
    if (!stale && (!ws || (model_page_quiet(v, x->bp) && model_fast_ok(v, x->bp, first) &&
                           model_fetch_joined(v, x->bp, first)))) {
        return !waited;   /* the fast path: nothing written here awaits v */
    }
    bool seen = !stale && ws;   /* every word passed before, holding its store (model.c) */
    for (unsigned wi = first; seen && wi <= last; wi++) {
        seen = (foreign & (1u << (wi - first))) || model_settled_seen(v, &ws[wi]);
    }
    if (seen) {
        return !waited;
    }
    pthread_mutex_lock(&model_lock);
    bool hazard = false;
    for (unsigned wi = first; x->bp->words && wi <= last; wi++) {
        if (foreign & (1u << (wi - first))) {
            continue;   /* another process's store, settled (xproc.c) */
        }
        enum kind k = model_check_word(v, x->bp, wi);
        if (k == K_STALE_REPLACEMENT && model_note_seen(v, &x->bp->words[wi])) {
            hazard = true;   /* noted before for this thread and store */
            break;
        }
        if (k != K_COUNT) {
            const struct word *w = &x->bp->words[wi];
            report_add(k, v, x->vaddr, insn, 0, w->writer, w->store_pc);
            hazard = true;
            break;
        }
    }
    if (stale && !hazard && settled(v, x, first, last, foreign) && !store_in_flight(x)) {
        memcpy(&mem, x->haddr, x->size);
        report_add(K_STALE_TRANSLATION, v, x->vaddr, insn, mem, 0, 0);
    }
    /* The fetch read the newest store, unless qemu ran a stale
     * translation (checked first: a fetch's own reads-from does not order
     * the fetch itself). */
    for (unsigned wi = first; !stale && x->bp->words && wi <= last; wi++) {
        if (!(foreign & (1u << (wi - first)))) {
            model_fetched(v, x->bp, wi);
            if (!hazard) {
                model_settled_note(v, &x->bp->words[wi]);
            }
        }
    }
    pthread_mutex_unlock(&model_lock);
    /* Every word settled for v (no report, no note, qemu ran the bytes in
     * memory): as good as the fast path for the block's cache. */
    return !hazard && !stale && !waited;
}

/*
 * The summary's count of instruction checks, kept in the threads' records
 * rather than in a scoreboard: at_exit sums it with no gate, and a vCPU
 * created by another thread while one calls exit_group could make qemu
 * move every scoreboard under that sum (gate.h).  A thread with a record
 * of its own is its only writer; the threads that share the last record
 * (vcpu_slot) add atomically.  Records are never freed and keep their
 * counts when reused, so the sum covers threads that have exited.
 */
static void count_checked(unsigned idx, uint64_t n)
{
    unsigned r = vcpu_slot(idx);
    uint64_t *c = &vcpus[r].checked;
    if (r < MAX_VCPUS - 1) {
        __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
    } else {
        __atomic_add_fetch(c, n, __ATOMIC_RELAXED);
    }
}

/*
 * A block with checks starts.  With a verdict entry (verdicts.h), qemu
 * calls this only while the entry does not hold the block's tag for the
 * thread: a block found settled costs an inline comparison until a word
 * of its page changes.  Without one (a block over two pages, or the
 * scoreboards are full), the global model_gen decides.
 */
static void check_tb(unsigned int idx, void *ud)
{
    const struct xtb *t = ud;
    struct vcpu *v = cur(idx);
    model_set_self(v);
    /* Read before the checks: a change made during them moves them, so
     * the verdict is not kept (verdict_set) and the block is checked
     * again next time. */
    uint64_t pg = t->has_vent ? verdict_page_gen(t->vbp) : 0;
    uint64_t g = __atomic_load_n(&model_gen, __ATOMIC_ACQUIRE);
    uint64_t me = g << CLEAN_BITS | (vcpu_slot(idx) + 1);
    struct xtb *mt = (struct xtb *)t;
    if (!t->has_vent && __atomic_load_n(&mt->clean, __ATOMIC_RELAXED) == me) {
        return;   /* settled for this thread and nothing changed since */
    }
    bool clean = true;
    uint64_t n = 0;
    for (size_t k = 0; k < t->n; k++) {
        if (!t->x[k].solo) {
            clean = check_one(v, &t->x[k]) && clean;
            n++;
        }
    }
    count_checked(idx, n);
    if (clean && t->has_vent) {
        verdict_set(t->vent, t->vtag, idx, t->vbp, pg);
    } else if (clean) {
        __atomic_store_n(&mt->clean, me, __ATOMIC_RELAXED);
    }
}

/* A checked instruction of a block that stored into itself: check again. */
static void recheck_insn(unsigned int idx, void *ud)
{
    count_checked(idx, 1);
    (void)check_one(cur(idx), ud);
}

/* Does the block t hold a checked instruction, after pc when only later
 * ones can still run (the storing thread's own block), in the backing page
 * bp at page offsets [off, off+size)? */
/* The checked instructions of t that have no recheck (the one-thread
 * mode) and that a store of the block reached are checked by the storing
 * callback itself (at_store): nothing but non-maintenance instructions of
 * the one thread lies between the store and their fetch (a maintenance
 * instruction makes the rest of the block "solo", checked as it runs), so
 * the verdict is the one their fetch would get, unless one of those
 * faults and the block never reaches them.  Whatever instruction stored:
 * no decoder decides it. */
#define AT_STORE_MAX 16
struct at_store {
    unsigned n;
    const struct xinsn *x[AT_STORE_MAX];
};

static bool block_covers(const struct xtb *t, const struct bpage *bp, unsigned off,
                         unsigned size, bool own, uint64_t pc, struct at_store *later)
{
    bool armed = false;
    for (size_t k = 0; k < t->n; k++) {
        const struct xinsn *x = &t->x[k];
        unsigned xo = (unsigned)(x->vaddr & (PAGE_SIZE - 1));
        if (x->bp == bp && xo < off + size && off < xo + x->size && (!own || x->vaddr > pc)) {
            if (own && !x->armed && !x->solo && later && later->n < AT_STORE_MAX) {
                later->x[later->n++] = x;
            }
            armed = armed || x->armed;
        }
    }
    return armed;
}

/*
 * Does the store at pc by idx write an instruction of a block some thread
 * is running (ARM ARM B2.2.5, RISC-V Zifencei: without context
 * synchronisation / fence.i on the executing hart the old or the new
 * instruction may run, and qemu runs the one it translated)?  Then arm that
 * thread's rechecks.  Compared by backing page, not by virtual address: the
 * store may go through another mapping of the same memory (a dual-mapped
 * JIT's write view), and it may be another thread's block.  The storing
 * thread's own block is reached only by instructions after the store; for
 * another thread the rechecks of the instructions it has yet to run do the
 * work, and an extra recheck only costs time (the model decides).  The
 * blocks are never freed (tb_trans), so reading another thread's running
 * entry is safe; it may be a block it has just left, which only arms
 * rechecks that find nothing.
 */
static void same_block_store(unsigned int idx, uint64_t pc, uint64_t va, unsigned size,
                             const struct xtb *own_t, struct at_store *later)
{
    const struct bpage *bp = bpage_get(va, false);
    if (!bp) {
        return;
    }
    unsigned off = (unsigned)(va & (PAGE_SIZE - 1));
    if (off + size > PAGE_SIZE) {
        size = PAGE_SIZE - off;   /* the rest is on the next page: its own lookup */
    }
    unsigned me = vcpu_slot(idx);
    unsigned n = __atomic_load_n(&nvcpu_idx, __ATOMIC_RELAXED);
    for (unsigned j = 0; j < n; j++) {
        bool own = j == me;
        if (!vcpus[j].live) {
            continue;
        }
        /* The scoreboards are by qemu's index (never shrunk: a record's
         * last index stays in bounds). */
        unsigned jx = own ? idx : vcpus[j].idx;
        const struct xtb *t = own ? own_t
                                  : (const struct xtb *)(uintptr_t)qemu_plugin_u64_get(run_tb, jx);
        if (!t) {
            continue;   /* own: the store's block has no checked instruction */
        }
        if (block_covers(t, bp, off, size, own, pc, own ? later : NULL)) {
            qemu_plugin_u64_set(same_tb_flag, jx, 1);
        }
    }
}

/* same_block_store over [va, va+len), page by page (it looks at one; a
 * page that is not tracked holds no running block).  model_lock held. */
static void same_block_range(unsigned idx, uint64_t pc, uint64_t va, uint64_t len,
                             const struct xtb *own_t, struct at_store *later)
{
    for (uint64_t a = va; a < va + len;) {
        uint64_t next = (a | (PAGE_SIZE - 1)) + 1;
        uint64_t e = next < va + len ? next : va + len;
        if (page_tracked(a)) {
            same_block_store(idx, pc, a, (unsigned)(e - a), own_t, later);
        }
        a = next;
    }
}

/* The instructions of the storing thread's own block that a store reached
 * (at_store), checked once model_lock is released (check_one takes it). */
static void check_later(unsigned idx, const struct at_store *later)
{
    for (unsigned k = 0; k < later->n; k++) {
        count_checked(idx, 1);
        (void)check_one(cur(idx), later->x[k]);
    }
}

/* ---- stores ---- */

/*
 * Did a compare-and-swap or store-exclusive write?  qemu 10 implements
 * both with its compare-and-exchange helper, which reports a write
 * callback with the new value whether or not the comparison held (a
 * failed CAS, or a STXR whose monitor was lost: memory unchanged).  Taken
 * as stores, they made the failing thread the writer of bytes it never
 * wrote: a code word "written" without maintenance (a false not-cleaned),
 * or a flag slot carrying the failing thread's knowledge to a reader that
 * never synchronised with it (a missed no-context-sync).  The read half
 * decides, as qemu does: a CAS writes if the value read equals its
 * comparand register(s) (read in the read callback, before the
 * instruction writes the old value back into them); a STXR or STXP that
 * reaches the helper (its address matched the monitor) writes if the
 * value read equals what the thread's last load-exclusive read
 * (ldx_val).  Comparing memory with the new value after the fact was not
 * enough: another thread's store may replace a successful one before its
 * callback (code published by STLXR and acquired by SWPA lost its
 * reads-from edge).
 */
/* The group of exclusive, ordered and compare-and-swap instructions (ARM
 * ARM C4.1, "Loads and Stores"): which one is I, if any? */
enum xk { XK_NONE, XK_ORDERED, XK_CAS, XK_LOAD_EXCL, XK_STORE_EXCL };
static enum xk a64_excl_kind(uint32_t i)
{
    if ((i & 0x3f000000u) != 0x08000000u) {
        return XK_NONE;
    }
    bool o2 = (i >> 23) & 1, o1 = (i >> 21) & 1, l = (i >> 22) & 1;
    if (o2 && !o1) {
        return XK_ORDERED;                                /* LDAR, STLR and kin */
    }
    if (o1 && (o2 || !(i >> 31))) {
        return XK_CAS;                                    /* CAS, CASP */
    }
    return l ? XK_LOAD_EXCL : XK_STORE_EXCL;              /* LDXR, LDXP / STXR, STXP */
}

static uint64_t ldx_val[MAX_VCPUS][2];   /* the last load-exclusive's value */
static bool cas_fails[MAX_VCPUS];        /* this instruction's store writes nothing */

/* The operations of the atomics whose value written qemu may report as
 * their operand (struct rmw_read); 0: none. */
enum rmw_op { OP_NONE, OP_ADD, OP_CLR, OP_AND, OP_EOR, OP_OR, OP_SMAX, OP_SMIN, OP_UMAX, OP_UMIN };

/*
 * The read half of an atomic read-modify-write, kept by its read callback
 * for its write callback (store_slow), which qemu runs right after it
 * (atomic_trace_rmw_post; an exclusive section's step makes the load and
 * the store one after the other).  Per host thread, which under qemu-user
 * is the vcpu's.  Two uses:
 *
 * - AArch64's LD<op> and RISC-V's AMO<op> atomics (OP, OPERAND): what
 *   qemu 10 reports as the value written depends on how it ran the
 *   instruction: its atomic helpers report the operand register (LDCLR:
 *   its complement, as they compute an AND), not the result, while the
 *   translation it uses without parallel threads reports the result
 *   (measured on each kind, 2 December; which one runs is qemu's choice,
 *   even in a process with one thread).  So the value is computed here,
 *   from the value read and the operand register (Rs, rs2), read in the
 *   read callback, before the instruction writes the value read into its
 *   destination register (rmw_written).  Taken as
 *   written, every slot of a word such atomics update held the operand:
 *   no load of it matched its slot, each waited for every store in
 *   flight and then joined whatever the slot held last (measured: every
 *   one of 80 000 atomic loads of a four-thread LDADD loop), and the
 *   model's copy of code written so held wrong bytes.
 * - The reads-from of an atomic of one access (COUNT != 0, the thread's
 *   store count at the read, sf_count: a read whose write never came is
 *   not taken for the next instruction's) is made by the write callback,
 *   once it has recorded the bytes the instruction writes
 *   (flight_record): a thread that waits for others then always shows
 *   what it wrote, and another atomic that read something else does not
 *   wait for it.  Before, the read waited with only the address
 *   recorded: on a word many threads add to, each atomic waited for
 *   every other in flight, among them those that had read its own value
 *   and waited for it, and only the rules against cycles of waits ended
 *   that, giving up edges (false no-context-sync reports on code
 *   published through such a word: tools/check/tests/aarch64/atomic_storm.c).
 */
struct rmw_read {
    uint64_t count, va;
    unsigned size;
    enum rmw_op op;      /* an LD<op>'s or AMO<op>'s operation, OP_NONE for the others */
    uint64_t operand;    /* its operand register's value */
    uint8_t bytes[24];   /* 8 past the last: model.c slot_matches */
};
static __thread struct rmw_read rmw;

/* AArch64's LD<op> group (ARM ARM C6.2, "Atomic memory operations": o3 =
 * 0, LDADD to LDUMIN, and the ST<op> aliases). */
static enum rmw_op a64_rmw_op(uint32_t i)
{
    static const enum rmw_op ops[8] = { OP_ADD,  OP_CLR,  OP_EOR,  OP_OR,
                                        OP_SMAX, OP_SMIN, OP_UMAX, OP_UMIN };
    return (i & 0x3f208c00u) == 0x38200000u ? ops[(i >> 12) & 7] : OP_NONE;
}

/* RISC-V's AMO<op>.W/.D (the A extension, funct5 of opcode AMO; not
 * AMOSWAP, LR and SC, whose value written qemu reports as such). */
static enum rmw_op rv_rmw_op(uint32_t i)
{
    if ((i & 0x7f) != 0x2f || (((i >> 12) & 7) != 2 && ((i >> 12) & 7) != 3)) {
        return OP_NONE;
    }
    switch (i >> 27) {
    case 0x00: return OP_ADD;
    case 0x04: return OP_EOR;
    case 0x08: return OP_OR;
    case 0x0c: return OP_AND;
    case 0x10: return OP_SMIN;
    case 0x14: return OP_SMAX;
    case 0x18: return OP_UMIN;
    case 0x1c: return OP_UMAX;
    default: return OP_NONE;
    }
}

/* The SIZE bytes an atomic of operation OP wrote (into OUT): the value
 * read, OLD, with the operation applied to its operand register's value
 * OPND. */
static void rmw_written(enum rmw_op op, unsigned size, const uint8_t *old, uint64_t opnd,
                        uint8_t *out)
{
    uint64_t a = 0, r;
    memcpy(&a, old, size);
    unsigned bits = size * 8;
    uint64_t mask = size >= 8 ? ~0ull : (1ull << bits) - 1;
    uint64_t b = opnd & mask;
    a &= mask;
    /* Sign-extended copies, for the signed maximum and minimum. */
    int64_t sa = (int64_t)(a << (64 - bits)) >> (64 - bits);
    int64_t sb = (int64_t)(b << (64 - bits)) >> (64 - bits);
    switch (op) {
    case OP_ADD: r = a + b; break;
    case OP_CLR: r = a & ~b; break;
    case OP_AND: r = a & b; break;
    case OP_EOR: r = a ^ b; break;
    case OP_OR: r = a | b; break;
    case OP_SMAX: r = (uint64_t)(sa > sb ? sa : sb); break;
    case OP_SMIN: r = (uint64_t)(sa < sb ? sa : sb); break;
    case OP_UMAX: r = a > b ? a : b; break;
    case OP_UMIN: r = a < b ? a : b; break;
    default: return;
    }
    r &= mask;
    memcpy(out, &r, size);
}

/*
 * The bytes of an access's value (qemu_plugin_mem_get_value), the rest of
 * BYTES left as they are (zero).  Each member is copied at its own width:
 * qemu sets only the member of the access's size, so a 16-byte copy of
 * the union also copied bytes qemu never wrote (harmless where a mask
 * dropped them, but it read them back wider than they were written).
 */
static inline void mem_bytes(const qemu_plugin_mem_value *v, uint8_t *bytes)
{
    switch (v->type) {
    case QEMU_PLUGIN_MEM_VALUE_U8: bytes[0] = v->data.u8; break;
    case QEMU_PLUGIN_MEM_VALUE_U16: memcpy(bytes, &v->data.u16, 2); break;
    case QEMU_PLUGIN_MEM_VALUE_U32: memcpy(bytes, &v->data.u32, 4); break;
    case QEMU_PLUGIN_MEM_VALUE_U64: memcpy(bytes, &v->data.u64, 8); break;
    default:
        memcpy(bytes, &v->data.u128.low, 8);
        memcpy(bytes + 8, &v->data.u128.high, 8);
        break;
    }
}

/* The read half of a CAS, CASP, STXR or STXP (on_load, LD_MAYFAIL). */
static void decide_store(unsigned idx, uint32_t i, qemu_plugin_meminfo_t info)
{
    qemu_plugin_mem_value val = qemu_plugin_mem_get_value(info);
    unsigned size = 1u << qemu_plugin_mem_size_shift(info);
    uint64_t lo = val.type == QEMU_PLUGIN_MEM_VALUE_U128 ? val.data.u128.low : val.data.u64;
    uint64_t hi = val.type == QEMU_PLUGIN_MEM_VALUE_U128 ? val.data.u128.high : 0;
    uint64_t mask = size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
    uint64_t want_lo, want_hi = 0;
    if (a64_excl_kind(i) == XK_CAS) {
        unsigned rs = (i >> 16) & 31;
        if ((i >> 23) & 1) {                       /* CAS: Rs */
            want_lo = read_reg(rs);
        } else if (size == 16) {                   /* CASP, X pair: Rs, Rs+1 */
            want_lo = read_reg(rs);
            want_hi = read_reg(rs + 1);
        } else {                                   /* CASP, W pair: one access */
            want_lo = (read_reg(rs) & 0xffffffffull) | read_reg(rs + 1) << 32;
        }
    } else {                                       /* STXR, STXP */
        want_lo = ldx_val[vcpu_slot(idx)][0];
        want_hi = ldx_val[vcpu_slot(idx)][1];
    }
    cas_fails[vcpu_slot(idx)] = (lo & mask) != (want_lo & mask) || (size == 16 && hi != want_hi);
}

/*
 * Everything a store does beyond the fast path of on_store.  Registered
 * with QEMU_PLUGIN_MEM_W, the callback runs only for accesses that write
 * (qemu's inject_mem_cb and qemu_plugin_vcpu_mem_cb test the access's
 * rw against the registration's), atomic read-modify-writes included.
 */
static __attribute__((noinline)) void store_slow(unsigned idx, qemu_plugin_meminfo_t info,
                                                 uint64_t va, uint64_t u, const struct xtb *own_t)
{
    void *ud = (void *)(uintptr_t)(u & UD_PC);
    unsigned size = 1u << qemu_plugin_mem_size_shift(info);
    unsigned foot = (unsigned)((u & UD_FOOT) >> UD_FOOT_SHIFT);
    bool fails = (u & UD_MAYFAIL) && cas_fails[vcpu_slot(idx)];
    bool shadow = cfg.arch == ARCH_AARCH64 && __atomic_load_n(&several_threads, __ATOMIC_RELAXED);
    /* The last byte's page too: an unaligned store may begin on a data
     * page and end on code (straddle_store.c). */
    uint64_t last = va + (size <= 16 ? size : 16) - 1;
    bool tracked = page_tracked(va) || page_tracked(last);
    uint8_t bytes[24] = { 0 };   /* 8 past the last: model.c slot_put */
    if (shadow || tracked || foot == FOOT_ONE) {
        qemu_plugin_mem_value val = qemu_plugin_mem_get_value(info);
        mem_bytes(&val, bytes);
        if ((u & UD_LDOP) && rmw.op && rmw.va == va && size <= 8) {
            rmw_written(rmw.op, size, rmw.bytes, rmw.operand, bytes);
        }
    }
    if (foot) {
        /* First: loads may be waiting for this store (flight_record), with
         * the bytes it writes when it is one access; a CAS or STXR that
         * failed writes none (qemu reports its new value all the same). */
        if (fails) {
            flight_record(idx, 0, 0, NULL, false);   /* replaces its read's record */
        } else if (foot == FOOT_ONE) {
            flight_record(idx, va, size, bytes, false);   /* an atomic's too */
        } else {
            flight_record(idx, va, foot, NULL, true);
        }
    }
    if (rmw.count && rmw.count == qemu_plugin_u64_get(sf_count, idx)) {
        /* The read half of this atomic (struct rmw_read): its reads-from,
         * now that others can see what it writes. */
        rmw.count = 0;
        model_load(cur(idx), rmw.va, rmw.size, rmw.bytes, true);
    }
    if (fails) {
        if (u & UD_CLEAR) {
            qemu_plugin_u64_set(sf_mark, idx, SF_NONE);   /* nothing to publish */
        }
        return;
    }
    size = size <= 16 ? size : 16;
    /* The code model's record of the store first, then its slot, then the
     * mark: a load that waited for this store in flight (until its slot
     * held the bytes read, or its mark was cleared) finds the word's store
     * recorded when it joins it (model_load).  The other way round, a
     * load of a code word as data could join the word's earlier store
     * and miss this one (a not-cleaned on 2SM.B+cachesync-isb of the
     * catalogue, once in a full run). */
    struct at_store later = { 0 };
    bool modelled = false;
    if (tracked) {
        pthread_mutex_lock(&model_lock);
        if (page_tracked(va) || page_tracked(last)) {
            stacks_note_store((uint64_t)(uintptr_t)ud);
            model_store(cur(idx), va, size, bytes, (uint64_t)(uintptr_t)ud);
            /* After model_store: the backing pages exist now. */
            same_block_range(idx, (uint64_t)(uintptr_t)ud, va, size, own_t, &later);
            modelled = true;
        }
        pthread_mutex_unlock(&model_lock);
    }
    if (shadow) {
        /* What this store carries to the loads that read it (alone, the
         * thread's knowledge reaches the threads it creates through the
         * kernel: model_thread_start), with the bytes it wrote. */
        model_store_shadow(cur(idx), va, size, bytes, (u & UD_RELEASE) != 0);
    }
    if ((u & UD_CLEAR) && flight_done(idx, foot, va + size)) {
        /* The last instruction of its block: no inline clear follows it
         * in the block, and the next block's clear may come only after an
         * exclusive section of qemu, which waits for every thread to leave
         * its block, a load waiting for this mark included.  The slot is
         * published before the mark is cleared; a pair's mark stays until
         * its second access's callback (flight_done). */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        qemu_plugin_u64_set(sf_mark, idx, SF_NONE);
    }
    if (modelled) {
        check_later(idx, &later);
    }
}

/*
 * A store qemu makes without a memory callback (DC ZVA, the FEAT_MOPS
 * sequences: stores.c), already handed to the model: the instructions of
 * running blocks it reached are checked as for any other store, page by
 * page.  block: the storing instruction's own (NULL: it has no checks).
 */
static void bulk_written(unsigned idx, uint64_t pc, uint64_t va, uint64_t len, const void *block)
{
    struct at_store later = { 0 };
    pthread_mutex_lock(&model_lock);
    same_block_range(idx, pc, va, len, block, &later);
    pthread_mutex_unlock(&model_lock);
    check_later(idx, &later);
}

/*
 * Every store of the program, whatever its address: qemu's memory
 * callbacks have no address filter.  Almost every store of almost every
 * program takes the first return: one thread (no shadow of memory to
 * keep), no store-in-flight mark to clear, no CAS or store-exclusive, and
 * a page that neither holds nor may hold code.  That path has no call and
 * no stack frame; it is most of what a store costs under the checker
 * (pcre2grep: 22 million stores, 800 of them to tracked pages).
 */
static void on_store(unsigned int idx, qemu_plugin_meminfo_t info, uint64_t va, void *ud)
{
    uint64_t u = (uint64_t)(uintptr_t)ud;
    /* The filter is saturated once the shadow of memory is kept
     * (set_several_threads): then no store returns here. */
    if (!(u & (UD_CLEAR | UD_MAYFAIL)) && !store_filter_test16(va)) {
        return;
    }
    store_slow(idx, info, va, u, NULL);
}

/* A store in a block with checked instructions: ud is its struct xstore,
 * with XSTORE_SLOW in the low bit when its userdata has UD_CLEAR or
 * UD_MAYFAIL, so that the fast path reads nothing through it. */
#define XSTORE_SLOW 1u
static void on_store_in(unsigned int idx, qemu_plugin_meminfo_t info, uint64_t va, void *ud)
{
    uintptr_t p = (uintptr_t)ud;
    if (!(p & XSTORE_SLOW) && !store_filter_test16(va)) {
        return;
    }
    const struct xstore *s = (const struct xstore *)(p & ~(uintptr_t)XSTORE_SLOW);
    store_slow(idx, info, va, s->ud, s->t);
}

/* ---- loads (AArch64 reads-from) ---- */

/*
 * Is thread j's host thread asleep somewhere other than the plugin's own
 * lock?  A thread asleep inside a store instruction is in qemu (its
 * exclusive section, which waits for every other thread, the waiting load
 * included, to leave its block; the mmap lock), not in the store's
 * callback: the load cannot wait for it.  Read from /proc: its state, and
 * the futex it waits on when it is in a system call.
 */
static bool asleep_outside_plugin(unsigned j)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", vcpus[j].tid);
    FILE *f = fopen(path, "r");
    if (!f) {
        return true;   /* the thread is gone */
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] != 'S') {
        return false;   /* running, runnable (preempted), or in a page fault */
    }
    snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", vcpus[j].tid);
    f = fopen(path, "r");
    if (!f) {
        return true;
    }
    long nr = -1;
    unsigned long long a0 = 0;
    int got = fscanf(f, "%ld %llx", &nr, &a0);
    fclose(f);
    return !(got == 2 && nr == SYS_futex && a0 == (unsigned long long)(uintptr_t)&model_lock);
}

/*
 * Waits for stores in flight must not form a cycle.  A plain load or a
 * fetch check is not marked (its thread has no store in flight), so no
 * one waits for it.  An atomic's load is marked (its instruction's store
 * is in flight until its store callback, which follows this wait): two
 * atomics each waiting for the other's mark would wait for ever
 * (cmodx-demo on aarch64 hung so once: four callers' LDSET on a lock
 * word).  Only atomics' loads can thus be on a cycle.
 *
 * Most waits between atomics cannot be on one.  An atomic of one access
 * (SF_ATOMIC1) makes its reads-from in its write callback, after it has
 * recorded the bytes it writes (struct rmw_read), and a load that read
 * other bytes than a store records does not wait for it (flight_elsewhere).
 * A wait for such an atomic is thus for the store that wrote the value
 * read, which the architecture puts before the waiter's own write in the
 * word's coherence order: a cycle of such waits would need a value
 * written twice (an LDSET of a bit already set).  Before the record has
 * its bytes (the thread between its access and its write callback, where
 * it does not wait itself), the wait is not declared; once it has them
 * and they are the bytes read, it is (waiting_for, with the count of the
 * store waited for, wait_count, and when the wait was declared,
 * wait_ticket, from one counter; seq_cst stores made before it looks at
 * the other thread again).  Atomics of several accesses (SF_ATOMIC: CASP,
 * STXP) record no bytes and declare their waits at once.
 *
 * A thread that waits follows the chain of declared waits from the
 * thread it waits for, each link checked to be current (the thread waited
 * for is still at the store counted, and has not recorded other bytes than
 * the waiter read: want_lo, want_hi, want); on a chain that comes back to
 * it, a thread gives up its wait when the atomic it waits for made its
 * access after its own (cycle_breaks_here).  Every thread of a cycle that
 * lasts sees it at its next look, and at least one of them gives up, so
 * no cycle lasts; a chain that ends, or loops without this thread (its
 * members break it), is waited out, and the edge from the store it read
 * is kept.  What is given up: a waiter acquires nothing from the store it
 * stopped waiting for, if that is the one it read (it can only add
 * reports; docs/CHECKER.md).  The last vcpu record
 * is shared by every thread past MAX_VCPUS - 1 (vcpu_slot): an atomic
 * there, or waiting on one there, does not wait for atomics (its chain
 * cannot be followed).
 *
 * Before the records held what atomics write, every atomic on a word many
 * threads add to waited for every other one in flight, and cycles formed
 * all the time; the rules that broke them then (a load's one ticket, and
 * no wait for an atomic whose wait began later) gave up edges: false
 * no-context-sync reports on code published through such a word
 * (tools/check/tests/aarch64/atomic_storm.c), and sixteen threads' LDADD on one
 * word (20 000 each; 0.09 s under plain qemu) took 9 s, forty 46 s.  A
 * link not checked to be current made false cycles too: a thread that
 * had waited for this one before its record had bytes, preempted before it
 * looked again, closed a chain this one then gave up on.
 */
static uint64_t wait_tickets;   /* tells the declarations of atomics' waits apart */
static uint64_t access_stamps;  /* orders atomics' accesses (cycle_breaks_here) */

/* Is k's declared wait current: the thread it waits for still at the
 * store counted, with no record of other bytes than k read?  The fields
 * are re-read after the check, so that a wait declared anew meanwhile (a
 * new ticket) is not judged by the old one's. */
static bool wait_current(unsigned k, unsigned w, uint64_t t)
{
    uint64_t c = __atomic_load_n(&vcpus[k].wait_count, __ATOMIC_SEQ_CST);
    uint64_t lo = __atomic_load_n(&vcpus[k].want_lo, __ATOMIC_SEQ_CST);
    uint64_t hi = __atomic_load_n(&vcpus[k].want_hi, __ATOMIC_SEQ_CST);
    uint64_t want = __atomic_load_n(&vcpus[k].want, __ATOMIC_SEQ_CST);
    bool known = __atomic_load_n(&vcpus[k].want_known, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&vcpus[k].wait_ticket, __ATOMIC_SEQ_CST) != t ||
        __atomic_load_n(&vcpus[k].waiting_for, __ATOMIC_SEQ_CST) != w + 1) {
        return false;   /* k has moved on */
    }
    const struct sf *e = qemu_plugin_scoreboard_find(sf_board, vcpus[w].idx);
    if (__atomic_load_n(&e->mark, __ATOMIC_SEQ_CST) == SF_NONE ||
        __atomic_load_n(&e->count, __ATOMIC_SEQ_CST) != c) {
        return false;   /* w's store has published */
    }
    return !flight_elsewhere(e, c, lo, hi, known ? (const uint8_t *)&want : NULL);
}

/* Does the chain of declared waits from j come back to me, and is my
 * link of that cycle one to give up: does j's atomic come after mine in
 * the order of their accesses (access_stamp), so that I cannot have read
 * what it wrote?  Around a cycle the stamps cannot only fall, so at least
 * one of its threads gives up, and each that does gives up a wait for a
 * store that was made after its own read (unless its thread was preempted
 * between its access and its read callback, where the stamp is taken).
  * "The oldest wait gives up", the rule before, gave up true edges as
 * often as false ones where values repeat: false no-context-sync reports
 * in about half the runs of the hostile review's counter that goes 0, 1,
 * 0 while code is published through it (atomic_storm's "aba" mode; 1 run
 * in 10 to 30 at c7152f7, 4 of 12 with this rule: docs/CHECKER.md). */
static bool cycle_breaks_here(unsigned j, unsigned me)
{
    /* Read again at each look: a thread created since this wait began
     * may be on the cycle (a stale count made its links look out of
     * range, and no thread of such a cycle gave up: a hang with threads
     * created while others were waiting, found by the hostile review). */
    unsigned n = __atomic_load_n(&nvcpu_idx, __ATOMIC_ACQUIRE);
    unsigned k = j;
    for (unsigned steps = 0; steps <= n; steps++) {
        uint32_t w = __atomic_load_n(&vcpus[k].waiting_for, __ATOMIC_SEQ_CST);
        uint64_t t = __atomic_load_n(&vcpus[k].wait_ticket, __ATOMIC_SEQ_CST);
        if (!w || w - 1 >= n || !wait_current(k, w - 1, t)) {
            return false;
        }
        k = w - 1;
        if (k == me) {
            return __atomic_load_n(&vcpus[j].access_stamp, __ATOMIC_SEQ_CST) >
                   __atomic_load_n(&vcpus[me].access_stamp, __ATOMIC_SEQ_CST);
        }
    }
    return false;   /* a cycle without this thread: its members break it */
}

void model_wait_stores(const struct vcpu *v, bool atomic_load, uint64_t lo, uint64_t hi,
                       const uint8_t *want, bool (*done)(const void *), const void *arg)
{
    if (!sf_board) {
        return;
    }
    unsigned me = (unsigned)(v - vcpus);
    unsigned n = __atomic_load_n(&nvcpu_idx, __ATOMIC_RELAXED);
    if (atomic_load) {
        /* What this load read (model_load: at most the 8 bytes of a
         * granule), for the threads that follow its waits. */
        uint64_t w = 0;
        bool known = want && hi - lo <= 8;
        if (known) {
            memcpy(&w, want, hi - lo);
        }
        __atomic_store_n(&vcpus[me].want_lo, lo, __ATOMIC_SEQ_CST);
        __atomic_store_n(&vcpus[me].want_hi, hi, __ATOMIC_SEQ_CST);
        __atomic_store_n(&vcpus[me].want, w, __ATOMIC_SEQ_CST);
        __atomic_store_n(&vcpus[me].want_known, known, __ATOMIC_SEQ_CST);
    }
    /* An atomic's load does not end its wait when the slot holds the
     * bytes it read: those may be an earlier store's of the same bytes
     * (a count that goes up and down), and the store it read, in flight
     * still, is the later one (the hostile review's counter going 0, 1, 0: false reports in half the runs). */
    bool early = !atomic_load;
    for (unsigned j = 0; j < n; j++) {
        if (early && done && done(arg)) {
            return;
        }
        if (j == me || !vcpus[j].live) {
            continue;
        }
        /* The scoreboard grows only in an exclusive section, which cannot
         * run while this thread is inside a block: the pointer stays. */
        const struct sf *e = qemu_plugin_scoreboard_find(sf_board, vcpus[j].idx);
        uint64_t m = __atomic_load_n(&e->mark, __ATOMIC_ACQUIRE);
        if (m == SF_NONE) {
            continue;
        }
        bool linked = atomic_load && (m == SF_ATOMIC || m == SF_ATOMIC1);
        if (linked && (me == MAX_VCPUS - 1 || j == MAX_VCPUS - 1)) {
            continue;   /* a shared record: no chain to follow (above) */
        }
        /* Read after the mark, which the thread sets after the count: the
         * count of the marked store or of a later one. */
        uint64_t c = __atomic_load_n(&e->count, __ATOMIC_ACQUIRE);
        uint64_t ticket = 0;   /* this wait's, once declared */
        for (unsigned k = 1; __atomic_load_n(&e->mark, __ATOMIC_ACQUIRE) == m &&
                             __atomic_load_n(&e->count, __ATOMIC_ACQUIRE) == c;
             k++) {
            if (early && done && done(arg)) {
                break;   /* what the caller waits for has come */
            }
            enum flight f = flight_match(e, c, lo, hi, want);
            if (f == FLIGHT_ELSEWHERE) {
                break;   /* that store writes other bytes (flight_record) */
            }
            if (linked && !ticket && (m == SF_ATOMIC || f == FLIGHT_SAME)) {
                /* Declared (above): a wait that may be on a cycle. */
                ticket = __atomic_add_fetch(&wait_tickets, 1, __ATOMIC_SEQ_CST);
                __atomic_store_n(&vcpus[me].waiting_for, 0, __ATOMIC_SEQ_CST);
                __atomic_store_n(&vcpus[me].wait_ticket, ticket, __ATOMIC_SEQ_CST);
                __atomic_store_n(&vcpus[me].wait_count, c, __ATOMIC_SEQ_CST);
                __atomic_store_n(&vcpus[me].waiting_for, j + 1, __ATOMIC_SEQ_CST);
            }
            if (ticket && cycle_breaks_here(j, me)) {
                break;   /* a cycle, and j's access came after mine (above) */
            }
            /* The store is between its access and its callback: running on
             * the other core, or preempted (then this thread's time slice
             * is what it needs). */
            if (k >= 64) {
                sched_yield();
                if (k % 64 == 0 && asleep_outside_plugin(j)) {
                    break;
                }
            }
        }
        if (ticket) {
            __atomic_store_n(&vcpus[me].waiting_for, 0, __ATOMIC_SEQ_CST);
        }
    }
}

/* on_load's user data: the instruction's kind (and, for LD_MAYFAIL, the
 * instruction itself in the high half). */
#define LD_ATOMIC 1u    /* the read half of an atomic read-modify-write */
#define LD_MAYFAIL 2u   /* ... of a CAS, CASP, STXR or STXP (decide_store) */
#define LD_EXCL 4u      /* a load-exclusive (LDXR, LDAXR, LDXP, LDAXP) */
#define LD_ONEACC 8u    /* with LD_ATOMIC: its write is one access (flight_record) */
#define LD_LDOP 16u     /* an LD<op> or AMO<op> (struct rmw_read): enum rmw_op in bits 32-39,
                         * the operand register in 40-44 */

static void on_load(unsigned int idx, qemu_plugin_meminfo_t info, uint64_t va, void *ud)
{
    /* An atomic read-modify-write reaches this callback and on_store.
     * Whether this load is an atomic's comes from the instruction (UD, set
     * at translation), not from the access: qemu 10's atomic helpers
     * report a read-modify-write as two accesses, a read then a write
     * (accel/tcg/atomic_common.c.inc), so the read's meminfo never says
     * "store".  Taken for a plain load, an atomic's read waited for other
     * threads' atomics in flight while its own mark was set: two threads'
     * LDSET on one word waited for each other for ever (cmodx-demo on
     * aarch64, four callers taking a lock's bit). */
    uint64_t lu = (uint64_t)(uintptr_t)ud;
    if (lu & LD_ATOMIC) {
        /* First: the order of atomics' accesses, for cycles of waits
         * (cycle_breaks_here).  qemu runs this right after the access. */
        __atomic_store_n(&cur(idx)->access_stamp,
                         __atomic_add_fetch(&access_stamps, 1, __ATOMIC_SEQ_CST), __ATOMIC_SEQ_CST);
    }
    if (lu & LD_ONEACC) {
        /* The write is made (qemu reports the read after the whole
         * read-modify-write); its callback comes next and records its
         * bytes (flight_record). */
        flight_record(idx, va, 1u << qemu_plugin_mem_size_shift(info), NULL, false);
    }
    if (lu & LD_MAYFAIL) {
        decide_store(idx, (uint32_t)(lu >> 32), info);
    } else if (lu & LD_EXCL) {
        /* A load-exclusive: what its store-exclusive will compare with. */
        qemu_plugin_mem_value v = qemu_plugin_mem_get_value(info);
        bool wide = v.type == QEMU_PLUGIN_MEM_VALUE_U128;
        ldx_val[vcpu_slot(idx)][0] = wide ? v.data.u128.low : v.data.u64;
        ldx_val[vcpu_slot(idx)][1] = wide ? v.data.u128.high : 0;
    }
    unsigned size = 1u << qemu_plugin_mem_size_shift(info);
    if (lu & (LD_LDOP | LD_ONEACC)) {
        /* For the write callback (struct rmw_read). */
        qemu_plugin_mem_value val = qemu_plugin_mem_get_value(info);
        memset(rmw.bytes, 0, sizeof(rmw.bytes));
        mem_bytes(&val, rmw.bytes);
        rmw.va = va;
        rmw.size = size <= 16 ? size : 16;
        /* LD_LDOP: the operation and, above it, the operand register. */
        rmw.op = (lu & LD_LDOP) ? (enum rmw_op)((lu >> 32) & 0xff) : OP_NONE;
        unsigned r = (unsigned)(lu >> 40) & 31;
        rmw.operand = !rmw.op ? 0
                      : cfg.arch == ARCH_RISCV64 ? read_handle(rv_x[r])   /* x0: 0 */
                                                 : read_reg(r);           /* XZR: 0 */
        if (cfg.arch != ARCH_AARCH64) {
            return;   /* no reads-from on the other targets */
        }
        rmw.count = (lu & LD_ONEACC) ? qemu_plugin_u64_get(sf_count, idx) : 0;
        if (lu & LD_ONEACC) {
            return;   /* its reads-from too is made there */
        }
    }
    if (!__atomic_load_n(&several_threads, __ATOMIC_RELAXED) && !page_tracked(va) &&
        !page_tracked(va + size - 1)) {
        return;   /* no other thread has stored anything this one could read */
    }
    bool atomic = (lu & LD_ATOMIC) != 0;
    if (!lu && model_load_quick(cur(idx), va, size)) {
        return;   /* a plain load that orders nothing new (model.c) */
    }
    qemu_plugin_mem_value val = qemu_plugin_mem_get_value(info);
    uint8_t bytes[24] = { 0 };   /* 8 past the last: model.c slot_matches */
    mem_bytes(&val, bytes);
    /* The bytes read (an atomic's too: qemu passes the read half the old
     * value), matched against the slots; an atomic waits as model_load
     * says (it is marked in flight itself). */
    model_load(cur(idx), va, size <= 16 ? size : 16, bytes, atomic);
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
    case M_IC:
        if (!sys_ic_misses_fetch_alias(idx)) {   /* VIPT: see syscall.c */
            model_ic(v, addr);
        }
        break;
    case M_IC_ALL: model_ic_all(v); break;
    case M_DSB: model_dsb(v); break;
    case M_BAR: model_barrier(v, (u >> 8) & 1, (enum bar)((u >> 9) & 3)); break;
    case M_ISB: model_isb(v); break;
    case M_CSYNC: model_csync(v); break;
    case M_LOCAL_FLUSH: sys_fence_i(v, idx); break;
    case M_SVC: sys_private_call(v); break;
    }
    pthread_mutex_unlock(&model_lock);
}

/*
 * Store-release instructions (ARM ARM B2.3.7: every earlier memory access
 * is ordered before them): STLR{B,H}, STLXR{B,H}, STLXP, STLUR*, CAS*L,
 * CASP*L, SWP*L and the LD<op>*L atomics.
 */
static bool a64_release(uint32_t i)
{
    return (i & 0x3fe08000u) == 0x08808000u ||          /* STLR */
           (i & 0x3fe08000u) == 0x08008000u ||          /* STLXR */
           (i & 0xbfe08000u) == 0x88208000u ||          /* STLXP */
           (i & 0x3fe00c00u) == 0x19000000u ||          /* STLUR */
           (i & 0x3fa08000u) == 0x08a08000u ||          /* CAS*L */
           (i & 0xbfa08000u) == 0x08208000u ||          /* CASP*L */
           ((i & 0x3f200c00u) == 0x38200000u && (i & 0x00400000u));   /* SWP/LD<op> with R */
}

/*
 * May the instruction write memory with a memory callback (ARM ARM C4.1.
 * "Loads and Stores" encodings)?  SF_ATOMIC for the atomic and exclusive
 * ones (their load and store are one access; qemu may run them again in an
 * exclusive section), SF_PLAIN for the other stores, SF_NONE for loads,
 * prefetches and the copy/set and tag instructions (no memory callback:
 * stores.c).  A load must never be marked: a marked thread may be waited
 * for by the loads of others.
 */
static unsigned a64_store_kind(uint32_t i)
{
    if ((i & 0xfe000000u) == 0xe4000000u) {
        return SF_PLAIN;                                  /* SVE stores */
    }
    if ((i & 0x0a000000u) != 0x08000000u) {
        return SF_NONE;                                   /* not loads and stores */
    }
    bool l = (i >> 22) & 1;
    switch (a64_excl_kind(i)) {                           /* exclusive, ordered, CAS */
    case XK_ORDERED: return l ? SF_NONE : SF_PLAIN;       /* LDAR, LDLAR / STLR, STLLR */
    case XK_CAS: return SF_ATOMIC;                        /* CAS, CASP */
    case XK_LOAD_EXCL: return SF_NONE;                    /* LDXR, LDXP */
    case XK_STORE_EXCL: return SF_ATOMIC;                 /* STXR, STXP */
    case XK_NONE: break;
    }
    if ((i & 0xbe000000u) == 0x0c000000u) {
        return l ? SF_NONE : SF_PLAIN;                    /* SIMD structures: LDn / STn */
    }
    if ((i & 0x3f200c00u) == 0x19000000u) {
        return (i >> 22) & 3 ? SF_NONE : SF_PLAIN;        /* LDAPUR* / STLUR* */
    }
    if ((i & 0x38000000u) == 0x28000000u) {
        return l ? SF_NONE : SF_PLAIN;                    /* pairs: LDP / STP, STNP, STGP */
    }
    if ((i & 0x38000000u) == 0x38000000u) {               /* load/store register */
        bool simd = (i >> 26) & 1;
        unsigned opc = (i >> 22) & 3;
        if (!(i & 0x01000000u) && (i & 0x00200000u)) {
            unsigned op4 = (i >> 10) & 3;
            if (op4 == 0) {                               /* atomic memory operations */
                unsigned o3opc = (i >> 12) & 15;
                return simd || o3opc == 12 || o3opc == 13 ? SF_NONE   /* LDAPR, LD64B */
                                                          : SF_ATOMIC;
            }
            if (op4 & 1) {
                return SF_NONE;                           /* LDRAA, LDRAB */
            }
        }
        /* STR (opc 00); SIMD&FP also STR Q (opc 10); the rest load or
         * prefetch */
        return (simd ? (opc & 1) == 0 : opc == 0) ? SF_PLAIN : SF_NONE;
    }
    return SF_NONE;                                       /* literal loads, MOPS, tags */
}

/*
 * Where does a store instruction (a64_store_kind not SF_NONE) write, for
 * its in-flight record (flight_record)?  FOOT_ONE: in one access, one
 * memory callback (every tcg_gen_qemu_st of qemu's translator is one
 * callback, 16-byte ones included): the general-register and SIMD&FP
 * single-register stores (STR, STUR and their indexed forms), STLR,
 * STLUR, the atomics on one register, CAS, STXR, and the general-register
 * pairs (STP, STNP: one access of 8 or 16 bytes).  N: the SIMD&FP pairs,
 * two accesses of N / 2 bytes, the first at the lower address (qemu's
 * trans_STP_v), so the first callback's address and N bound both.  0:
 * unknown (CASP, STXP, STGP, the structure and SVE stores): no record,
 * and loads wait for the instruction as before.
 */
static unsigned a64_footprint(uint32_t i)
{
    switch (a64_excl_kind(i)) {
    case XK_ORDERED: return FOOT_ONE;                     /* STLR, STLLR */
    case XK_CAS: return (i >> 23) & 1 ? FOOT_ONE : 0;     /* CAS, not CASP */
    case XK_STORE_EXCL: return (i >> 21) & 1 ? 0 : FOOT_ONE;   /* STXR, not STXP */
    case XK_LOAD_EXCL: return 0;
    case XK_NONE: break;
    }
    if ((i & 0x3f200c00u) == 0x19000000u) {
        return FOOT_ONE;                                  /* STLUR* */
    }
    if ((i & 0x3a000000u) == 0x38000000u) {
        return FOOT_ONE;                                  /* load/store register, atomics */
    }
    if ((i & 0x38000000u) == 0x28000000u) {               /* pairs */
        unsigned opc = i >> 30;
        if (!((i >> 26) & 1)) {
            return opc == 1 ? 0 : FOOT_ONE;               /* STGP / STP, STNP */
        }
        return opc == 3 ? 0 : 2u * (4u << opc);           /* STP, STNP of S, D, Q */
    }
    return 0;
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
    if ((i & 0xfffff0dfu) == 0xd503309fu) {   /* DSB / DMB <option> */
        unsigned crm = (i >> 8) & 15;
        bool dsb = !(i & 0x20);
        if (dsb && (crm == 0 || crm == 4)) {
            return 0;                           /* SSBB, PSSBB */
        }
        /* The option's low bits: 1 LD, 2 ST, 3 (and 0: reserved, taken
         * as SY) full; NSH/ISH/OSH/SY alike (one shareability domain). */
        enum bar k = (crm & 3) == 1 ? BAR_LD : (crm & 3) == 2 ? BAR_ST : BAR_FULL;
        return M_BAR | (uintptr_t)dsb << 8 | (uintptr_t)k << 9;
    }
    if ((i & 0xfffff0ffu) == 0xd50330dfu) {
        return M_ISB;                           /* ISB */
    }
    return 0;
}

/* thumb: the block is known to be Thumb code (it holds a 16-bit
 * instruction, or one at an address that is not a multiple of 4; the
 * plugin API does not give the instruction set).  A 32-bit Thumb-2
 * instruction can have an A32 encoding's bits: f06x f57f, a BL, reads as
 * the A32 ISB. */
static uintptr_t decode_arm(uint32_t i, size_t size, bool thumb)
{
    if (size == 4 && !thumb && (i & 0xfffffff0u) == 0xf57ff060u) {
        return M_ISB;                           /* A32 ISB */
    }
    if (size == 4 && (i & 0xfff0ffffu) == 0x8f60f3bfu) {
        return M_ISB;                           /* T32 ISB */
    }
    /* A32 SVC is cond 1111 imm24.  qemu hands a 32-bit Thumb-2
     * instruction over as one word too, its first halfword in the low
     * half, and that halfword is always 0xe800 or above (T32 prefixes
     * 0b11101, 0b11110, 0b11111): without that test, ordinary Thumb-2
     * instructions (PUSH.W, POP.W, CMP.W, ...) were taken for SVCs, each
     * run read r7 for an ARM private system call (a spurious cacheflush if
     * r7 held its number) and made the rest of its block checked
     * instruction by instruction: armhf pcre2grep ran 4.5x slower than
     * plain qemu.  An A32 SVC whose immediate's low 16 bits are 0xe800 or
     * above is not recognised (Linux's EABI calls use SVC #0). */
    if ((size == 4 && !thumb && (i & 0x0f000000u) == 0x0f000000u && (i >> 28) != 0xf &&
         (i & 0xffffu) < 0xe800u) ||
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

static uintptr_t decode(uint32_t i, size_t size, bool thumb)
{
    switch (cfg.arch) {
    case ARCH_AARCH64: return size == 4 ? decode_a64(i) : 0;
    case ARCH_ARM: return decode_arm(i, size, thumb);
    default: return decode_riscv(i, size);
    }
}

/* Add insn to the block's checks if its page may hold written code. */
static void maybe_check(struct xtb *t, struct qemu_plugin_insn *insn, uint64_t va,
                        const uint8_t *bytes, size_t size)
{
    struct map *m = map_find(va);
    /* Memory code may be written into: shared or anonymous, and any
     * mapping while it is writable (a program's own text made RWX to
     * patch itself: qemu drops the page's translations when an executable
     * page gains write, so its blocks are made again here, with checks,
     * before the first store; text_self.c). */
    bool cand = m && (m->kind == MK_SHARED || m->kind == MK_ANON || (m->prot & CM_PROT_WRITE)) &&
                !m->stack;
    struct bpage *bp = bpage_get(va, cand);
    if (!cand && !(bp && bp->words)) {
        return;
    }
    if (bp && !t->vbp) {
        t->vbp = bp;
    } else if (bp && bp != t->vbp) {
        t->vbp_several = true;
    }
    struct xinsn *x = &t->x[t->n++];
    x->vaddr = va;
    x->haddr = qemu_plugin_insn_haddr(insn);
    x->bp = bp;
    x->size = (uint8_t)(size < 4 ? size : 4);
    memcpy(x->bytes, bytes, x->size);
    if (t->after_maint) {
        /* A barrier or maintenance instruction earlier in the block changes
         * what this fetch needs: check it when it runs, not at the start. */
        x->solo = 1;
        qemu_plugin_register_vcpu_insn_exec_cb(insn, recheck_insn, QEMU_PLUGIN_CB_NO_REGS, x);
    } else if (va != t->start && t->full) {
        /* A store by an earlier instruction of the block, or by another
         * thread, may reach it before it runs.  With one thread only the
         * first can, and the store's own callback checks the instructions
         * of its block that it reached (at_store), whatever instruction
         * stored: no per-instruction test runs in that mode (arm64
         * pcre2grep: 0.37 s of CPU with the tests after every instruction
         * that may store, 0.35 s without; plain qemu 0.28 s). */
        x->armed = 1;
        qemu_plugin_register_vcpu_insn_exec_cond_cb(insn, recheck_insn, QEMU_PLUGIN_CB_NO_REGS,
                                                    QEMU_PLUGIN_COND_NE, same_tb_flag, 0, x);
    }
}

/* DC/IC read their address register, SVC/ECALL their syscall registers. */
static enum qemu_plugin_cb_flags maint_flags(uintptr_t m)
{
    enum maint k = (enum maint)(m & 0xff);
    return (k == M_DC || k == M_IC || k == M_SVC) ? QEMU_PLUGIN_CB_R_REGS
                                                  : QEMU_PLUGIN_CB_NO_REGS;
}

/* Returns the userdata of the instruction's store callback, which the
 * caller registers once it knows whether the block has checks. */
static uint64_t instrument(struct xtb *t, struct qemu_plugin_insn *insn, bool last, void **bulk)
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
    /* Stores in flight (above): the previous instruction's mark is cleared
     * before anything of this one runs. */
    if (t->prev_store && t->full) {
        qemu_plugin_register_vcpu_insn_exec_inline_per_vcpu(insn, QEMU_PLUGIN_INLINE_STORE_U64,
                                                            sf_mark, SF_NONE);
    }
    uintptr_t m = decode(i, size, t->thumb);
    if (m) {
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_maint, maint_flags(m), (void *)m);
    }
    /* Signal delivery is an exception entry: context synchronising (not on
     * RISC-V, where only fence.i reaches the fetch path). */
    if (cfg.arch != ARCH_RISCV64 && sys_nhandlers() && sys_is_handler(va)) {
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_maint, QEMU_PLUGIN_CB_NO_REGS,
                                               (void *)(uintptr_t)M_CSYNC);
    }
    uint64_t ud = va | (cfg.arch == ARCH_AARCH64 && size == 4 && a64_release(i) ? UD_RELEASE : 0);
    unsigned sk = cfg.arch == ARCH_AARCH64 && size == 4 ? a64_store_kind(i) : SF_NONE;
    unsigned foot = sk != SF_NONE && t->full ? a64_footprint(i) : 0;
    /* The last store of its block clears its own mark (store_slow), when
     * its callbacks can tell which of them is the last: one access, or a
     * pair whose record ends at its second.  A store of accesses the
     * plugin cannot count (the structure stores ST1 to ST4, SVE, CASP, STXP,
     * STGP) is cleared by the next block's inline clear instead: cleared
     * at its first callback, it let a load read its later access's bytes
     * with no store in flight, take them as written without a store and
     * lose its reads-from edge (aarch64/pair_publish.c ... end, found by
     * the hostile review).  Until then a waiting load may wait for it
     * through an exclusive section of qemu, which asleep_outside_plugin
     * ends. */
    ud |= sk != SF_NONE && last && (foot != 0 || !t->full) ? UD_CLEAR : 0;
    ud |= (uint64_t)foot << UD_FOOT_SHIFT;
    bool oneacc = foot == FOOT_ONE;
    /* CAS, CASP, STXR and STXP may fail and write nothing. */
    enum xk xk = cfg.arch == ARCH_AARCH64 && size == 4 ? a64_excl_kind(i) : XK_NONE;
    bool mayfail = xk == XK_CAS || xk == XK_STORE_EXCL, excl = xk == XK_LOAD_EXCL;
    enum rmw_op op = size != 4                      ? OP_NONE
                     : cfg.arch == ARCH_AARCH64 ? a64_rmw_op(i)
                     : cfg.arch == ARCH_RISCV64 ? rv_rmw_op(i)
                                                : OP_NONE;
    bool ldop = op != OP_NONE;
    /* on_load's user data for it: the operation and its operand register
     * (Rs, rs2). */
    unsigned opnd_reg = cfg.arch == ARCH_AARCH64 ? (i >> 16) & 31 : (i >> 20) & 31;
    uint64_t ldop_lu = ldop ? LD_LDOP | (uint64_t)op << 32 | (uint64_t)opnd_reg << 40 : 0;
    ud |= mayfail ? UD_MAYFAIL : 0;
    ud |= ldop ? UD_LDOP : 0;
    if (cfg.arch == ARCH_RISCV64 && ldop) {
        /* Its store's value is computed from what it read (struct
         * rmw_read), for the model's copy of code pages. */
        qemu_plugin_register_vcpu_mem_cb(insn, on_load, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_MEM_R,
                                         (void *)(uintptr_t)ldop_lu);
    }
    if (cfg.arch == ARCH_AARCH64 && (t->full || mayfail || excl || ldop)) {
        /* Before on_store: an atomic read-modify-write reaches both, and
         * its load reads what the store before it left in the slot.  With
         * one thread only the CAS and exclusives need their loads (which
         * decide whether their store wrote), and the LD<op> atomics (whose
         * store's value is computed from what they read: struct
         * rmw_read). */
        uint64_t lu = (sk == SF_ATOMIC ? LD_ATOMIC | (oneacc ? LD_ONEACC : 0) : 0) |
                      (excl ? LD_EXCL : 0) |
                      ldop_lu |
                      (mayfail ? LD_MAYFAIL | (uint64_t)i << 32 : 0);
        /* A CAS reads its comparand registers in the read callback, an
         * LD<op> its operand. */
        qemu_plugin_register_vcpu_mem_cb(insn, on_load,
                                         mayfail || ldop ? QEMU_PLUGIN_CB_R_REGS
                                                         : QEMU_PLUGIN_CB_NO_REGS,
                                         QEMU_PLUGIN_MEM_R, (void *)(uintptr_t)lu);
    }
    *bulk = stores_instrument(insn, va, i, size);   /* stores without memory callbacks */
    maybe_check(t, insn, va, bytes, size);
    t->after_maint = t->after_maint || m != 0;
    /* Stores in flight (above): the mark is set after this instruction's
     * other callbacks (a thread that waits for stores in flight, in a
     * fetch check, must not be marked itself) and before its code. */
    if (sk != SF_NONE && t->full) {
        qemu_plugin_register_vcpu_insn_exec_inline_per_vcpu(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                            sf_count, 1);
        qemu_plugin_register_vcpu_insn_exec_inline_per_vcpu(
            insn, QEMU_PLUGIN_INLINE_STORE_U64, sf_mark,
            sk == SF_ATOMIC && oneacc ? SF_ATOMIC1 : sk);
    }
    t->prev_store = sk != SF_NONE;
    return ud;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    struct xtb *t = calloc(1, sizeof(*t) + n * sizeof(t->x[0]));
    t->full = __atomic_load_n(&full_mode, __ATOMIC_SEQ_CST);
    t->start = qemu_plugin_tb_vaddr(tb);
    if (n) {
        struct qemu_plugin_insn *last = qemu_plugin_tb_get_insn(tb, n - 1);
        t->end = qemu_plugin_insn_vaddr(last) + qemu_plugin_insn_size(last);
    }
    for (size_t k = 0; k < n && cfg.arch == ARCH_ARM; k++) {
        struct qemu_plugin_insn *in = qemu_plugin_tb_get_insn(tb, k);
        t->thumb = t->thumb || qemu_plugin_insn_size(in) == 2 || (qemu_plugin_insn_vaddr(in) & 2);
    }
    sys_instrument_tb(tb);   /* process start, vDSO entry points */
    if (cfg.arch == ARCH_AARCH64 && t->full) {
        /* A block starts with no store in flight (above): clears the mark
         * of a store that faulted or of a failed store-exclusive. */
        qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_STORE_U64, sf_mark,
                                                          SF_NONE);
    }
    uint64_t *uds = malloc((n ? n : 1) * sizeof(*uds));
    void **bulk = malloc((n ? n : 1) * sizeof(*bulk));
    pthread_mutex_lock(&model_lock);
    for (size_t k = 0; k < n; k++) {
        uds[k] = instrument(t, qemu_plugin_tb_get_insn(tb, k), k + 1 == n, &bulk[k]);
    }
    if (t->n) {
        t->has_vent = t->vbp && !t->vbp_several && verdict_new(t->vbp, &t->vent, &t->vtag);
    }
    pthread_mutex_unlock(&model_lock);
    /* Every instruction: qemu calls a memory callback only for the
     * accesses it makes, and the decoder need not know every store.
     * After the instruction's other memory callbacks (on_load). */
    struct xstore *st = t->n ? malloc(n * sizeof(*st)) : NULL;
    for (size_t k = 0; k < n; k++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, k);
        if (st) {
            st[k] = (struct xstore){ uds[k], t };
            uintptr_t p = (uintptr_t)&st[k] |
                          ((uds[k] & (UD_CLEAR | UD_MAYFAIL)) ? XSTORE_SLOW : 0);
            qemu_plugin_register_vcpu_mem_cb(insn, on_store_in, QEMU_PLUGIN_CB_NO_REGS,
                                             QEMU_PLUGIN_MEM_W, (void *)p);
        } else {
            qemu_plugin_register_vcpu_mem_cb(insn, on_store, QEMU_PLUGIN_CB_NO_REGS,
                                             QEMU_PLUGIN_MEM_W, (void *)(uintptr_t)uds[k]);
        }
    }
    for (size_t k = 0; k < n; k++) {
        if (bulk[k]) {
            /* The block of a store without a memory callback (stores.c). */
            stores_set_block(bulk[k], t->n ? t : NULL);
        }
    }
    free(bulk);
    free(uds);
    if (t->n) {
        /* Kept for the life of the translation (the API has no hook for
         * its end); small, and only for blocks of written code (st too). */
        bool armed = false;
        for (size_t k = 0; k < t->n; k++) {
            armed = armed || t->x[k].armed;
        }
        if (armed) {
            /* Only a block with rechecks reads the flag; a flag left set
             * by an earlier block is cleared before this one's run. */
            qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_STORE_U64,
                                                              same_tb_flag, 0);
        }
        if (t->full) {
            /* For other threads' stores (same_block_store). */
            qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_STORE_U64,
                                                              run_tb, (uint64_t)(uintptr_t)t);
        }
        if (t->has_vent) {
            qemu_plugin_register_vcpu_tb_exec_cond_cb(tb, check_tb, QEMU_PLUGIN_CB_NO_REGS,
                                                      QEMU_PLUGIN_COND_NE, t->vent, t->vtag, t);
        } else {
            qemu_plugin_register_vcpu_tb_exec_cb(tb, check_tb, QEMU_PLUGIN_CB_NO_REGS, t);
        }
    } else {
        free(t);
    }
}

/* ---- setup and exit ---- */

/* The host thread that forks (qemu-user's guest fork is a host fork(2),
 * after qemu's fork_start() has stopped the other vcpus' guest code). */
static pid_t fork_tid;

static void fork_prepare(void)
{
    pthread_mutex_lock(&model_lock);
    fork_tid = (pid_t)syscall(SYS_gettid);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&model_lock);
}

/*
 * The child has one thread, the one that forked: qemu drops the other
 * vcpus from its list without calling their exit callbacks.  Their records
 * stay (reports of the child still name their stores) but no longer count
 * as live threads, and nothing of the plugin's may wait for them.  The
 * lock is made anew rather than unlocked: the child's thread is not the
 * owner the parent's lock recorded.
 */
static void fork_child(void)
{
    model_lock_reinit();
    gate_fork_child();
    unsigned n = 0;
    for (unsigned k = 0; k < MAX_VCPUS; k++) {
        if (vcpus[k].live && vcpus[k].tid != fork_tid) {
            vcpus[k].live = false;
            unsigned x = vcpus[k].idx;
            if (rec_held[k] && x < MAX_VCPU_INDEX) {
                rec_held[k] = false;   /* its high index is gone with it */
                vcpu_rec_high[x] = 0;
            }
        } else if (vcpus[k].live) {
            /* The survivor's host thread id in the child: /proc/self/task
             * lookups (asleep_outside_plugin) and the child's own forks
             * name it by this one; with the parent's, a wait for its store
             * in flight found it "gone" and gave up (a load then acquired
             * nothing), and a fork in the child dropped it.  Reports keep
             * the parent's ids (label_tid). */
            vcpus[k].tid = (int)syscall(SYS_gettid);
        }
        n += vcpus[k].live;
    }
    live_threads = n ? n : 1;
    /* Another thread's clone in flight at the fork makes no thread here. */
    spawning = 0;
    spawn_pending = false;   /* the survivor's own (its clone did not return here) */
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    pthread_mutex_lock(&model_lock);
    uint64_t total = 0;
    for (unsigned k = 0; k < MAX_VCPUS; k++) {
        total += __atomic_load_n(&vcpus[k].checked, __ATOMIC_RELAXED);
    }
    report_write(&out, total, model_writes);
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
    } else if (n == 4 && strncmp(arg, "repl", 4) == 0) {
        if (strcmp(val, "note") == 0) {
            cfg.repl = REPL_NOTE;
        } else if (strcmp(val, "hazard") == 0) {
            cfg.repl = REPL_HAZARD;
        } else if (strcmp(val, "off") == 0) {
            cfg.repl = REPL_OFF;
        } else {
            return -1;
        }
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
    sys_ctr_el0 = ctr;
    out.idc = cfg.idc;
    out.first_pid = getpid();
    same_tb = qemu_plugin_scoreboard_new(SB_LINE);
    same_tb_flag = qemu_plugin_scoreboard_u64(same_tb);
    sf_board = qemu_plugin_scoreboard_new(sizeof(struct sf));
    sf_mark = qemu_plugin_scoreboard_u64_in_struct(sf_board, struct sf, mark);
    sf_count = qemu_plugin_scoreboard_u64_in_struct(sf_board, struct sf, count);
    /* fork(2) copies the model with it: never in the middle of a change
     * another thread was making under the lock (the child would wait for
     * it for ever). */
    run_board = qemu_plugin_scoreboard_new(sizeof(struct run));
    run_tb = qemu_plugin_scoreboard_u64_in_struct(run_board, struct run, tb);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    stores_written = bulk_written;
    plugin_id = id;
    register_callbacks(id);
    return 0;
}

/* At install, and again after the reset of go_full. */
static void register_callbacks(qemu_plugin_id_t id)
{
    qemu_plugin_register_vcpu_init_cb(id, vcpu_init);
    qemu_plugin_register_vcpu_exit_cb(id, vcpu_exit);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    sys_register(id);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
}
