/*
 * tools/torture/run.c - the caller and writer threads of cmodx-torture.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "torture.h"

typedef uint32_t (*ident_fn)(void);

static ident_fn as_fn(const void *p)
{
    ident_fn f;
    memcpy(&f, &p, sizeof f);
    return f;
}

/* xorshift64*: cheap, and reproducible from --seed per thread. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static uint64_t thread_seed(int index)
{
    uint64_t s = T.opt.seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(index + 1));
    return s ? s : 1;
}

static int stopping(void)
{
    return __atomic_load_n(&T.stop, __ATOMIC_ACQUIRE);
}

/* Count an invalid observation (the caller printed it). */
void note_invalid(struct counters *c)
{
    bump(&c->invalid);
    if (T.opt.fail_fast)
        __atomic_store_n(&T.stop, 1, __ATOMIC_RELEASE);
}

static int patch_setup(void);
static int entry_publish(const int *ss, const cmodx_block *b, int n);
static void fatal(const char *what);

/* ---- callers -------------------------------------------------------------- */

/* What a caller saw around one call of slot S. */
struct observation {
    int slot;
    uint64_t completed; /* COMPLETED before the call: the floor */
    uint64_t started;   /* STARTED before the call: the age reference */
    uint64_t started_after;
    uint64_t last;      /* this caller's previous version of the slot */
    const void *target;
    uint32_t result;
};

static void report_invalid(const struct observation *o, const char *what, uint64_t v)
{
    unsigned n = __atomic_fetch_add(&T.reported, 1, __ATOMIC_RELAXED);
    if (n >= 10) {
        if (n == 10)
            fprintf(stderr, "cmodx-torture: (further invalid observations not shown)\n");
        return;
    }
    fprintf(stderr,
            "cmodx-torture: INVALID: %s: slot %d returned %#x (slot %u, version %llu) from "
            "block %p; before the call completed %llu, started %llu; after it started %llu; "
            "this caller last saw version %llu\n",
            what, o->slot, o->result, o->result >> VERSION_BITS, (unsigned long long)v,
            o->target, (unsigned long long)o->completed, (unsigned long long)o->started,
            (unsigned long long)o->started_after, (unsigned long long)o->last);
    history_print((uintptr_t)o->target);
}

/* Check one observation; returns the full version seen, or UINT64_MAX if
 * the result is not a version of the slot at all. */
static uint64_t check(const struct observation *o, struct counters *c)
{
    uint32_t low = o->result & VERSION_MASK;
    uint64_t back = (uint32_t)(o->started_after - low) & VERSION_MASK;
    if ((int)(o->result >> VERSION_BITS) != o->slot || back > o->started_after) {
        report_invalid(o, "not a version published for this slot", low);
        note_invalid(c);
        return UINT64_MAX;
    }
    uint64_t v = o->started_after - back;
    if (v < o->last) {
        report_invalid(o, "version went backwards", v);
        note_invalid(c);
    } else if (v < o->completed) {
        report_invalid(o, "older than the protocol allows (a newer publish had returned)", v);
        note_invalid(c);
    }
    if (v > o->started)
        bump(&c->newer);
    else
        bump(&c->age[o->started - v < AGE_BUCKETS ? o->started - v : AGE_BUCKETS - 1]);
    return v;
}

/* --patch insns: the flip block of slot S runs "return identity(S, 0)"
 * after its NOP and "return identity(S, 1)" at the jump's target; version
 * V of the slot is the jump when V is odd.  A call that began after patch
 * C returned (COMPLETED == C before it) and before patch C+1 began
 * (STARTED == C after it) must see version C's instruction: the patch's
 * synchronisation guarantees the new instruction at the next fetch.  The
 * writer synchronises every thread between storing STARTED and the patch
 * (publish_flip), so a caller that fetched patch C+1's instruction also
 * sees STARTED == C+1 afterwards. */
static void call_flip(int s, struct counters *c)
{
    struct slot_state *st = &T.slots[s];
    uint64_t done = __atomic_load_n(&st->completed, __ATOMIC_ACQUIRE);
    uint32_t r = as_fn(st->flip.exec.ptr)();
    uint64_t begun = __atomic_load_n(&st->started, __ATOMIC_ACQUIRE);
    int ok = r == identity(s, done & 1) || (begun > done && r == identity(s, (done + 1) & 1));
    if (!ok) {
        unsigned n = __atomic_fetch_add(&T.reported, 1, __ATOMIC_RELAXED);
        if (n < 10)
            fprintf(stderr, "cmodx-torture: INVALID: slot %d's patched block %p returned %#x; "
                    "patch %llu had returned before the call and patch %llu had begun after "
                    "it, so %#x was due\n", s, st->flip.exec.ptr, r,
                    (unsigned long long)done, (unsigned long long)begun,
                    identity(s, done & 1));
        note_invalid(c);
    }
    bump(&c->calls);
}

static void call_once(cmodx_thread *self, int s, uint64_t *last, uint64_t *rng,
                      struct counters *c)
{
    struct slot_state *st = &T.slots[s];
    if (T.opt.patch == PATCH_INSNS) {
        call_flip(s, c);
        return;
    }
    struct observation o = {.slot = s, .last = last[s]};
    o.completed = __atomic_load_n(&st->completed, __ATOMIC_ACQUIRE);
    o.started = __atomic_load_n(&st->started, __ATOMIC_ACQUIRE);
    o.target = T.opt.patch == PATCH_ENTRIES
                   ? __atomic_load_n(&st->entry_target, __ATOMIC_ACQUIRE) /* for reports */
                   : cmodx_slot_target(&st->slot, self);
    /* Hold the loaded target across a possible publish and free: the
     * grace period must wait for us. */
    if (T.opt.yield_one_in && rnd(rng) % (uint64_t)T.opt.yield_one_in == 0)
        sched_yield();
    o.result = T.opt.patch == PATCH_ENTRIES ? torture_entries[s]() : as_fn(o.target)();
    o.started_after = __atomic_load_n(&st->started, __ATOMIC_ACQUIRE);
    uint64_t v = check(&o, c);
    if (v != UINT64_MAX && v > last[s])
        last[s] = v;
    bump(&c->calls);
}

/* A call through user cell K: load its version, often hold it a while
 * (across a writer's swap, cmodx_synchronize and free), call it.  The
 * block must still return the version's result: a writer that freed it
 * too early leaves a trap (caught by trap.c) or another block there.
 * Holding for CELL_HOLD_NS once in CELL_HOLD_ONE_IN cell calls (unless
 * --yield-one-in 0) keeps grace periods running long enough for writers
 * to arrive during one, which is where sharing can go wrong; a sleep,
 * not a yield, which on an idle core returns at once. */
#define CELL_HOLD_ONE_IN 4
#define CELL_HOLD_NS 50000L
static void call_cell(int k, uint64_t *rng, struct counters *c)
{
    const struct cell_ver *v = __atomic_load_n(&T.cells[k], __ATOMIC_ACQUIRE);
    if (T.opt.yield_one_in && rnd(rng) % CELL_HOLD_ONE_IN == 0) {
        struct timespec ts = {0, CELL_HOLD_NS};
        nanosleep(&ts, NULL);
    }
    uint32_t r = as_fn(v->exec.ptr)();
    if (r != v->id) {
        unsigned n = __atomic_fetch_add(&T.reported, 1, __ATOMIC_RELAXED);
        if (n < 10)
            fprintf(stderr, "cmodx-torture: INVALID: user cell %d's block %p returned %#x instead "
                    "of %#x: freed and reused while this caller held it (cmodx_synchronize "
                    "returned too early)\n", k, v->exec.ptr, r, v->id);
        note_invalid(c);
    }
    bump(&c->calls);
}

void *caller_main(void *arg)
{
    int index = (int)(intptr_t)arg;
    struct counters *c = &T.thr[index];
    uint64_t rng = thread_seed(index);
    uint64_t *last = calloc((size_t)T.opt.slots, sizeof *last);
    cmodx_thread *self;
    if (!last || cmodx_thread_register(T.dom, &self) != 0) {
        fprintf(stderr, "cmodx-torture: caller %d: register: %s\n", index, cmodx_last_error());
        __atomic_store_n(&T.failed_setup, 1, __ATOMIC_RELAXED);
        free(last);
        return NULL;
    }
    witness_thread_start(c);
    witness_online(c);
    while (!stopping()) {
        if (cells_on() && rnd(&rng) % 4 == 0)
            call_cell((int)(rnd(&rng) % TORTURE_CELLS), &rng, c);
        else
            call_once(self, (int)(rnd(&rng) % (uint64_t)T.opt.slots), last, &rng, c);
        cmodx_quiescent(self);
        if (T.opt.offline_every && c->calls % (uint64_t)T.opt.offline_every == 0) {
            witness_offline(c);
            cmodx_thread_offline(self);
            sched_yield();
            cmodx_thread_online(self);
            witness_online(c);
        }
    }
    witness_offline(c);
    cmodx_thread_unregister(T.dom);
    free(last);
    return NULL;
}

/* ---- writers -------------------------------------------------------------- */

static void fatal(const char *what)
{
    fprintf(stderr, "cmodx-torture: %s: %s\n", what, cmodx_last_error());
    __atomic_store_n(&T.failed_setup, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&T.stop, 1, __ATOMIC_RELEASE);
}

/* Allocate, waiting for grace periods while the heap is full. */
static int alloc_block(size_t size, cmodx_block *b, struct counters *c)
{
    for (int tries = 0; tries < 1000 && !stopping(); tries++) {
        int err = cmodx_block_alloc(T.heap, size, b);
        if (err != ENOMEM)
            return err;
        bump(&c->alloc_retries);
        if (cmodx_reclaim_poll(T.dom) == 0)
            cmodx_synchronize(T.dom, 10000);
    }
    return ENOMEM;
}

static size_t pick_size(uint64_t *rng)
{
    size_t span = T.opt.block_max - T.opt.block_min + 1;
    size_t size = T.opt.block_min + (size_t)(rnd(rng) % span);
    size_t need = cmodx_emit_return_u32_size();
    return size < need ? need : size;
}

/* A writer runs its new block itself (the JIT pattern "write, then call"):
 * cmodx_make_visible() must have synchronised this thread. */
static void writer_call(const cmodx_block *b, uint32_t id, int s, uint64_t v, struct counters *c)
{
    if (cmodx_make_visible(b->exec, cmodx_emit_return_u32_size()) != 0) {
        fatal("cmodx_make_visible");
        return;
    }
    uint32_t r = as_fn(b->exec.ptr)();
    bump(&c->writer_calls);
    if (r != id) {
        note_invalid(c);
        fprintf(stderr, "cmodx-torture: INVALID: writer ran its new block %p for slot %d "
                "version %llu and got %#x instead of %#x\n", b->exec.ptr, s,
                (unsigned long long)v, r, id);
        history_print((uintptr_t)b->exec.ptr);
    }
}

/* Write version V of slot S into a new block. */
static int make_version(int s, uint64_t v, uint64_t *rng, cmodx_block *b, struct counters *c)
{
    int err = alloc_block(pick_size(rng), b, c);
    if (err) {
        if (!stopping())
            fatal("cmodx_block_alloc (heap limit too small for the slots?)");
        return err;
    }
    uint32_t id = identity(s, v);
    size_t n = cmodx_emit_return_u32(b->write, b->size, id);
    cmodx_wptr rest = {(char *)b->write.ptr + n};
    cmodx_emit_trap_fill(rest, b->size - n); /* a jump past the return traps */
    if (history_note((uintptr_t)b->exec.ptr, b->size, EV_ALLOC, s, v))
        __atomic_fetch_add(&T.reused_blocks, 1, __ATOMIC_RELAXED);
    if (T.opt.writer_calls)
        writer_call(b, id, s, v, c);
    return 0;
}

/* Take N publishes from the --publishes budget; 0 when it is spent. */
static int take_budget(int n)
{
    if (!T.opt.publishes)
        return n;
    uint64_t left = __atomic_load_n(&T.publish_budget, __ATOMIC_RELAXED);
    do {
        if (left == 0) {
            __atomic_store_n(&T.stop, 1, __ATOMIC_RELEASE);
            return 0;
        }
    } while (!__atomic_compare_exchange_n(&T.publish_budget, &left,
                                          left - (left < (uint64_t)n ? left : (uint64_t)n), 0,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return left < (uint64_t)n ? (int)left : n;
}

/* A block that was never switched in: free it at once, untouched by any
 * caller. */
static void discard(const cmodx_block *b, int s, uint64_t v)
{
    history_note((uintptr_t)b->exec.ptr, b->size, EV_UNPUBLISHED_FREE, s, v);
    cmodx_block_free(T.heap, b->exec);
}

static void publish_failed(int err, const cmodx_block *b, int s, uint64_t v)
{
    if (err == ETIMEDOUT) {
        /* A bounded wait (acknowledgements, back-pressure) that expired on
         * a slow or loaded machine: the documented result, nothing was
         * switched, so the version is dropped and a later one published.
         * The torture asserts correctness, not speed. */
        discard(b, s, v);
        __atomic_fetch_add(&T.publish_timeouts, 1, __ATOMIC_RELAXED);
        return;
    }
    fprintf(stderr, "cmodx-torture: publish of slot %d version %llu failed: %s (%s)\n", s,
            (unsigned long long)v, cmodx_strerror(err), cmodx_last_error());
    discard(b, s, v);
    __atomic_fetch_add(&T.publish_errors, 1, __ATOMIC_RELAXED);
}

/* --patch entries: redirect the entries of slots SS[0..N) to blocks B
 * (one call, a batch when N > 1), then retire the blocks they went to
 * before: a caller may still run one until its quiescent state. */
static int entry_publish(const int *ss, const cmodx_block *b, int n)
{
    struct cmodx_entry_change ch[4];
    memset(ch, 0, sizeof ch);
    for (int i = 0; i < n; i++) {
        const void *f;
        memcpy(&f, &torture_entries[ss[i]], sizeof f);
        ch[i].function.ptr = f;
        ch[i].target = b[i].exec;
        ch[i].slot = NULL;
    }
    int err = n == 1 ? cmodx_entry_redirect(T.dom, ch[0].function, ch[0].target)
                     : cmodx_entry_redirect_batch(T.dom, ch, (size_t)n);
    for (int i = 0; i < n && !err; i++) {
        struct slot_state *st = &T.slots[ss[i]];
        cmodx_xptr old = {__atomic_load_n(&st->entry_target, __ATOMIC_RELAXED)};
        __atomic_store_n(&st->entry_target, b[i].exec.ptr, __ATOMIC_RELEASE);
        int r = cmodx_retire(T.dom, old);
        if (r && r != ETIMEDOUT) /* ETIMEDOUT: back-pressure expired, still retired */
            fatal("cmodx_retire");
    }
    return err;
}

/* --patch insns: patch N of this writer's flip blocks to their next
 * version (one cmodx_patch_insns call). */
static void publish_flip(const int *ss, int n, struct counters *c)
{
    struct cmodx_insn_patch p[4];
    uint64_t v[4];
    for (int i = 0; i < n; i++) {
        struct slot_state *st = &T.slots[ss[i]];
        v[i] = st->started + 1;
        p[i].at = st->flip.exec;
        int err = (v[i] & 1) ? cmodx_patch_encode_jump(st->flip.exec,
                                                       (cmodx_xptr){(const char *)st->flip.exec.ptr + 32},
                                                       0, p[i].insn)
                             : cmodx_patch_encode_nop(p[i].insn);
        if (err) {
            fatal("cmodx_patch_encode");
            return;
        }
        __atomic_store_n(&st->started, v[i], __ATOMIC_RELEASE);
    }
    /* Every caller sees STARTED before any can fetch the new instruction
     * (call_flip's argument). */
    if (cmodx_sync_others(T.dom) != 0) {
        fatal("cmodx_sync_others");
        return;
    }
    int err = cmodx_patch_insns(T.dom, p, (size_t)n);
    for (int i = 0; i < n; i++) {
        struct slot_state *st = &T.slots[ss[i]];
        if (err) { /* written back: the version did not happen */
            __atomic_store_n(&st->started, v[i] - 1, __ATOMIC_RELEASE);
            continue;
        }
        __atomic_store_n(&st->completed, v[i], __ATOMIC_RELEASE);
        bump(&c->publishes);
    }
    if (err == ETIMEDOUT)
        __atomic_fetch_add(&T.publish_timeouts, 1, __ATOMIC_RELAXED);
    else if (err) {
        fprintf(stderr, "cmodx-torture: patch failed: %s (%s)\n", cmodx_strerror(err),
                cmodx_last_error());
        __atomic_fetch_add(&T.publish_errors, 1, __ATOMIC_RELAXED);
    }
}

static void published(const cmodx_block *b, int s, uint64_t v, struct counters *c)
{
    history_note((uintptr_t)b->exec.ptr, b->size, EV_PUBLISH, s, v);
    __atomic_store_n(&T.slots[s].completed, v, __ATOMIC_RELEASE);
    bump(&c->publishes);
}

/* --sync-free-one-in: the old block OLD, just switched away from by a
 * publish without CMODX_RETIRE_OLD, is freed by the writer itself after
 * cmodx_synchronize() (the classic "unlink, synchronise, free"): a caller
 * that loaded it before the switch may run it until its next quiescent
 * state, which the call must wait for.  Several writers do this at once,
 * so their calls share grace periods; a call that returned on a period
 * that began before it would let a caller run a freed (trap-filled)
 * block.  A timed-out call retires the block instead (still safe). */
static void sync_and_free(cmodx_xptr old)
{
    int err = cmodx_synchronize(T.dom, 10000);
    if (err == 0) {
        history_note_free((uintptr_t)old.ptr);
        err = cmodx_block_free(T.heap, old);
        if (err)
            fatal("cmodx_block_free after cmodx_synchronize");
        return;
    }
    if (err != ETIMEDOUT)
        fatal("cmodx_synchronize");
    err = cmodx_retire(T.dom, old);
    if (err && err != ETIMEDOUT) /* ETIMEDOUT: back-pressure expired, still retired */
        fatal("cmodx_retire");
}

static void publish_one(int s, uint64_t *rng, struct counters *c)
{
    struct slot_state *st = &T.slots[s];
    uint64_t v = st->started + 1; /* only this writer writes the slot's counters */
    cmodx_block b;
    if (make_version(s, v, rng, &b, c) != 0)
        return;
    int self_free = T.opt.patch == PATCH_NONE && T.opt.sync_free_one_in &&
                    rnd(rng) % (uint64_t)T.opt.sync_free_one_in == 0;
    cmodx_xptr old = {NULL};
    __atomic_store_n(&st->started, v, __ATOMIC_RELEASE);
    struct witness w;
    witness_before(&w);
    int err = T.opt.patch == PATCH_ENTRIES
                  ? entry_publish(&s, &b, 1)
                  : cmodx_slot_publish(&st->slot, b.exec, cmodx_emit_return_u32_size(),
                                       self_free ? 0 : CMODX_RETIRE_OLD, self_free ? &old : NULL);
    if (err) {
        publish_failed(err, &b, s, v);
        return;
    }
    witness_after(&w, s, v, c);
    published(&b, s, v, c);
    if (self_free)
        sync_and_free(old);
}

/* Switch N distinct slots of this writer with one batch. */
static void publish_batch(const int *ss, int n, uint64_t *rng, struct counters *c)
{
    cmodx_block b[4];
    uint64_t v[4];
    cmodx_batch *batch;
    if (cmodx_batch_begin(T.dom, &batch) != 0) {
        fatal("cmodx_batch_begin");
        return;
    }
    int made = 0, err = 0, unmade = 0;
    for (; made < n; made++) {
        v[made] = T.slots[ss[made]].started + 1;
        if ((unmade = make_version(ss[made], v[made], rng, &b[made], c)) != 0)
            break;
        err = T.opt.patch == PATCH_ENTRIES
                  ? 0
                  : cmodx_batch_add(batch, &T.slots[ss[made]].slot, b[made].exec,
                                    cmodx_emit_return_u32_size(), CMODX_RETIRE_OLD);
        if (err) {
            cmodx_block_free(T.heap, b[made].exec);
            break;
        }
        __atomic_store_n(&T.slots[ss[made]].started, v[made], __ATOMIC_RELEASE);
    }
    struct witness w;
    witness_before(&w);
    if (!err && !unmade && T.opt.patch == PATCH_ENTRIES) {
        cmodx_batch_abort(batch); /* the slots' batch stays unused */
        err = entry_publish(ss, b, n);
        if (!err)
            witness_after(&w, ss[0], v[0], c);
    } else if (!err && !unmade) {
        err = cmodx_batch_commit(batch, NULL); /* frees the batch, even on error */
        if (!err)
            witness_after(&w, ss[0], v[0], c);
    } else
        cmodx_batch_abort(batch);
    for (int i = 0; i < made; i++) {
        if (unmade) /* out of heap while stopping, or already reported */
            discard(&b[i], ss[i], v[i]);
        else if (err)
            publish_failed(err, &b[i], ss[i], v[i]);
        else
            published(&b[i], ss[i], v[i], c);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --pace: let every caller make opt.pace calls before the next publish,
 * so that each new block is run right after its switch (a missing
 * synchronisation then shows as a hazard under cmodx-check). */
static void pace(void)
{
    uint64_t target[TORTURE_MAX_THREADS];
    for (int i = 0; i < T.opt.callers; i++)
        target[i] = __atomic_load_n(&T.thr[i].calls, __ATOMIC_RELAXED) + (uint64_t)T.opt.pace;
    double deadline = now_s() + 1.0;
    for (int i = 0; i < T.opt.callers && !stopping(); i++)
        while (__atomic_load_n(&T.thr[i].calls, __ATOMIC_RELAXED) < target[i] &&
               !stopping() && now_s() < deadline)
            sched_yield();
}

/* The slots writer INDEX owns: S with S % writers == INDEX. */
static int own_slot(int index, uint64_t *rng)
{
    int mine = (T.opt.slots - index + T.opt.writers - 1) / T.opt.writers;
    return index + T.opt.writers * (int)(rnd(rng) % (uint64_t)mine);
}

/* A new version of a user cell: a block returning a fresh id, and its
 * descriptor.  NULL when the heap is exhausted while stopping. */
static struct cell_ver *cell_version(uint64_t *rng, struct counters *c)
{
    struct cell_ver *v = malloc(sizeof *v);
    cmodx_block b;
    if (!v || alloc_block(pick_size(rng), &b, c) != 0) {
        free(v);
        if (!stopping())
            fatal("user cell: out of memory or heap");
        return NULL;
    }
    v->id = 0xC0000000u | (__atomic_add_fetch(&T.cell_seq, 1, __ATOMIC_RELAXED) & 0x3FFFFFFFu);
    size_t n = cmodx_emit_return_u32(b.write, b.size, v->id);
    cmodx_wptr rest = {(char *)b.write.ptr + n};
    cmodx_emit_trap_fill(rest, b.size - n);
    history_note((uintptr_t)b.exec.ptr, b.size, EV_ALLOC, -1, v->id);
    if (cmodx_make_visible(b.exec, b.size) != 0) {
        fatal("cmodx_make_visible");
        free(v);
        return NULL;
    }
    /* A caller branches to the block through a plain pointer, passing no
     * slot: before the pointer is stored, every other thread must be
     * context-synchronised after the maintenance (AArch64: a thread that
     * ran a freed block at this address may still fetch its old
     * instructions; Arm ARM B2.2.5 / the ISB requirement), which the
     * strategy's eager step does (cells_setup keeps cells to eager
     * strategies).  ETIMEDOUT (signal: a thread did not acknowledge): this
     * version is not used. */
    int err = cmodx_sync_others(T.dom);
    if (err) {
        if (err != ETIMEDOUT)
            fatal("cmodx_sync_others");
        history_note_free((uintptr_t)b.exec.ptr);
        if (cmodx_block_free(T.heap, b.exec) != 0)
            fatal("cmodx_block_free of an unused user cell version");
        free(v);
        return NULL;
    }
    v->exec = b.exec;
    return v;
}

/* Swap user cell K to a new version, then "unlink, synchronise, free":
 * the writer frees the old block itself once cmodx_synchronize() returns
 * (a timed-out call leaves it to cmodx_retire, still safe).  The
 * descriptor goes into RING, freed CELL_RING swaps later. */
static void cell_swap(struct cell_ver **ring, unsigned *nring, uint64_t *rng,
                      struct counters *c)
{
    int k = (int)(rnd(rng) % TORTURE_CELLS);
    struct cell_ver *v = cell_version(rng, c);
    if (!v)
        return;
    struct cell_ver *old = __atomic_exchange_n(&T.cells[k], v, __ATOMIC_ACQ_REL);
    int err = cmodx_synchronize(T.dom, 10000);
    if (err == 0) {
        history_note_free((uintptr_t)old->exec.ptr);
        if (cmodx_block_free(T.heap, old->exec) != 0)
            fatal("cmodx_block_free after cmodx_synchronize");
    } else if (err == ETIMEDOUT) {
        err = cmodx_retire(T.dom, old->exec);
        if (err && err != ETIMEDOUT) /* ETIMEDOUT: back-pressure expired, still retired */
            fatal("cmodx_retire");
    } else {
        fatal("cmodx_synchronize");
    }
    free(ring[*nring % CELL_RING]);
    ring[(*nring)++ % CELL_RING] = old;
}

int cells_setup(void)
{
    /* Epoch and trampoline synchronise a thread at its next call through a
     * slot, which a call through a user cell is not: the program would
     * need its own context synchronisation there (cmodx_sync_others, slot.h),
     * so cells run only with the eager strategies; the slot half of
     * --sync-free-one-in (sync_and_free) runs with every strategy. */
    enum cmodx_strategy st = cmodx_domain_strategy(T.dom);
    T.cells_lazy = st == CMODX_SYNC_EPOCH || st == CMODX_SYNC_TRAMPOLINE;
    if (!cells_on())
        return 0; /* no cells: callers never look at them */
    uint64_t rng = thread_seed(-2);
    for (int k = 0; k < TORTURE_CELLS; k++)
        if (!(T.cells[k] = cell_version(&rng, &T.thr[T.opt.callers])))
            return -1;
    return 0;
}

/* After every thread was joined: the current versions' descriptors (their
 * blocks go with the heap). */
void cells_fini(void)
{
    for (int k = 0; k < TORTURE_CELLS; k++) {
        free(T.cells[k]);
        T.cells[k] = NULL;
    }
}

static void writer_step(int index, uint64_t *rng, struct counters *c, struct cell_ver **ring,
                        unsigned *nring)
{
    int mine = (T.opt.slots - index + T.opt.writers - 1) / T.opt.writers;
    if (cells_on() && rnd(rng) % (uint64_t)T.opt.sync_free_one_in == 0) {
        cell_swap(ring, nring, rng, c);
    } else if (T.opt.batch_one_in && mine > 1 && rnd(rng) % (uint64_t)T.opt.batch_one_in == 0) {
        int ss[4], n = mine < 4 ? mine : 2 + (int)(rnd(rng) % 3);
        int first = (int)(rnd(rng) % (uint64_t)mine);
        for (int i = 0; i < n; i++) /* N distinct slots, consecutive among mine */
            ss[i] = index + T.opt.writers * ((first + i) % mine);
        n = take_budget(n);
        if (n > 0 && T.opt.patch == PATCH_INSNS)
            publish_flip(ss, n, c);
        else if (n > 0)
            publish_batch(ss, n, rng, c);
    } else if (take_budget(1)) {
        int s = own_slot(index, rng);
        if (T.opt.patch == PATCH_INSNS)
            publish_flip(&s, 1, c);
        else
            publish_one(s, rng, c);
    }
    if (T.opt.pace)
        pace();
}

void *writer_main(void *arg)
{
    int index = (int)(intptr_t)arg;
    struct counters *c = &T.thr[T.opt.callers + index];
    uint64_t rng = thread_seed(T.opt.callers + index);
    struct cell_ver *ring[CELL_RING] = {0};
    unsigned nring = 0;
    while (!stopping())
        writer_step(index, &rng, c, ring, &nring);
    /* Every version in the ring was swapped out and synchronised: no
     * caller can hold it. */
    for (unsigned i = 0; i < CELL_RING; i++)
        free(ring[i]);
    return NULL;
}

/* Version 0 of every slot, written and made visible before any caller
 * exists, so slot init needs no publish. */
int slots_setup(void)
{
    uint64_t rng = thread_seed(-1);
    for (int s = 0; s < T.opt.slots; s++) {
        cmodx_block b;
        if (make_version(s, 0, &rng, &b, &T.thr[T.opt.callers]) != 0)
            return -1;
        /* --patch modes call no slot of the torture's: a slot still
         * targeting version 0 would keep it from being retired. */
        if (cmodx_make_visible(b.exec, cmodx_emit_return_u32_size()) != 0 ||
            (T.opt.patch == PATCH_NONE && cmodx_slot_init(T.dom, &T.slots[s].slot, b.exec) != 0)) {
            fatal("slot setup");
            return -1;
        }
        T.slots[s].entry_target = b.exec.ptr;
        history_note((uintptr_t)b.exec.ptr, b.size, EV_PUBLISH, s, 0);
    }
    return patch_setup();
}

/* --patch entries: every slot's function goes to its version 0 (one
 * batch).  --patch insns: every slot gets its flip block, at version 0 (a
 * NOP, then identity(S, 0); identity(S, 1) at 32).  ENOTSUP (or EINVAL
 * for instructions) where the architecture or the compiler's patch area
 * does not allow it: the caller exits 77. */
static int patch_setup(void)
{
    if (T.opt.patch == PATCH_ENTRIES) {
        struct cmodx_entry_change ch[TORTURE_MAX_SLOTS];
        for (int s = 0; s < T.opt.slots; s++) {
            memcpy(&ch[s].function.ptr, &torture_entries[s], sizeof ch[s].function.ptr);
            ch[s].target.ptr = T.slots[s].entry_target;
            ch[s].slot = NULL;
        }
        int err = cmodx_entry_redirect_batch(T.dom, ch, (size_t)T.opt.slots);
        if (err)
            fprintf(stderr, "cmodx-torture: --patch entries: %s\n", cmodx_last_error());
        return err == ENOTSUP ? ENOTSUP : err ? -1 : 0;
    }
    if (T.opt.patch != PATCH_INSNS)
        return 0;
    uint8_t nop[CMODX_INSN_MAX];
    if (cmodx_patch_encode_nop(nop) != 0) {
        fprintf(stderr, "cmodx-torture: --patch insns: %s\n", cmodx_last_error());
        return ENOTSUP;
    }
    size_t isz = cmodx_patch_insn_size();
    for (int s = 0; s < T.opt.slots; s++) {
        cmodx_block *b = &T.slots[s].flip;
        if (cmodx_block_alloc(T.heap, 64, b) != 0) {
            fatal("flip block");
            return -1;
        }
        memcpy(b->write.ptr, nop, isz);
        cmodx_emit_return_u32((cmodx_wptr){(char *)b->write.ptr + isz}, 32 - isz, identity(s, 0));
        cmodx_emit_return_u32((cmodx_wptr){(char *)b->write.ptr + 32}, 32, identity(s, 1));
        if (cmodx_make_visible(b->exec, 64) != 0) {
            fatal("flip block");
            return -1;
        }
    }
    return 0;
}
