/*
 * cmodx-check — the model of incoherent instruction fetch.
 *
 * AArch64: a happens-before relation that follows Arm's ordering rules
 * (ARM ARM B2.3 "Definition of the Armv8 memory model", with the
 * instruction-fetch relations of B2.3.x / herd7's aarch64.cat with
 * -variant ifetch; docs/CHECKER.md gives each rule with its relation).
 *
 * Every thread that stores code or issues DC CVAU / IC IVAU is an
 * "actor" and numbers those events.  A point of the program knows, per
 * actor, the newest store, clean and completed invalidate ordered before
 * it (a vector clock with three entries per actor, struct vce).  Each
 * thread keeps two such clocks:
 *   acq  ordered before its next load, store, DC, IC or DSB: what it read
 *        (a load takes the clock its store carried: reads-from), what its
 *        fetches read (a fetch is ordered before every later non-fetch
 *        event), what the kernel passed it;
 *   fvc  ordered before its next instruction fetch: acq and its own
 *        DSB-completed events at its last ISB or exception, and the store
 *        each of its fetches read (a fetch that read an instruction written
 *        after an invalidate completed orders that thread's later fetches:
 *        the model's IC-ordered-before).
 * A store carries (in a shadow of memory) what is ordered before it:
 * acq, and the thread's own events as its barriers order them (DMB
 * orders stores and cleans before later stores, DSB everything, a
 * store-release every earlier store).
 *
 * A written word is executed correctly by thread T when, for its newest
 * store W (CTR_EL0 bits as the program sees them):
 *   IDC=0 DIC=0  some DC CVAU D of its line has W ordered before it, some
 *                IC IVAU I of its line has D ordered before it, and I,
 *                completed by a DSB, is ordered before T's fetch;
 *   IDC=1 DIC=0  some IC I has W ordered before it, and I is ordered
 *                before the fetch (no clean needed, by anyone);
 *   IDC=1 DIC=1  W is ordered before the fetch (fetches act as reads);
 *   IDC=0 DIC=1  some D has W before it and D is ordered before the fetch.
 * Whoever issues the clean or the invalidate: only the ordering counts.
 *
 * ARMv7: user space cannot clean or invalidate; cacheflush(2) does the
 * whole sequence for a range, after which other threads still need a
 * context synchronisation (ISB or an exception return).  RISC-V: fence.i
 * makes prior stores visible to the executing hart only;
 * riscv_flush_icache(2) with flags 0 reaches every hart of the process,
 * with SYS_RISCV_FLUSH_ICACHE_LOCAL only the calling one.  These two keep
 * the first generation's time-ordered model (docs/CHECKER.md).
 */
#include "model.h"
#include "arena.h"
#include "maps.h"
#include "verdicts.h"
#include "xproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

struct model_cfg cfg;
/*
 * Adaptive (glibc): a thread that finds the lock taken spins a little
 * before it sleeps in the kernel.  The sections it guards are short (a
 * store into code, a maintenance instruction, a fetch check), and a
 * futex sleep and wake-up cost tens of microseconds in a virtual machine:
 * with the plain mutex, the callers of test_slots signal, taking the lock
 * at each signal delivery and each first run of new code against the
 * writer's stores and maintenance, ran it in 5.0 to 6.7 s; adaptive, 2.6
 * to 3.7 s (alternating runs; the other programs measured unchanged).
 */
pthread_mutex_t model_lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;

/* The lock made anew, of the same kind (a forked child's: plugin.c). */
void model_lock_reinit(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&model_lock, &a);
    pthread_mutexattr_destroy(&a);
}
struct vcpu vcpus[MAX_VCPUS];
int label_tid[65536];
int64_t guest_base;
bool guest_base_known;

/*
 * Guest memory is host memory at guest_base.  It is read with
 * process_vm_readv on the process itself, which fails (EFAULT) on what is
 * not mapped readable, guest PROT_NONE pages included (qemu maps them so),
 * and takes none of qemu's locks: qemu_plugin_read_memory_vaddr takes the
 * mmap lock, which a translating thread holds while it waits for
 * model_lock.
 */
bool guest_read(uint64_t va, void *dst, size_t n)
{
    if (!guest_base_known || n == 0) {
        return n == 0;
    }
    struct iovec local = { dst, n };
    struct iovec remote = { (void *)(uintptr_t)(va + (uint64_t)guest_base), n };
    /* By the calling thread's id: once the main thread has left with
     * pthread_exit, the process's id names a zombie without memory, and
     * every read failed (each DC and IC then reported as a fault). */
    return process_vm_readv((pid_t)syscall(SYS_gettid), &local, 1, &remote, 1, 0) == (ssize_t)n;
}

static uint64_t seq;
uint64_t model_gen;
static uint64_t global_sync;         /* membarrier SYNC_CORE / global flush */
static uint64_t last_local_flush;    /* RISC-V: newest hart-local flush */
static uint16_t last_local_flusher;

#define NBUCKETS 65536
static struct bpage *buckets[NBUCKETS];
static struct bpage *written_pages;  /* pages that have words, for IC IALLU */

#define MIXED 0xffffu                /* bpage summary: several actors */

/* Something a fetch check reads changed (caller holds model_lock). */
static void gen_bump(void)
{
    __atomic_store_n(&model_gen, model_gen + 1, __ATOMIC_RELEASE);
}

uint64_t seq_next(void)
{
    __atomic_store_n(&seq, seq + 1, __ATOMIC_RELAXED);
    return seq;
}

static uint64_t synced(const struct vcpu *v)
{
    uint64_t g = __atomic_load_n(&global_sync, __ATOMIC_RELAXED);
    uint64_t s = __atomic_load_n(&v->sync_seq, __ATOMIC_RELAXED);
    return s > g ? s : g;
}

/* ==== AArch64 happens-before: actors, clocks, snapshots ==== */

/* A shadow slot's id's top bit: a store's callback is updating the slot
 * (its side entry, id and bytes together, model_store_shadow); snapshot
 * ids stay below it. */
#define SLOT_BUSY 0x80000000u

static uint16_t nactors = 1;                 /* actor 0: before tracking began */
static uint32_t actor_events[MAX_ACTORS];    /* events numbered so far, per actor */
static uint32_t actor_dsb[MAX_ACTORS];       /* its events completed by its last DSB */

enum cls { C_W, C_DC, C_IC };

static uint32_t ent(const struct vce *e, enum cls c)
{
    return c == C_W ? e->w : c == C_DC ? e->dc : e->ic;
}

static void vce_join(struct vce *d, const struct vce *s)
{
    d->w = s->w > d->w ? s->w : d->w;
    d->dc = s->dc > d->dc ? s->dc : d->dc;
    d->ic = s->ic > d->ic ? s->ic : d->ic;
}

/* Actor 0 (stores made before tracking began) is ordered before all. */
static bool known(const struct vce *vc, uint16_t a, enum cls c, uint32_t n)
{
    return a == 0 || (a < MAX_ACTORS && ent(&vc[a], c) >= n);
}

static uint16_t actor_of(struct vcpu *v)
{
    if (!v->actor) {
        if (nactors >= MAX_ACTORS - 1) {
            /* Past the limit, the remaining threads share the last actor:
             * their events are then taken as ordered among themselves
             * (fewer reports, never more). */
            static bool warned;
            if (!warned) {
                fprintf(stderr, "cmodx-check: warning: more than %d threads store code or "
                        "maintain caches; later ones share one clock entry\n", MAX_ACTORS - 2);
                warned = true;
            }
            v->actor = MAX_ACTORS - 1;
            if (nactors < MAX_ACTORS) {
                __atomic_store_n(&nactors, MAX_ACTORS, __ATOMIC_RELEASE);
            }
        } else {
            v->actor = nactors;
            __atomic_store_n(&nactors, nactors + 1, __ATOMIC_RELEASE);
        }
    }
    return v->actor;
}

static uint32_t new_event(struct vcpu *v)
{
    uint16_t a = actor_of(v);
    v->rel_l = 0;   /* a store-release orders every earlier store */
    return ++actor_events[a];
}

/*
 * Snapshots: immutable clocks that stores carry.  Id 0 is the empty clock.
 * Two-level table so that lock-free readers never see it move.
 */
struct snap {
    uint32_t n;          /* entries (actors known when it was made) */
    struct vce e[];
};
#define SNAP_CHUNK 65536u
static struct snap **snap_dir[65536];
static uint32_t nsnaps = 1;

static const struct snap *snap_get(uint32_t id)
{
    struct snap **c = __atomic_load_n(&snap_dir[id / SNAP_CHUNK], __ATOMIC_ACQUIRE);
    return c ? __atomic_load_n(&c[id % SNAP_CHUNK], __ATOMIC_ACQUIRE) : NULL;
}

/* Caller holds model_lock. */
static uint32_t snap_make(const struct vce *vc)
{
    uint32_t n = nactors;
    while (n > 1 && !vc[n - 1].w && !vc[n - 1].dc && !vc[n - 1].ic) {
        n--;
    }
    if (n <= 1) {
        return 0;
    }
    uint32_t id = nsnaps;
    if (id >= SLOT_BUSY) {   /* the slots' ids keep their top bit (sh_slot) */
        fprintf(stderr, "cmodx-check: out of ordering snapshots\n");
        abort();
    }
    if (!snap_dir[id / SNAP_CHUNK]) {
        __atomic_store_n(&snap_dir[id / SNAP_CHUNK], calloc(SNAP_CHUNK, sizeof(struct snap *)),
                         __ATOMIC_RELEASE);
    }
    /* From the arena (arena.c): a busy program makes hundreds of
     * thousands, whose heap pages' faults were a fifth of all. */
    struct snap *s = arena_zalloc(sizeof(*s) + n * sizeof(s->e[0]), _Alignof(struct snap));
    if (!s) {
        fprintf(stderr, "cmodx-check: out of memory for ordering snapshots\n");
        abort();
    }
    s->n = n;
    memcpy(s->e, vc, n * sizeof(s->e[0]));
    __atomic_store_n(&snap_dir[id / SNAP_CHUNK][id % SNAP_CHUNK], s, __ATOMIC_RELEASE);
    __atomic_store_n(&nsnaps, id + 1, __ATOMIC_RELEASE);
    return id;
}

static bool snap_equal(const struct snap *s, const struct vce *vc)
{
    for (uint32_t a = 1; a < nactors; a++) {
        struct vce z = { 0, 0, 0 };
        const struct vce *e = a < s->n ? &s->e[a] : &z;
        if (e->w != vc[a].w || e->dc != vc[a].dc || e->ic != vc[a].ic) {
            return false;
        }
    }
    return true;
}

static bool snap_join(struct vce *d, uint32_t id)
{
    const struct snap *s = id ? snap_get(id) : NULL;
    bool grew = false;
    for (uint32_t a = 1; s && a < s->n; a++) {
        const struct vce *e = &s->e[a];
        if (e->w > d[a].w || e->dc > d[a].dc || e->ic > d[a].ic) {
            vce_join(&d[a], e);
            grew = true;
        }
    }
    return grew;
}

/* Does clock d hold every entry of snapshot id (joining it adds nothing)? */
static bool snap_covered(const struct vce *d, uint32_t id)
{
    const struct snap *s = snap_get(id);
    for (uint32_t a = 1; s && a < s->n; a++) {
        const struct vce *e = &s->e[a];
        if (e->w > d[a].w || e->dc > d[a].dc || e->ic > d[a].ic) {
            return false;
        }
    }
    return true;
}

/*
 * v's own events ordered before its next store (ARM ARM B2.3.7
 * Barrier-ordered-before): DMB ST / DMB full order earlier stores, DMB full
 * earlier cleans (DC CVAU is ordered by DMB with respect to memory
 * accesses), DSB full everything including invalidates, DSB ST stores; a
 * store-release every earlier store.
 */
static struct vce own_before_store(const struct vcpu *v, bool release)
{
    struct vce o;
    uint32_t w = v->dsb_full;
    w = v->dsb_st > w ? v->dsb_st : w;
    w = v->dmb_full > w ? v->dmb_full : w;
    w = v->dmb_st > w ? v->dmb_st : w;
    o.w = release ? actor_events[v->actor] : w;
    o.dc = v->dsb_full > v->dmb_full ? v->dsb_full : v->dmb_full;
    o.ic = v->dsb_full;
    return o;
}

/* v's own events ordered before its next fetch after a context
 * synchronisation (B2.3.7: DSB-ordered-before then IFB-ordered-before). */
static struct vce own_before_ifb(const struct vcpu *v)
{
    struct vce o;
    o.w = v->dsb_full > v->dsb_st ? v->dsb_full : v->dsb_st;
    o.dc = v->dsb_full;
    o.ic = v->dsb_full;
    return o;
}

static struct vce *clock_alloc(void)
{
    return calloc(MAX_ACTORS, sizeof(struct vce));
}

/* The snapshot a store by v carries now (caller holds model_lock). */
static uint32_t store_snap(struct vcpu *v, bool release)
{
    uint32_t *cache = release ? &v->rel_l : &v->rel;   /* id + 1; 0: recompute */
    if (*cache) {
        return *cache - 1;
    }
    uint16_t a = v->actor;
    struct vce keep = a ? v->acq[a] : (struct vce){ 0, 0, 0 };
    if (a) {
        struct vce o = own_before_store(v, release);
        vce_join(&v->acq[a], &o);
    }
    /* Barriers that order nothing new leave the clock as it was: reuse
     * the thread's previous snapshot rather than make an equal one. */
    uint32_t *last = release ? &v->rel_l_last : &v->rel_last;
    const struct snap *prev = *last ? snap_get(*last) : NULL;
    uint32_t id;
    if (prev && snap_equal(prev, v->acq)) {
        id = *last;
    } else {
        id = snap_make(v->acq);
        *last = id;
    }
    if (a) {
        v->acq[a] = keep;
    }
    *cache = id + 1;
    return id;
}

static void acq_changed(struct vcpu *v)
{
    v->rel = 0;
    v->rel_l = 0;
}

/* The kernel: what threads passed to it (system calls, thread exit),
 * handed to every thread that returns from it. */
static struct vce *kvc;
/* membarrier SYNC_CORE: every thread's next fetch is ordered after it. */
static struct vce *gvc;
static uint64_t gsync_ver;

static __thread struct vcpu *self;

void model_set_self(struct vcpu *v)
{
    self = v;
}

static void kernel_publish(struct vcpu *v)
{
    if (cfg.arch != ARCH_AARCH64 || !v->acq) {
        return;
    }
    /* The kernel's own barriers order the caller's accesses and cleans
     * (as a DMB would) before what it does for other threads. */
    uint32_t id = store_snap(v, false);
    snap_join(kvc, id);
    if (v->actor) {
        struct vce o = own_before_store(v, true);
        o.dc = actor_events[v->actor];
        vce_join(&kvc[v->actor], &o);
    }
}

static void merge_gsync(struct vcpu *v)
{
    uint64_t g = __atomic_load_n(&gsync_ver, __ATOMIC_ACQUIRE);
    if (v->gsync_seen == g || !gvc) {
        return;
    }
    v->gsync_seen = g;
    for (unsigned a = 1; a < nactors; a++) {
        vce_join(&v->acq[a], &gvc[a]);
        vce_join(&v->fvc[a], &gvc[a]);
    }
    acq_changed(v);
}

/* ==== backing pages ==== */

/*
 * The last page each thread found, while the mapping list is unchanged: a
 * store to code, its maintenance and the checks of its block ask for the
 * same page several times (bpage_by_key's walk of a 512 KiB bucket array
 * was a twentieth of pcre2test's time under the checker).  Backing pages
 * are never freed, and a page's key changes only with the list
 * (maps_version), so the cached page stays the right one.
 */
static __thread uint64_t bp_cache_page = UINT64_MAX, bp_cache_version;
static __thread struct bpage *bp_cache;

struct bpage *bpage_get(uint64_t va, bool create)
{
    uint64_t page = va >> PAGE_SHIFT;
    uint64_t version = __atomic_load_n(&maps_version, __ATOMIC_ACQUIRE);
    if (page == bp_cache_page && version == bp_cache_version) {
        return bp_cache;
    }
    uint64_t k[3];
    page_key(va, k);
    struct bpage *bp = bpage_by_key(k, create);
    if (bp) {
        bp_cache_page = page;
        bp_cache_version = version;
        bp_cache = bp;
    }
    return bp;
}

struct bpage *bpage_by_key(const uint64_t k[3], bool create)
{
    uint64_t h = (k[0] * 0x9e3779b97f4a7c15ull) ^ (k[1] * 0xc2b2ae3d27d4eb4full) ^ k[2];
    h = (h ^ (h >> 29)) % NBUCKETS;
    for (struct bpage *b = buckets[h]; b; b = b->next) {
        if (b->key_a == k[0] && b->key_b == k[1] && b->key_c == k[2]) {
            return b;
        }
    }
    if (!create) {
        return NULL;
    }
    struct bpage *b = calloc(1, sizeof(*b));
    b->key_a = k[0];
    b->key_b = k[1];
    b->key_c = k[2];
    b->next = buckets[h];
    buckets[h] = b;
    return b;
}

static bool readable(uint64_t va)
{
    struct map *m = map_find(va);
    return m && (m->prot & 5) && guest_base_known;   /* PROT_READ|PROT_EXEC */
}

/* Give bp its word states; the shadow starts as memory's current bytes. */
static void bpage_words(struct bpage *bp, uint64_t va)
{
    if (bp->words) {
        return;
    }
    /* From the arena (arena.c: page faults), never freed. */
    bp->shadow = arena_zalloc(PAGE_SIZE, PAGE_SIZE);
    struct word *w = arena_zalloc(WORDS_PER_PAGE * sizeof(*w), 64);
    if (!bp->shadow || !w) {
        fprintf(stderr, "cmodx-check: out of memory for the state of written pages\n");
        abort();
    }
    uint64_t page = va & ~(uint64_t)(PAGE_SIZE - 1);
    /* Copied without a fault: another thread may be unmapping the page
     * (its mapping record goes when the call returns). */
    bool known_bytes = readable(page) && guest_read(page, bp->shadow, PAGE_SIZE);
    for (unsigned i = 0; !known_bytes && i < WORDS_PER_PAGE; i++) {
        w[i].old_lost = 1;
    }
    __atomic_store_n(&bp->words, w, __ATOMIC_RELEASE);
    verdict_page_changed(bp);   /* "nothing written here" no longer holds */
    bp->all_next = written_pages;
    written_pages = bp;
}

/* ==== word state (ARMv7, RISC-V) ==== */

static bool counted(const struct word *w)
{
    return w->stage >= ST_WRITTEN && w->stage < ST_DONE && !w->exempt &&
           cfg.arch == ARCH_ARM;
}

static void raise_done(struct bpage *bp, uint64_t s)
{
    if (s > bp->max_done) {
        __atomic_store_n(&bp->max_done, s, __ATOMIC_RELAXED);
    }
}

static void set_stage(struct bpage *bp, struct word *w, enum stage st, uint64_t s)
{
    gen_bump();
    if (st == ST_WRITTEN) {
        verdict_page_changed(bp);   /* only a new store unsettles (verdicts.h) */
    }
    bool was = counted(w);
    w->stage = st;
    if (st == ST_DONE || cfg.arch == ARCH_RISCV64) {
        w->seq = s;
        if (!w->exempt) {
            raise_done(bp, s);
        }
    }
    int d = (int)counted(w) - (int)was;
    __atomic_store_n(&bp->pending, bp->pending + d, __ATOMIC_RELAXED);
}

/*
 * The architecture lets B, BL, NOP, BRK, SVC, HVC, SMC and ISB be replaced
 * by one another while other cores execute them: a core sees the old or
 * the new one, never a mix (ARM ARM B2.2.5).
 */
static bool a64_patchable(uint32_t i)
{
    return (i & 0x7c000000u) == 0x14000000u ||    /* B, BL */
           i == 0xd503201fu ||                     /* NOP */
           (i & 0xffe0001fu) == 0xd4200000u ||     /* BRK */
           (i & 0xffe0001cu) == 0xd4000000u ||     /* SVC, HVC, SMC */
           (i & 0xfffff0ffu) == 0xd50330dfu;       /* ISB */
}

/* ==== AArch64 word state ==== */

/* The page summary the lock-free check reads (struct bpage). */
static void summary_req(struct bpage *bp, uint16_t a, enum cls c, uint32_t n)
{
    if (bp->req_a == MIXED) {
        return;
    }
    if (bp->req_a == 0 && bp->req_n == 0) {
        __atomic_store_n(&bp->req_cls, (uint8_t)c, __ATOMIC_RELAXED);
        __atomic_store_n(&bp->req_n, n, __ATOMIC_RELAXED);
        __atomic_store_n(&bp->req_a, a, __ATOMIC_RELAXED);
    } else if (bp->req_a == a && bp->req_cls == c) {
        if (n > bp->req_n) {
            __atomic_store_n(&bp->req_n, n, __ATOMIC_RELAXED);
        }
    } else if (a != 0) {
        __atomic_store_n(&bp->req_a, (uint16_t)MIXED, __ATOMIC_RELAXED);
    }
}

/* What a word needs before it can be fetched (see the header comment). */
static bool needs_ic(void)
{
    return !cfg.dic;
}

static bool settled_somewhere(const struct word *w)
{
    if (w->stage == ST_NONE) {
        return true;
    }
    if (needs_ic()) {
        return w->nic > 0;
    }
    return cfg.idc || w->ndc > 0;
}

/*
 * Count the page's unsettled words: pending (the lock-free check cannot
 * pass them) and pending_x (allowed replacements: only their own fetches
 * need a look, for a stale-replacement note).
 */
static void update_pending(struct bpage *bp, struct word *w)
{
    uint8_t now = settled_somewhere(w) ? 0 : w->exempt ? 2 : 1;
    if (now == w->pk) {
        return;
    }
    if (w->pk == 1 || now == 1) {
        __atomic_store_n(&bp->pending, bp->pending + (now == 1) - (w->pk == 1), __ATOMIC_RELAXED);
    }
    if (w->pk == 2 || now == 2) {
        __atomic_store_n(&bp->pending_x, bp->pending_x + (now == 2) - (w->pk == 2),
                         __ATOMIC_RELAXED);
    }
    w->pk = now;
}

static void q_add(struct qev *q, uint8_t *nq, uint16_t a, uint32_t n)
{
    for (unsigned k = 0; k < *nq; k++) {
        if (q[k].a == a) {
            return;   /* keep the earliest of each actor: the easiest to order */
        }
    }
    if (*nq < NQ) {
        q[*nq].a = a;
        q[*nq].n = n;
        (*nq)++;
    }
}

/* A store to the word by v (NULL: written before tracking began). */
static void a64_written(struct vcpu *v, struct bpage *bp, struct word *w, uint64_t s)
{
    gen_bump();
    verdict_page_changed(bp);
    w->stage = ST_WRITTEN;
    w->seq = s;
    w->ndc = w->nic = 0;
    w->ic_early = 0;
    if (v && v->acq) {
        w->snap = store_snap(v, false);
        w->n = new_event(v);
        w->actor = v->actor;
    } else {
        w->snap = 0;
        w->n = 0;
        w->actor = 0;
    }
    if (!needs_ic() && cfg.idc) {
        summary_req(bp, w->actor, C_W, w->n);
    }
    update_pending(bp, w);
}

/* ==== stores ==== */

/* The first stage of a freshly written word (ARMv7, RISC-V). */
static void start_stage(struct bpage *bp, struct word *w, uint64_t s)
{
    set_stage(bp, w, ST_WRITTEN, s);
}

static void store_word(struct vcpu *v, struct bpage *bp, unsigned wi, uint64_t va,
                       unsigned size, const uint8_t *bytes, uint64_t pc, uint64_t s)
{
    struct word *w = &bp->words[wi];
    uint8_t *sh = bp->shadow + wi * 4;
    bool exempt_store = false;
    if (cfg.arch == ARCH_AARCH64 && size == 4 && (va & 3) == 0 && !w->old_lost) {
        uint32_t old, new;
        memcpy(&old, sh, 4);
        memcpy(&new, bytes, 4);
        exempt_store = a64_patchable(old) && a64_patchable(new);
    }
    bool was = counted(w);
    if (w->stage == ST_NONE || w->stage == ST_DONE || cfg.arch == ARCH_AARCH64) {
        /* AArch64: the exemption is about the newest store only, when the
         * one before it had settled. */
        w->exempt = exempt_store && (cfg.arch != ARCH_AARCH64 || w->stage == ST_NONE ||
                                     w->exempt || settled_somewhere(w));
    } else {
        w->exempt = w->exempt && exempt_store;
    }
    if (cfg.arch != ARCH_AARCH64) {
        int d = (int)counted(w) - (int)was;
        __atomic_store_n(&bp->pending, bp->pending + d, __ATOMIC_RELAXED);
    }
    w->writer = v ? v->label : 0;
    w->store_pc = pc;
    w->ic_early = 0;
    w->old_lost = 0;
    if (cfg.arch == ARCH_AARCH64) {
        a64_written(v, bp, w, s);
    } else {
        start_stage(bp, w, s);
    }
}

void model_store(struct vcpu *v, uint64_t va, unsigned size, const uint8_t *bytes, uint64_t pc)
{
    gen_bump();
    model_writes++;
    model_set_self(v);
    uint64_t s = seq_next();
    uint64_t end = va + size;
    while (va < end) {
        /* one word (or the part of it this store covers) at a time */
        uint64_t wend = (va & ~3ull) + 4;
        unsigned n = (unsigned)((wend < end ? wend : end) - va);
        struct bpage *bp = bpage_get(va, true);
        bool fresh = bp->words == NULL;
        bpage_words(bp, va);
        unsigned wi = (unsigned)((va & (PAGE_SIZE - 1)) / 4);
        if (fresh) {
            bp->words[wi].old_lost = 1;   /* memory already holds the new value */
        }
        store_word(v, bp, wi, va, n, bytes, pc, s);
        xproc_store(v, bp, wi, pc);   /* other processes' fetches (xproc.c) */
        memcpy(bp->shadow + (va & (PAGE_SIZE - 1)), bytes, n);
        bytes += n;
        va += n;
    }
}

/*
 * A page of private anonymous memory becomes interesting (maintenance on
 * it, or it is made executable): from now on its stores are recorded.
 * Such memory starts as zeros, so its non-zero words are the ones written
 * before; they are marked written with an unknown store.
 */
static void promote(uint64_t va)
{
    gen_bump();
    uint64_t page = va & ~(uint64_t)(PAGE_SIZE - 1);
    struct map *m = map_find(page);
    set_tracked(page, page + PAGE_SIZE, true);
    /* A copy, made without a fault (bpage_words). */
    uint32_t mem[WORDS_PER_PAGE];
    if (!m || m->kind != MK_ANON || !readable(page) || !guest_read(page, mem, sizeof(mem))) {
        return;
    }
    struct bpage *bp = NULL;
    uint64_t s = seq_next();
    for (unsigned i = 0; i < WORDS_PER_PAGE; i++) {
        if (mem[i] == 0) {
            continue;
        }
        if (!bp) {
            bp = bpage_get(page, true);
            bpage_words(bp, page);
        }
        if (bp->words[i].stage == ST_NONE) {
            if (cfg.arch == ARCH_AARCH64) {
                a64_written(NULL, bp, &bp->words[i], s);
            } else {
                start_stage(bp, &bp->words[i], s);
            }
        }
    }
}

void model_touch(uint64_t va)
{
    if (!page_tracked(va)) {
        promote(va);
    }
}

void model_made_exec(uint64_t va)
{
    model_touch(va);
}

/* The page of the line of `line` bytes holding va, its first word, count. */
static struct bpage *line_words(uint64_t va, unsigned line, unsigned *first, unsigned *count)
{
    uint64_t start = va & ~(uint64_t)(line - 1);
    model_touch(start);
    struct bpage *bp = bpage_get(start, false);
    if (!bp || !bp->words) {
        return NULL;
    }
    *first = (unsigned)((start & (PAGE_SIZE - 1)) / 4);
    *count = line / 4;
    return bp;
}

/*
 * DC CVAU by v: a clean of the line.  It counts for a word whose newest
 * store W is ordered before it: W by v itself (same line, program order:
 * ARM ARM's po-scl ordering of a store and a DC CVAU to the same line), W
 * before tracking began, or W known to v (reads-from, barriers, the
 * kernel).  herd7: DC-after forced to W -> DC.
 */
void model_dc(struct vcpu *v, uint64_t va)
{
    gen_bump();
    model_set_self(v);
    if (cfg.arch == ARCH_AARCH64) {
        xproc_dc(v, va);
    }
    unsigned first, n;
    struct bpage *bp = line_words(va, cfg.dline, &first, &n);
    if (!bp || cfg.arch != ARCH_AARCH64) {
        return;
    }
    uint32_t ev = 0;
    for (unsigned i = first; i < first + n; i++) {
        struct word *w = &bp->words[i];
        if (w->stage == ST_NONE) {
            continue;
        }
        if (w->actor == v->actor || known(v->acq, w->actor, C_W, w->n)) {
            if (!ev) {
                ev = new_event(v);
            }
            q_add(w->dcq, &w->ndc, v->actor, ev);
            if (!needs_ic() && !cfg.idc) {
                summary_req(bp, v->actor, C_DC, ev);
            }
            update_pending(bp, w);
        }
    }
}

/* Is the clean q ordered before v's next IC (DSB-ordered-before for v's
 * own clean; reads-from and barriers for another's)? */
static bool dc_before_ic(const struct vcpu *v, const struct qev *q)
{
    if (q->a == v->actor) {
        return v->dsb_full >= q->n || known(v->acq, q->a, C_DC, q->n);
    }
    return known(v->acq, q->a, C_DC, q->n);
}

/* IC IVAU (or IALLU) by v reaching word w: it counts when a clean of the
 * word is ordered before it (IDC=1: when the store is). */
static void ic_word(struct vcpu *v, struct bpage *bp, struct word *w, uint32_t *ev)
{
    if (w->stage == ST_NONE) {
        return;
    }
    bool ok = false;
    if (cfg.idc) {
        ok = w->actor == 0 ||
             (w->actor == v->actor &&
              (v->dsb_full >= w->n || v->dsb_st >= w->n)) ||
             known(v->acq, w->actor, C_W, w->n);
    } else {
        for (unsigned k = 0; k < w->ndc && !ok; k++) {
            ok = dc_before_ic(v, &w->dcq[k]);
        }
    }
    if (!ok) {
        w->ic_early = 1;
        return;
    }
    if (!*ev) {
        *ev = new_event(v);
    }
    q_add(w->icq, &w->nic, v->actor, *ev);
    summary_req(bp, v->actor, C_IC, *ev);
    update_pending(bp, w);
}

void model_ic(struct vcpu *v, uint64_t va)
{
    gen_bump();
    model_set_self(v);
    if (cfg.arch == ARCH_AARCH64) {
        xproc_ic(v, va);
    }
    unsigned first, n;
    struct bpage *bp = line_words(va, cfg.iline, &first, &n);
    if (!bp || cfg.dic || cfg.arch != ARCH_AARCH64) {
        return;
    }
    uint32_t ev = 0;
    for (unsigned i = first; i < first + n; i++) {
        ic_word(v, bp, &bp->words[i], &ev);
    }
}

void model_ic_all(struct vcpu *v)
{
    gen_bump();
    if (cfg.dic || cfg.arch != ARCH_AARCH64) {
        return;
    }
    xproc_ic_all(v);
    uint32_t ev = 0;
    for (struct bpage *bp = written_pages; bp; bp = bp->all_next) {
        for (unsigned i = 0; i < WORDS_PER_PAGE; i++) {
            ic_word(v, bp, &bp->words[i], &ev);
        }
    }
}

/*
 * DMB / DSB by v.  The barrier orders v's own earlier events before its
 * later ones; the numbers recorded here are read by own_before_store,
 * own_before_ifb and dc_before_ic.  DSB LD orders loads only, which the
 * model already orders (see docs: loads are taken as control-dependent).
 */
void model_barrier(struct vcpu *v, bool dsb, enum bar kind)
{
    model_set_self(v);
    if (cfg.arch != ARCH_AARCH64 || kind == BAR_LD) {
        return;
    }
    if (dsb && kind == BAR_FULL) {
        xproc_dsb(v);   /* completes v's maintenance on shared pages */
    }
    if (dsb && v->pend_any && v->pend) {
        /* DSB-ordered-before: the stores before it, and what the loads they
         * replaced had ordered (from-reads), precede every later event. */
        for (unsigned a = 1; a < nactors; a++) {
            vce_join(&v->acq[a], &v->pend[a]);
        }
        memset(v->pend, 0, MAX_ACTORS * sizeof(*v->pend));
        v->pend_any = false;
        acq_changed(v);
    }
    if (!v->actor) {
        return;
    }
    uint32_t now = actor_events[v->actor];
    if (dsb && kind == BAR_FULL) {
        v->dsb_full = now;
        actor_dsb[v->actor] = now;
    } else if (dsb) {
        v->dsb_st = now;
    } else if (kind == BAR_FULL) {
        v->dmb_full = now;
    } else {
        v->dmb_st = now;
    }
    acq_changed(v);   /* what its stores carry changed */
    /* Made now, so that the stores that follow publish theirs without
     * waiting for the lock (a load may race with their callbacks). */
    store_snap(v, false);
    store_snap(v, true);
}

void model_dsb(struct vcpu *v)
{
    model_barrier(v, true, BAR_FULL);
}

/*
 * ISB by v: its later fetches are ordered after what is ordered before
 * the ISB (IFB-ordered-before): the DSB-completed own events and what it
 * read (reads taken as control-dependent on the ISB).
 */
void model_foreign_news(void)
{
    if (xproc_changed()) {
        /* another process stored or maintained: check blocks anew */
        gen_bump();
        verdict_void_all();
    }
}

void model_isb(struct vcpu *v)
{
    model_set_self(v);
    __atomic_store_n(&v->sync_seq, seq_next(), __ATOMIC_RELAXED);
    xproc_csync(v);
    model_foreign_news();
    if (cfg.arch != ARCH_AARCH64 || !v->fvc) {
        return;
    }
    merge_gsync(v);
    for (unsigned a = 1; a < nactors; a++) {
        vce_join(&v->fvc[a], &v->acq[a]);
    }
    if (v->actor) {
        struct vce o = own_before_ifb(v);
        vce_join(&v->fvc[v->actor], &o);
    }
}

/*
 * An exception (system call return, signal delivery): context
 * synchronising like an ISB, and the kernel passes on what other threads
 * gave it (see docs: system calls are ordered through the kernel).
 */
void model_csync(struct vcpu *v)
{
    if (cfg.arch == ARCH_AARCH64 && v->acq) {
        kernel_publish(v);
        for (unsigned a = 1; a < nactors; a++) {
            vce_join(&v->acq[a], &kvc[a]);
        }
        acq_changed(v);
    }
    model_isb(v);
}

/*
 * membarrier SYNC_CORE (and RISC-V's global flush): every thread executes
 * a context synchronisation after the call, ordered after what the caller
 * had ordered before it.
 */
void model_global_sync(void)
{
    __atomic_store_n(&global_sync, seq_next(), __ATOMIC_RELAXED);
    xproc_global_sync();
    model_foreign_news();
    if (cfg.arch != ARCH_AARCH64) {
        return;
    }
    if (self && self->acq) {
        kernel_publish(self);
        /* the caller's own completed events */
        if (self->actor) {
            struct vce o = own_before_ifb(self);
            vce_join(&kvc[self->actor], &o);
        }
    }
    memcpy(gvc, kvc, MAX_ACTORS * sizeof(*gvc));
    __atomic_store_n(&gsync_ver, gsync_ver + 1, __ATOMIC_RELEASE);
}

void model_thread_start(struct vcpu *v)
{
    xproc_init();   /* the first thread: before any fork */
    gen_bump();   /* a new thread may reuse v: what v knew is gone */
    if (!kvc) {
        kvc = clock_alloc();
        gvc = clock_alloc();
    }
    if (!v->acq) {
        v->acq = clock_alloc();
        v->fvc = clock_alloc();
        v->pend = clock_alloc();
    }
    memset(v->acq, 0, MAX_ACTORS * sizeof(*v->acq));
    memset(v->fvc, 0, MAX_ACTORS * sizeof(*v->fvc));
    memset(v->pend, 0, MAX_ACTORS * sizeof(*v->pend));
    v->pend_any = false;
    v->actor = 0;
    v->dsb_full = v->dsb_st = v->dmb_full = v->dmb_st = 0;
    v->last_joined = 0;
    memset(v->joined, 0, sizeof(v->joined));
    memset(v->fr_joined, 0, sizeof(v->fr_joined));
    v->rel_last = v->rel_l_last = 0;
    /* Per-thread caches of what the clocks knew (a new thread may reuse
     * v): the notes given and the words settled. */
    memset(v->note_w, 0, sizeof(v->note_w));
    memset(v->settled_w, 0, sizeof(v->settled_w));
    acq_changed(v);
    v->gsync_seen = 0;
    /* A new thread starts with an exception return, after its parent's
     * clone: what the parent gave the kernel is ordered before it. */
    model_csync(v);
}

void model_thread_exit(struct vcpu *v)
{
    kernel_publish(v);
}

void model_syscall_entry(struct vcpu *v)
{
    model_set_self(v);
    kernel_publish(v);
}

/* ==== ARMv7, RISC-V ==== */

/* ARMv7 cacheflush(2): clean + invalidate + barrier for [start, end). */
void model_cacheflush(struct vcpu *v, uint64_t start, uint64_t end)
{
    gen_bump();
    if (end <= start || end - start > (1ull << 32)) {
        return;
    }
    xproc_cacheflush(v, start, end);
    uint64_t s = seq_next();
    for (uint64_t p = start & ~(uint64_t)(PAGE_SIZE - 1); p < end; p += PAGE_SIZE) {
        model_touch(p);
        struct bpage *bp = bpage_get(p, false);
        if (!bp || !bp->words) {
            continue;
        }
        for (unsigned i = 0; i < WORDS_PER_PAGE; i++) {
            uint64_t a = p + 4ull * i;
            struct word *w = &bp->words[i];
            if (a + 4 > start && a < end && w->stage != ST_NONE && w->stage != ST_DONE) {
                set_stage(bp, w, ST_DONE, s);
            }
        }
    }
}

/*
 * write(2)/pwrite(2) into a memfd: the kernel's copy is a data store like
 * any other (it goes through the data cache), so the program still owes the
 * maintenance before executing the bytes through a mapping.
 */
uint64_t model_writes;

void model_file_write(struct vcpu *v, uint64_t dev, uint64_t ino, uint64_t off, uint64_t len)
{
    gen_bump();
    uint64_t s = seq_next();
    if (len > 0) {
        /* one write per page, as the other system call writes count */
        model_writes += ((off + len - 1) >> PAGE_SHIFT) - (off >> PAGE_SHIFT) + 1;
    }
    for (uint64_t a = off & ~3ull; a < off + len; a += 4) {
        uint64_t k[3] = { dev + 1, ino, a >> PAGE_SHIFT };
        struct bpage *bp = bpage_by_key(k, true);
        bpage_words(bp, 0);
        struct word *w = &bp->words[(a & (PAGE_SIZE - 1)) / 4];
        bool was = counted(w);
        w->exempt = 0;
        if (cfg.arch != ARCH_AARCH64) {
            __atomic_store_n(&bp->pending, bp->pending + (int)counted(w) - (int)was,
                             __ATOMIC_RELAXED);
        }
        w->writer = v->label;
        w->store_pc = 0;   /* "through a system call" in reports */
        w->old_lost = 1;
        if (cfg.arch == ARCH_AARCH64) {
            a64_written(v, bp, w, s);
        } else {
            start_stage(bp, w, s);
        }
        xproc_store(v, bp, (unsigned)((a & (PAGE_SIZE - 1)) / 4), 0);
    }
}

/* RISC-V fence.i, or riscv_flush_icache(..., LOCAL): this hart only. */
void model_local_flush(struct vcpu *v)
{
    model_isb(v);
    last_local_flush = v->sync_seq;
    last_local_flusher = v->label;
}

/* ==== loads and the shadow of memory (AArch64 reads-from) ==== */

/*
 * For every 8-byte granule the program stored to: the snapshot its last
 * store carried, and the granule's bytes after that store.  Three levels,
 * lock-free for readers; leaves are allocated with a compare-and-swap.
 *
 * qemu calls a store's callback after the store reached memory, so another
 * thread can load the new value before the slot names its snapshot.  The
 * bytes tell: a load whose value is not the slot's waits for the stores
 * other threads have in flight (plugin.c marks every store instruction
 * before it runs, and clears the mark once its callbacks ran), then reads
 * the slot again; a value no store in flight explains was written without
 * a store callback (the kernel, qemu, MOPS, DC ZVA).
 */
struct sh_slot {
    uint32_t id;      /* what the last store carried */
    uint32_t rid;     /* what was ordered before the loads that read it since */
    uint64_t bytes;
};
/*
 * A store's callback runs after its access, and two threads' callbacks for
 * one granule may run in the other order than their accesses: a store's
 * slot can be replaced by an older store's (the reader's own SWP of NULL,
 * its callback after the writer's STLR of the pointer has published).  So
 * each slot keeps, in the second half of its leaf, the last other store's
 * id and bytes it replaced (sh_side); a load whose value the slot does not
 * hold, with no store in flight to explain it, takes that one when its
 * bytes match.  Two such inversions in a row on one granule lose the older
 * (an edge fewer: reports can only be added).  Only stores whose id differs
 * from the slot's write it, and only loads that miss read it: the side
 * half's pages are touched where threads store to one granule in turn.
 */
static inline struct sh_slot *sh_side(struct sh_slot *slot);
#define SH_L1_BITS 18   /* addr bits 47..30 */
#define SH_L2_BITS 10   /* addr bits 29..20 */
#define SH_LEAF (1u << 17)   /* 1 MiB / 8 */
static struct sh_slot **sh_top[1u << SH_L1_BITS];

static struct sh_slot *sh_slot(uint64_t va, bool create)
{
    va &= 0x0000ffffffffffffull;
    uint32_t i1 = (uint32_t)(va >> 30), i2 = (uint32_t)((va >> 20) & ((1u << SH_L2_BITS) - 1));
    struct sh_slot **l2 = __atomic_load_n(&sh_top[i1], __ATOMIC_ACQUIRE);
    if (!l2) {
        if (!create) {
            return NULL;
        }
        struct sh_slot **n = calloc(1u << SH_L2_BITS, sizeof(*n));
        if (!__atomic_compare_exchange_n(&sh_top[i1], &l2, n, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE)) {
            free(n);
        } else {
            l2 = n;
        }
    }
    struct sh_slot *leaf = __atomic_load_n(&l2[i2], __ATOMIC_ACQUIRE);
    if (!leaf) {
        if (!create) {
            return NULL;
        }
        struct sh_slot *n = far_map(2 * SH_LEAF * sizeof(*n));   /* away from the guest's */
        if (!n) {
            return NULL;
        }
        if (!__atomic_compare_exchange_n(&l2[i2], &leaf, n, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE)) {
            munmap(n, 2 * SH_LEAF * sizeof(*n));
        } else {
            leaf = n;
        }
    }
    return &leaf[(va >> 3) & (SH_LEAF - 1)];
}

/* The slot's side entry (above): the leaf's second half. */
static inline struct sh_slot *sh_side(struct sh_slot *slot)
{
    return slot + SH_LEAF;
}

/* Every slot back to zero (plugin.c, go_one: no other thread runs).  The
 * leaves stay mapped, so that the threads' caches of them stay valid; the
 * kernel takes their pages back. */
void model_shadow_clear(void)
{
    for (uint32_t i1 = 0; i1 < (1u << SH_L1_BITS); i1++) {
        struct sh_slot **l2 = sh_top[i1];
        for (uint32_t i2 = 0; l2 && i2 < (1u << SH_L2_BITS); i2++) {
            if (l2[i2]) {
                madvise(l2[i2], 2 * SH_LEAF * sizeof(struct sh_slot), MADV_DONTNEED);
            }
        }
    }
}

/* Does v have its record to itself?  Threads past MAX_VCPUS - 1 share the
 * last one (vcpu_slot): its per-thread caches and its reading mark would
 * mix theirs, so those threads use none of them. */
static inline bool own_record(const struct vcpu *v)
{
    return v != &vcpus[MAX_VCPUS - 1];
}

/* sh_slot through the thread's cache of leaves. */
static __attribute__((noinline)) struct sh_slot *sh_slot_fill(struct vcpu *v, uint64_t va,
                                                              bool create)
{
    struct sh_slot *s = sh_slot(va, create);
    if (s) {
        uint64_t key = ((va & 0x0000ffffffffffffull) >> 20) + 1;
        v->sh_key[key % 8] = key;
        v->sh_leaf[key % 8] = s - ((va >> 3) & (SH_LEAF - 1));
    }
    return s;
}

static inline struct sh_slot *sh_slot_v(struct vcpu *v, uint64_t va, bool create)
{
    if (!own_record(v)) {
        return sh_slot(va, create);
    }
    uint64_t key = ((va & 0x0000ffffffffffffull) >> 20) + 1;
    if (v->sh_key[key % 8] == key) {
        return (struct sh_slot *)v->sh_leaf[key % 8] + ((va >> 3) & (SH_LEAF - 1));
    }
    return sh_slot_fill(v, va, create);
}

/*
 * Reading guest memory directly (its host copy at guest_base), from a
 * load's or a store's callback.  The access itself succeeded, but another
 * thread may unmap the page or take its read permission away before the
 * callback runs (a safepoint's polling page made PROT_NONE): the host read
 * would then kill qemu.  So a read happens only while no system call that
 * may do so is in progress, by an asymmetric Dekker handshake: the reader
 * marks itself reading and then looks at reads_stopped, with only a
 * compiler barrier between; the system call's thread (model_reads_stop,
 * from its entry callback) raises reads_stopped, runs the host's
 * membarrier (every thread of the process executes a full barrier: a
 * reader's mark is then visible, or its look will see the raise, as with
 * liburcu's membarrier flavour), and waits until no thread is marked.
 * That covers a call that runs during the read; one that ran between the
 * access and its callback (and took the read permission away after the
 * access succeeded) moved reads_gen on its return: a thread reads only
 * while reads_gen still holds what it held at the thread's previous read,
 * which came before the access.  Without the host's membarrier no direct
 * read is made: loads go by qemu's value, and slots keep their bytes.
 */
static uint32_t reads_stopped;   /* calls that may unmap guest memory, in progress */
static uint64_t reads_gen;       /* such calls returned */
static bool reads_guarded;       /* the host's membarrier is registered */
static bool reads_init_done;

/*
 * Registered when the process is about to get its second thread
 * (set_several_threads), not when the plugin loads: only then does a
 * callback read guest memory directly (the shadow of memory), and the
 * registration of a process that already has two host threads (qemu's RCU
 * thread is one) waits for an RCU grace period in the kernel, about 10 ms
 * on the machine measured: a third of what the checker added to a 30 ms
 * single-threaded program.  A forked child inherits the registration.
 * reads_guarded is read and written sequentially consistent: a system
 * call's thread that saw it false (and so skipped the handshake) raised
 * reads_stopped before it looked, so a reader that sees it true sees the
 * raise.
 */
void model_reads_init(void)
{
    if (__atomic_exchange_n(&reads_init_done, true, __ATOMIC_SEQ_CST)) {
        return;
    }
    bool ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    __atomic_store_n(&reads_guarded, ok, __ATOMIC_SEQ_CST);
}

void model_reads_stop(const struct vcpu *self, unsigned nvcpu)
{
    __atomic_add_fetch(&reads_stopped, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&reads_guarded, __ATOMIC_SEQ_CST)) {
        return;
    }
    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    for (unsigned j = 0; j < nvcpu && j < MAX_VCPUS; j++) {
        for (unsigned k = 0; &vcpus[j] != self && __atomic_load_n(&vcpus[j].reading, __ATOMIC_ACQUIRE);
             k++) {
            if (k >= 64) {
                sched_yield();   /* the reader was preempted in its few instructions */
            }
        }
    }
}

void model_reads_resume(void)
{
    /* Before reads_stopped falls: a reader that sees it fall sees this. */
    __atomic_add_fetch(&reads_gen, 1, __ATOMIC_SEQ_CST);
    __atomic_sub_fetch(&reads_stopped, 1, __ATOMIC_SEQ_CST);
}

/*
 * The 8 bytes of guest memory at granule g, or false (no read made): for
 * a load's quick path (whose slow path then goes by qemu's value) and a
 * store's slot (the granule's bytes the store did not write).  Read
 * directly (above) but for pages that hold or may hold code, shared
 * mappings among them, whose file another process may truncate (a read
 * past its end is a SIGBUS no handshake here can prevent); a thread
 * without a record of its own (own_record); and a host without
 * membarrier.
 */
static bool granule_read(struct vcpu *v, uint64_t g, uint64_t *x)
{
    if (!guest_base_known || !__atomic_load_n(&reads_guarded, __ATOMIC_SEQ_CST) ||
        !own_record(v) || page_tracked(g)) {
        return false;
    }
    __atomic_store_n(&v->reading, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);   /* the other half: model_reads_stop's membarrier */
    bool ok = __atomic_load_n(&reads_stopped, __ATOMIC_ACQUIRE) == 0;
    uint64_t gen = __atomic_load_n(&reads_gen, __ATOMIC_ACQUIRE);
    ok = ok && gen == v->reads_gen_seen;
    if (ok) {
        *x = __atomic_load_n((const uint64_t *)(uintptr_t)(g + (uint64_t)guest_base),
                             __ATOMIC_RELAXED);
    }
    __atomic_store_n(&v->reading, 0, __ATOMIC_RELEASE);
    v->reads_gen_seen = gen;
    return ok;
}

/*
 * A slot is updated by one callback at a time (two interleaved kept
 * neither's entry): the id's SLOT_BUSY bit, taken here, returns the id it
 * held.  Loads do not take it: they read the bytes, then the id.
 */
static uint32_t slot_lock(struct sh_slot *slot)
{
    uint32_t was = __atomic_load_n(&slot->id, __ATOMIC_RELAXED);
    for (unsigned k = 1;; k++) {
        if (!(was & SLOT_BUSY) &&
            __atomic_compare_exchange_n(&slot->id, &was, was | SLOT_BUSY, true,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            return was;
        }
        if (was & SLOT_BUSY) {
            if (k % 256 == 0) {
                sched_yield();   /* its holder was preempted */
            }
            was = __atomic_load_n(&slot->id, __ATOMIC_RELAXED);
        }
    }
}

/*
 * The part of the SIZE bytes at va (BYTES, with 8 readable bytes past any
 * offset) that falls in granule g, at its place in the granule; *mask:
 * which of the granule's bytes it is.
 */
static uint64_t granule_part(uint64_t g, uint64_t va, unsigned size, const uint8_t *bytes,
                             uint64_t *mask)
{
    uint64_t from = g > va ? g : va, to = g + 8 < va + size ? g + 8 : va + size;
    unsigned lo = (unsigned)(from - g), n = (unsigned)(to - from);
    *mask = (n == 8 ? ~0ull : (1ull << (n * 8)) - 1) << (lo * 8);
    uint64_t val;
    memcpy(&val, bytes + (from - va), 8);   /* little-endian guests and host */
    return (val << (lo * 8)) & *mask;
}

/*
 * Put the bytes a store wrote (or a load read) into the slot's, holding
 * its lock: those at [va, va + size) that fall in granule g, from BYTES,
 * never from memory as it is when the callback runs: another thread's
 * store may have reached memory since, and its bytes would be published
 * under this slot's id, so that a load of them matched the slot and took
 * the wrong store's clock (aarch64/consume_wait).  The granule's other
 * bytes come from OTHER when given (memory now: what the granule holds
 * besides this store; a slot that kept zeros there made every load of
 * them wait for all the stores in flight of every thread, on a program
 * that stores half granules, tens of thousands of waits), else stay.
 */
static void slot_put(struct sh_slot *slot, uint64_t g, uint64_t va, unsigned size,
                     const uint8_t *bytes, const uint64_t *other)
{
    uint64_t mask, val = granule_part(g, va, size, bytes, &mask);
    uint64_t old = other ? *other : __atomic_load_n(&slot->bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->bytes, (old & ~mask) | val, __ATOMIC_RELEASE);
}

void model_store_shadow(struct vcpu *v, uint64_t va, unsigned size, const uint8_t *bytes,
                        bool release)
{
    if (!v->acq) {
        return;
    }
    uint32_t c = release ? v->rel_l : v->rel;
    uint32_t id = c ? c - 1 : 0;
    if (!c && (v->actor || v->last_joined)) {
        pthread_mutex_lock(&model_lock);
        id = store_snap(v, release);
        pthread_mutex_unlock(&model_lock);
    }
    /* Every store has its slot, so that a load racing with the store's
     * callback finds one to wait on. */
    for (uint64_t g = va & ~7ull; g < va + size; g += 8) {
        struct sh_slot *slot = sh_slot_v(v, g, true);
        if (slot) {
            /* From-reads: the loads that read the value this store
             * replaces are ordered before it (herd7's fr in Observed-by);
             * what was ordered before them reaches this thread's later
             * events through its next DSB (pend).  The store takes the
             * note: a later store of another byte of the granule must
             * not (a note kept for every later store, as fr = rf^-1;co
             * would allow for the same location, hid a hazard through
             * two fields of one granule).  Most slots have no note: a
             * load first, and a plain store to take it (a note written
             * between the two is lost: an edge fewer, the safe side). */
            uint32_t fr = __atomic_load_n(&slot->rid, __ATOMIC_ACQUIRE);
            if (fr) {
                __atomic_store_n(&slot->rid, 0, __ATOMIC_RELAXED);
            }
            if (fr && v->pend && (v->fr_joined[fr % JOINED_CACHE] != fr || !own_record(v))) {
                /* pend only grows until a DSB moves it into acq, which
                 * only grows: once joined, fr adds nothing again. */
                v->fr_joined[fr % JOINED_CACHE] = fr;
                if (snap_join(v->pend, fr)) {
                    v->pend_any = true;
                }
            }
            /* A store of bytes the slot holds already, under the same
             * snapshot (a loop's spills of unchanged registers, a flag
             * stored again), leaves the slot as it is: no lock is taken.
             * Read as a seqlock's reader reads (the id, the bytes, the id
             * again, no update in progress between): the pair is one a
             * finished update left, and this store's update would only
             * write it again.  The granule's other bytes are not read
             * afresh then (a partial store's update takes them from
             * memory): they stay as the slot's stores left them.  In
             * `test_slots signal` 94% of the stores, in cmodx-bench 29%,
             * in test_threads 7%. */
            uint64_t wmask, wval = granule_part(g, va, size, bytes, &wmask);
            uint32_t held = __atomic_load_n(&slot->id, __ATOMIC_ACQUIRE);
            if (held == id && (__atomic_load_n(&slot->bytes, __ATOMIC_ACQUIRE) & wmask) == wval &&
                __atomic_load_n(&slot->id, __ATOMIC_ACQUIRE) == held) {
                continue;
            }
            uint32_t was = slot_lock(slot);
            /* Another store's entry, kept (sh_side) before it is replaced:
             * its callback may have come before this older one's. */
            if (was != id) {
                struct sh_slot *side = sh_side(slot);
                __atomic_store_n(&side->id, was, __ATOMIC_RELAXED);
                __atomic_store_n(&side->bytes, __atomic_load_n(&slot->bytes, __ATOMIC_RELAXED),
                                 __ATOMIC_RELEASE);
            }
            /* The id before the bytes (release): a load that sees these
             * bytes sees this id or a later one; the lock falls last. */
            __atomic_store_n(&slot->id, id | SLOT_BUSY, __ATOMIC_RELAXED);
            uint64_t now;
            bool full = (va > g || va + size < g + 8) && granule_read(v, g, &now);
            slot_put(slot, g, va, size, bytes, full ? &now : NULL);
            __atomic_store_n(&slot->id, id, __ATOMIC_RELEASE);
        }
    }
}

/* Is every entry of snapshot a at most that of b? */
static bool snap_le(uint32_t a, uint32_t b)
{
    const struct snap *x = a ? snap_get(a) : NULL, *y = b ? snap_get(b) : NULL;
    for (uint32_t k = 1; x && k < x->n; k++) {
        struct vce z = { 0, 0, 0 };
        const struct vce *e = y && k < y->n ? &y->e[k] : &z;
        if (x->e[k].w > e->w || x->e[k].dc > e->dc || x->e[k].ic > e->ic) {
            return false;
        }
    }
    return true;
}

/* A load by v read the slot's store: record what is ordered before the
 * load (v's barrier-ordered own events and what it read, as for a store:
 * a DMB orders the same events before loads and stores) for the store
 * that will replace the value. */
static void note_reader(struct vcpu *v, struct sh_slot *slot)
{
    uint32_t c = v->rel;
    if (!c) {
        /* Not computed since what v knows last changed (a load that joined
         * a snapshot, a barrier): compute it, or this load's from-reads
         * edge would be lost (a writer's scan of reader states after its
         * fence, which the readers' stores then replace). */
        pthread_mutex_lock(&model_lock);
        store_snap(v, false);
        pthread_mutex_unlock(&model_lock);
        c = v->rel;
    }
    if (c == 1) {
        return;   /* the empty clock: nothing to order */
    }
    uint32_t mine = c - 1;
    uint32_t r = __atomic_load_n(&slot->rid, __ATOMIC_ACQUIRE);
    if (r == mine || (r && snap_le(mine, r))) {
        return;
    }
    if (!r) {
        /* A plain store: a note another thread writes meanwhile is lost
         * (an edge fewer). */
        __atomic_store_n(&slot->rid, mine, __ATOMIC_RELEASE);
        return;
    }
    if (snap_le(r, mine)) {
        __atomic_compare_exchange_n(&slot->rid, &r, mine, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
        return;
    }
    /* Two threads' knowledge: merge them (rare: actors reading one flag). */
    pthread_mutex_lock(&model_lock);
    struct vce *tmp = clock_alloc();
    snap_join(tmp, r);
    snap_join(tmp, mine);
    uint32_t m = snap_make(tmp);
    free(tmp);
    __atomic_compare_exchange_n(&slot->rid, &r, m, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&model_lock);
}

/* Do the slot's bytes hold what a load read, in granule g?  BYTES: the
 * SIZE bytes read at va (with 8 readable bytes past any offset). */
static bool slot_matches(const struct sh_slot *slot, uint64_t g, uint64_t va, unsigned size,
                         const uint8_t *bytes)
{
    uint64_t mask, val = granule_part(g, va, size, bytes, &mask);
    return ((__atomic_load_n(&slot->bytes, __ATOMIC_ACQUIRE) ^ val) & mask) == 0;
}

/* model_load's wait (model_wait_stores): has a store published the bytes
 * the load read, in the slot?  Not its side entry: that holds an older
 * store, whose bytes a flag that returns to a value (a 1/0 handshake)
 * holds again while the newer store the load read is in flight (a false
 * no-context-sync in every run: aarch64/flag_handshake.c). */
struct wait_value {
    struct sh_slot *slot;
    uint64_t g, va;
    unsigned size;
    const uint8_t *bytes;
};
static bool value_published(const void *arg)
{
    const struct wait_value *w = arg;
    return slot_matches(w->slot, w->g, w->va, w->size, w->bytes);
}

/* v fetched or read word w: its store and what was ordered before it. */
static bool join_store(struct vce *d, const struct word *w)
{
    bool grew = w->snap && snap_join(d, w->snap);
    if (w->actor && w->actor < MAX_ACTORS && d[w->actor].w < w->n) {
        d[w->actor].w = w->n;
        grew = true;
    }
    return grew;
}

/*
 * The common load, decided without its value (qemu's value accessor is
 * most of a load callback's cost): a plain load of at most 16 bytes from
 * pages that hold no code, where every granule it touches has a slot that
 * holds the bytes memory holds now and carries nothing new for the thread
 * (no snapshot, or one it holds already).  Then the load read the slots'
 * stores (joining them adds nothing) or stores made and published since
 * (which it did not read: joining nothing is the safe side), and no store
 * in flight wrote what it read (a store in flight changed memory and not
 * yet its slot), unless two stores to a granule, the second restoring the
 * slot's bytes, both fell between the load and this callback.  An actor's
 * read is noted on the slots as model_load notes it (on a store published
 * since, if the load read an earlier one: the next store replaces what
 * it read too, herd's fr being rf^-1;co).  Otherwise false: model_load,
 * with the value, decides.
 */
bool model_load_quick(struct vcpu *v, uint64_t va, unsigned size)
{
    uint64_t end = va + size;   /* exclusive */
    if (!guest_base_known || size > 16 || page_tracked(va) || page_tracked(end - 1)) {
        return false;
    }
    struct sh_slot *slots[3];
    unsigned n = 0;
    for (uint64_t g = va & ~7ull; g < end; g += 8) {
        struct sh_slot *slot = sh_slot_v(v, g, false);
        if (!slot) {
            return false;
        }
        uint32_t id = __atomic_load_n(&slot->id, __ATOMIC_ACQUIRE);
        if (id & SLOT_BUSY) {
            return false;   /* a store's callback is updating it */
        }
        if (id && (v->joined[id % JOINED_CACHE] != id || !own_record(v))) {
            if (!snap_covered(v->acq, id)) {
                return false;   /* something to join: only for the value read */
            }
            v->joined[id % JOINED_CACHE] = id;   /* joining it adds nothing, now or later */
        }
        /* The bytes of the granule the load covers. */
        unsigned lo = g < va ? (unsigned)(va - g) : 0;
        unsigned hi = g + 8 > end ? (unsigned)(end - g) : 8;
        uint64_t mask = (hi - lo == 8 ? ~0ull : ((1ull << ((hi - lo) * 8)) - 1)) << (lo * 8);
        uint64_t now;
        if (!granule_read(v, g, &now)) {
            return false;
        }
        uint64_t b = __atomic_load_n(&slot->bytes, __ATOMIC_ACQUIRE);
        if (((b ^ now) & mask) || __atomic_load_n(&slot->id, __ATOMIC_RELAXED) != id) {
            return false;
        }
        slots[n++] = slot;
    }
    for (unsigned k = 0; v->actor && k < n; k++) {
        note_reader(v, slots[k]);
    }
    return true;
}

void model_load(struct vcpu *v, uint64_t va, unsigned size, const uint8_t *bytes, bool rmw)
{
    if (!v->acq) {
        return;
    }
    for (uint64_t g = va & ~7ull; g < va + size; g += 8) {
        /* Created if missing: the store this load read may be the
         * granule's first since the shadow began, between its access and
         * the callback that makes the slot.  A fresh slot holds zero
         * bytes, so a non-zero value waits for the stores in flight below
         * (once: then the slot holds the bytes); skipping the load here
         * lost that store's reads-from edge (a thread's first acquire of a
         * pointer published after it was created: hb_thread_start.c). */
        struct sh_slot *slot = sh_slot_v(v, g, true);
        if (!slot) {
            continue;   /* out of memory for the shadow: acquire nothing */
        }
        bool from_side = false;   /* the load read the side entry's store */
        if (!slot_matches(slot, g, va, size, bytes)) {
            /* The store this load read has not published its slot yet (it
             * is between its memory access and its callback), or the value
             * was written without a store callback.  Wait for the stores
             * in flight: the one that wrote this value was marked before
             * it reached memory, so before this load read it.  An atomic's
             * load (qemu reports it as a read with the value read, then a
             * write) runs while its own instruction is marked: it stops
             * waiting for another atomic only on a cycle of waits
             * (plugin.c, model_wait_stores).  The wait ends as soon as
             * the slot holds the bytes read: waiting on for every other
             * thread's store in flight, one of them
             * preempted for a time slice, was most of a multi-threaded
             * program's time under the checker (a thread polling words
             * that others store to: hundreds of thousands of yields).  A
             * load wider than 8 bytes or straddling two granules is matched
             * granule by granule. */
            struct wait_value w = { slot, g, va, size, bytes };
            uint64_t lo = g > va ? g : va, hi = g + 8 < va + size ? g + 8 : va + size;
            model_wait_stores(v, rmw, lo, hi, bytes + (lo - va), value_published, &w);
            struct sh_slot *side = sh_side(slot);
            if (!slot_matches(slot, g, va, size, bytes) &&
                slot_matches(side, g, va, size, bytes)) {
                /* A store whose callback ran before an older store's
                 * (sh_side): join what it carried, not what replaced it. */
                uint32_t sid = __atomic_load_n(&side->id, __ATOMIC_RELAXED);
                if (sid && snap_join(v->acq, sid)) {
                    acq_changed(v);
                }
                from_side = true;
            } else if (!rmw && !slot_matches(slot, g, va, size, bytes)) {
                /* No store in flight wrote it: the kernel's, qemu's or a
                 * copy instruction's write.  Take the bytes read (only
                 * those: the rest of the granule may be a store in flight
                 * now, slot_put) so that later loads of them do not
                 * wait.  Not after an atomic's load: its store callback
                 * publishes the slot next. */
                uint32_t was = slot_lock(slot);
                slot_put(slot, g, va, size, bytes, NULL);
                __atomic_store_n(&slot->id, was, __ATOMIC_RELEASE);
            }
        }
        if (v->actor) {
            note_reader(v, slot);
        }
        if (from_side) {
            continue;   /* not the store that replaced it */
        }
        uint32_t id = __atomic_load_n(&slot->id, __ATOMIC_RELAXED) & ~SLOT_BUSY;
        if (id && id != v->last_joined) {
            v->last_joined = id;
            if (v->joined[id % JOINED_CACHE] != id || !own_record(v)) {
                v->joined[id % JOINED_CACHE] = id;
                if (snap_join(v->acq, id)) {
                    acq_changed(v);
                }
            }
        }
    }
    /* Reading code as data (herd: rf into an explicit read), on each page
     * the load touches (an unaligned one may end on the next).  After the
     * granules' waits for stores in flight: a store records its word
     * before it publishes its slot and clears its mark (plugin.c
     * store_slow), so the store this load read is recorded by now. */
    for (uint64_t a = va & ~3ull; a < va + size;) {
        uint64_t pend = (a | (PAGE_SIZE - 1)) + 1;
        struct bpage *bp = page_tracked(a) ? bpage_get(a, false) : NULL;
        struct word *ws = bp ? __atomic_load_n(&bp->words, __ATOMIC_ACQUIRE) : NULL;
        if (ws) {
            pthread_mutex_lock(&model_lock);
            for (; a < va + size && a < pend; a += 4) {
                const struct word *w = &ws[(a & (PAGE_SIZE - 1)) / 4];
                if (w->stage != ST_NONE && join_store(v->acq, w)) {
                    acq_changed(v);
                }
            }
            pthread_mutex_unlock(&model_lock);
        }
        a = pend;
    }
}

/* ==== checks ==== */

/* Is the event (a, c, n) ordered before v's next fetch? */
static bool before_fetch(const struct vcpu *v, uint16_t a, enum cls c, uint32_t n)
{
    return known(v->fvc, a, c, n);
}

bool model_page_quiet(struct vcpu *v, struct bpage *bp)
{
    if (cfg.arch != ARCH_AARCH64) {
        return __atomic_load_n(&bp->pending, __ATOMIC_RELAXED) == 0 &&
               synced(v) > __atomic_load_n(&bp->max_done, __ATOMIC_RELAXED);
    }
    if (!v->fvc || __atomic_load_n(&bp->pending, __ATOMIC_RELAXED) != 0 ||
        v->gsync_seen != __atomic_load_n(&gsync_ver, __ATOMIC_RELAXED)) {
        return false;
    }
    uint16_t ra = __atomic_load_n(&bp->req_a, __ATOMIC_RELAXED);
    if (ra == MIXED) {
        return false;
    }
    uint32_t rn = __atomic_load_n(&bp->req_n, __ATOMIC_RELAXED);
    enum cls rc = (enum cls)__atomic_load_n(&bp->req_cls, __ATOMIC_RELAXED);
    return rn == 0 || before_fetch(v, ra, rc, rn);
}

/*
 * Allowed replacements that may still run old: one note per thread and
 * store is enough (the check takes the lock; a patched function entry is
 * fetched millions of times).  A small per-thread cache of (word, store).
 */
static unsigned note_slot(const struct word *w)
{
    return (unsigned)(((uintptr_t)w >> 2) % NOTE_CACHE);
}

bool model_note_seen(struct vcpu *v, const struct word *w)
{
    unsigned k = note_slot(w);
    if (v->note_w[k] == w && v->note_n[k] == w->n && v->note_a[k] == w->actor) {
        return true;
    }
    v->note_w[k] = w;
    v->note_n[k] = w->n;
    v->note_a[k] = w->actor;
    return false;
}

/*
 * A fetch that passed its check stays passed for the thread while the
 * word holds the same store: the check asks whether events recorded for
 * the store (its cleans and invalidates, a DSB, the store itself) are
 * ordered before the thread's fetches, and the thread's clocks only grow
 * while it lives (model_thread_start clears them, and this cache), and a
 * word gains such events until its next store, which changes its (actor,
 * n), or until it is found written before tracking began (promote: from
 * never written to written, both with actor 0 and event 0), which
 * changes its stage: the key is all three (found by the hostile review).
 * model_fetched joined the store into the thread's clocks, which keep
 * it.  So a word seen here needs no lock: the check of a block whose
 * page another thread keeps writing (a JIT emitting the next function
 * beside the ones running) took the model's lock at every run of every
 * block of the page, against the writer's stores (test_slots epoch, one
 * caller: 330 000 times, one in seven waiting).  AArch64 only: on the
 * other architectures a word's store is not an (actor, n) event.  Not
 * for threads past MAX_VCPUS - 1, which share one record (own_record).
 */
static unsigned settled_slot(const struct word *w)
{
    return (unsigned)(((uintptr_t)w / sizeof(*w)) % SETTLED_CACHE);
}

bool model_settled_seen(const struct vcpu *v, const struct word *w)
{
    unsigned k = settled_slot(w);
    return cfg.arch == ARCH_AARCH64 && own_record(v) && v->settled_w[k] == w &&
           v->settled_n[k] == __atomic_load_n(&w->n, __ATOMIC_RELAXED) &&
           v->settled_a[k] == __atomic_load_n(&w->actor, __ATOMIC_RELAXED) &&
           v->settled_s[k] == __atomic_load_n(&w->stage, __ATOMIC_RELAXED);
}

void model_settled_note(struct vcpu *v, const struct word *w)
{
    if (cfg.arch != ARCH_AARCH64 || !v->fvc || !own_record(v)) {
        return;   /* a record shared by threads: their clocks mix */
    }
    unsigned k = settled_slot(w);
    v->settled_w[k] = w;
    v->settled_n[k] = w->n;
    v->settled_a[k] = w->actor;
    v->settled_s[k] = w->stage;
}

bool model_fast_ok(const struct vcpu *v, const struct bpage *bp, unsigned wi)
{
    if (cfg.arch != ARCH_AARCH64 || __atomic_load_n(&bp->pending_x, __ATOMIC_RELAXED) == 0) {
        return true;
    }
    const struct word *w = &bp->words[wi];
    if (__atomic_load_n(&w->pk, __ATOMIC_RELAXED) != 2 || cfg.repl == REPL_OFF) {
        return true;
    }
    unsigned k = note_slot(w);
    return v->note_w[k] == w && v->note_n[k] == __atomic_load_n(&w->n, __ATOMIC_RELAXED) &&
           v->note_a[k] == __atomic_load_n(&w->actor, __ATOMIC_RELAXED);
}

bool model_fetch_joined(const struct vcpu *v, const struct bpage *bp, unsigned wi)
{
    if (cfg.arch != ARCH_AARCH64 || !v->acq) {
        return true;
    }
    const struct word *w = &bp->words[wi];
    uint16_t a = __atomic_load_n(&w->actor, __ATOMIC_RELAXED);
    uint32_t n = __atomic_load_n(&w->n, __ATOMIC_RELAXED);
    return known(v->fvc, a, C_W, n) && known(v->acq, a, C_W, n);
}

static enum kind riscv_check(struct vcpu *v, const struct word *w)
{
    if (synced(v) > w->seq) {
        return K_COUNT;
    }
    if (last_local_flush > w->seq && last_local_flusher != v->label) {
        return K_LOCAL_FLUSH_ONLY;
    }
    return K_NO_FENCE_I;
}

/* Did the actor's DSB follow its event n (is the event completed)? */
static bool completed_by_dsb(uint16_t a, uint32_t n)
{
    return a < MAX_ACTORS && actor_dsb[a] >= n;
}

/* AArch64: K_COUNT when the fetch must see the newest store. */
static enum kind a64_check(struct vcpu *v, const struct word *w)
{
    merge_gsync(v);
    if (!cfg.dic) {
        for (unsigned k = 0; k < w->nic; k++) {
            if (before_fetch(v, w->icq[k].a, C_IC, w->icq[k].n)) {
                return K_COUNT;
            }
        }
        if (w->nic) {
            for (unsigned k = 0; k < w->nic; k++) {
                if (completed_by_dsb(w->icq[k].a, w->icq[k].n)) {
                    return K_NO_CONTEXT_SYNC;
                }
            }
            return K_INVAL_NOT_COMPLETED;
        }
        /* No invalidate ordered after a clean (IDC=1: after the store):
         * one came too early (not ordered after it), or none came. */
        if (!cfg.idc && !w->ndc) {
            return K_NOT_CLEANED;
        }
        return w->ic_early ? K_CLEAN_NOT_COMPLETED : K_NOT_INVALIDATED;
    }
    if (cfg.idc) {
        if (before_fetch(v, w->actor, C_W, w->n)) {
            return K_COUNT;
        }
        /* The store is ordered before the thread's other events (a DSB by
         * the writer itself, or a barrier before what the thread read):
         * only the context synchronisation is missing. */
        bool ordered = known(v->acq, w->actor, C_W, w->n) ||
                       (w->actor == v->actor && (v->dsb_full >= w->n || v->dsb_st >= w->n));
        return ordered ? K_NO_CONTEXT_SYNC : K_CLEAN_NOT_COMPLETED;
    }
    for (unsigned k = 0; k < w->ndc; k++) {
        if (before_fetch(v, w->dcq[k].a, C_DC, w->dcq[k].n)) {
            return K_COUNT;
        }
    }
    if (!w->ndc) {
        return K_NOT_CLEANED;
    }
    for (unsigned k = 0; k < w->ndc; k++) {
        if (completed_by_dsb(w->dcq[k].a, w->dcq[k].n)) {
            return K_NO_CONTEXT_SYNC;
        }
    }
    return K_CLEAN_NOT_COMPLETED;
}

enum kind model_check_word(struct vcpu *v, struct bpage *bp, unsigned wi)
{
    enum kind k = model_check_word_ignoring_exempt(v, bp, wi);
    if (k == K_COUNT || !bp->words[wi].exempt) {
        return k;
    }
    /* An allowed concurrent replacement: the old or the new instruction
     * runs, never a mix; nothing orders the new one before this fetch. */
    if (cfg.arch != ARCH_AARCH64 || cfg.repl == REPL_OFF) {
        return K_COUNT;
    }
    return K_STALE_REPLACEMENT;
}

enum kind model_check_word_ignoring_exempt(struct vcpu *v, struct bpage *bp, unsigned wi)
{
    const struct word *w = &bp->words[wi];
    if (w->stage == ST_NONE) {
        return K_COUNT;
    }
    if (cfg.arch == ARCH_AARCH64) {
        return v->fvc ? a64_check(v, w) : K_COUNT;
    }
    if (cfg.arch == ARCH_RISCV64) {
        return riscv_check(v, w);
    }
    switch (w->stage) {
    case ST_WRITTEN:
        return K_NO_CACHEFLUSH;
    default:
        return synced(v) > w->seq ? K_COUNT : K_NO_CONTEXT_SYNC;
    }
}

/*
 * The fetch read the word's newest store (qemu ran the bytes in memory):
 * herd's rf into an instruction fetch.  The store and what was ordered
 * before it are then ordered before v's later non-fetch events
 * (Fetch-ordered-before) and, through IC-ordered-before, its later
 * fetches.
 */
void model_fetched(struct vcpu *v, struct bpage *bp, unsigned wi)
{
    if (cfg.arch != ARCH_AARCH64 || !v->acq) {
        return;
    }
    const struct word *w = &bp->words[wi];
    if (w->stage == ST_NONE) {
        return;
    }
    if (join_store(v->acq, w)) {
        acq_changed(v);
    }
    join_store(v->fvc, w);
}
