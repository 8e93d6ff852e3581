/*
 * cmodx-check — the model of incoherent instruction fetch.
 *
 * AArch64 (ARM ARM, "Concurrent modification and execution of
 * instructions" and the cache maintenance chapters): new instructions
 * become architecturally visible to a thread E only after
 *   store;  DC CVAU (clean to PoU);  DSB;  IC IVAU;  DSB;  and then a
 *   context synchronisation event on E (ISB, exception entry/return).
 * CTR_EL0.IDC=1 waives the clean (the store still needs the DSB before the
 * IC), CTR_EL0.DIC=1 waives the invalidate (the DSB and ISB remain).
 * Each written word walks ST_WRITTEN .. ST_DONE; a DSB only completes the
 * steps the same thread issued, so each thread keeps the pages holding
 * steps waiting for its DSB.
 *
 * ARMv7: user space cannot clean or invalidate; cacheflush(2) does the
 * whole sequence for a range, after which other threads still need a
 * context synchronisation (ISB or an exception return).
 *
 * RISC-V: fence.i makes prior stores visible to the executing hart only;
 * riscv_flush_icache(2) with flags 0 reaches every hart of the process,
 * with SYS_RISCV_FLUSH_ICACHE_LOCAL only the calling one.
 */
#include "model.h"
#include "maps.h"

#include <stdlib.h>
#include <string.h>

struct model_cfg cfg;
pthread_mutex_t model_lock = PTHREAD_MUTEX_INITIALIZER;
struct vcpu vcpus[MAX_VCPUS];
int label_tid[65536];
int64_t guest_base;
bool guest_base_known;

static uint64_t seq;
static uint64_t global_sync;         /* membarrier SYNC_CORE / global flush */
static uint64_t last_local_flush;    /* RISC-V: newest hart-local flush */
static uint16_t last_local_flusher;

#define NBUCKETS 65536
static struct bpage *buckets[NBUCKETS];
static struct bpage *written_pages;  /* pages that have words, for IC IALLU */

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

/* ---- backing pages ---- */

struct bpage *bpage_get(uint64_t va, bool create)
{
    uint64_t k[3];
    page_key(va, k);
    return bpage_by_key(k, create);
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

static const uint8_t *host_ptr(uint64_t va)
{
    return guest_base_known ? (const uint8_t *)(uintptr_t)(va + (uint64_t)guest_base) : NULL;
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
    bp->shadow = calloc(1, PAGE_SIZE);
    uint64_t page = va & ~(uint64_t)(PAGE_SIZE - 1);
    bool known = readable(page);
    if (known) {
        memcpy(bp->shadow, host_ptr(page), PAGE_SIZE);
    }
    struct word *w = calloc(WORDS_PER_PAGE, sizeof(*w));
    for (unsigned i = 0; i < WORDS_PER_PAGE; i++) {
        w[i].old_known = known;
    }
    __atomic_store_n(&bp->words, w, __ATOMIC_RELEASE);
    bp->all_next = written_pages;
    written_pages = bp;
}

/* ---- word state transitions ---- */

static bool counted(const struct word *w)
{
    return !w->exempt && w->stage >= ST_WRITTEN && w->stage < ST_DONE &&
           cfg.arch != ARCH_RISCV64;
}

static void raise_done(struct bpage *bp, uint64_t s)
{
    if (s > bp->max_done) {
        __atomic_store_n(&bp->max_done, s, __ATOMIC_RELAXED);
    }
}

static void set_stage(struct bpage *bp, struct word *w, enum stage st, uint64_t s)
{
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

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return (x > y) - (x < y);
}

/* Drop repeated pages from v's list (a thread that never issues a DSB
 * would otherwise grow it without bound). */
static void compact_wait(struct vcpu *v)
{
    qsort(v->wait, v->nwait, sizeof(*v->wait), cmp_ptr);
    size_t n = 0;
    for (size_t k = 0; k < v->nwait; k++) {
        if (n == 0 || v->wait[n - 1] != v->wait[k]) {
            v->wait[n++] = v->wait[k];
        }
    }
    v->nwait = n;
}

static void wait_on(struct vcpu *v, struct bpage *bp)
{
    if (v->nwait && v->wait[v->nwait - 1] == bp) {
        return;
    }
    if (v->nwait == v->capwait) {
        compact_wait(v);
        if (v->nwait * 2 >= v->capwait) {
            v->capwait = v->capwait ? 2 * v->capwait : 16;
            v->wait = realloc(v->wait, v->capwait * sizeof(*v->wait));
        }
    }
    v->wait[v->nwait++] = bp;
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

/* The first stage of a freshly written word. */
static void start_stage(struct vcpu *v, struct bpage *bp, struct word *w, uint64_t s)
{
    if (cfg.arch == ARCH_AARCH64 && cfg.idc) {
        /* IDC=1: no clean needed, but the store must complete (DSB)
         * before the invalidate. */
        w->owner = v ? v->label : 0;
        set_stage(bp, w, v ? ST_CLEANED : ST_CLEAN_DONE, s);
        if (v) {
            wait_on(v, bp);
        }
    } else {
        set_stage(bp, w, ST_WRITTEN, s);
    }
}

static void store_word(struct vcpu *v, struct bpage *bp, unsigned wi, uint64_t va,
                       unsigned size, const uint8_t *bytes, uint64_t pc, uint64_t s)
{
    struct word *w = &bp->words[wi];
    uint8_t *sh = bp->shadow + wi * 4;
    bool exempt_store = false;
    if (cfg.arch == ARCH_AARCH64 && size == 4 && (va & 3) == 0 && w->old_known) {
        uint32_t old, new;
        memcpy(&old, sh, 4);
        memcpy(&new, bytes, 4);
        exempt_store = a64_patchable(old) && a64_patchable(new);
    }
    bool was = counted(w);
    if (w->stage == ST_NONE || w->stage == ST_DONE) {
        w->exempt = exempt_store;
    } else {
        w->exempt = w->exempt && exempt_store;
    }
    int d = (int)counted(w) - (int)was;
    __atomic_store_n(&bp->pending, bp->pending + d, __ATOMIC_RELAXED);
    w->writer = v->label;
    w->store_pc = pc;
    w->ic_early = 0;
    w->old_known = 1;
    start_stage(v, bp, w, s);
}

void model_store(struct vcpu *v, uint64_t va, unsigned size, const uint8_t *bytes, uint64_t pc)
{
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
            bp->words[wi].old_known = 0;   /* memory already holds the new value */
        }
        store_word(v, bp, wi, va, n, bytes, pc, s);
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
    uint64_t page = va & ~(uint64_t)(PAGE_SIZE - 1);
    struct map *m = map_find(page);
    set_tracked(page, page + PAGE_SIZE, true);
    if (!m || m->kind != MK_ANON || !readable(page)) {
        return;
    }
    const uint32_t *mem = (const uint32_t *)host_ptr(page);
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
            start_stage(NULL, bp, &bp->words[i], s);
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

/* Apply fn to the words of the line of `line` bytes holding va. */
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

void model_dc(struct vcpu *v, uint64_t va)
{
    unsigned first, n;
    struct bpage *bp = line_words(va, cfg.dline, &first, &n);
    if (!bp) {
        return;
    }
    for (unsigned i = first; i < first + n; i++) {
        struct word *w = &bp->words[i];
        if (w->stage == ST_WRITTEN) {
            w->owner = v->label;
            set_stage(bp, w, ST_CLEANED, 0);
            wait_on(v, bp);
        }
    }
}

static void ic_words(struct vcpu *v, struct bpage *bp, unsigned first, unsigned n)
{
    bool queued = false;
    for (unsigned i = first; i < first + n; i++) {
        struct word *w = &bp->words[i];
        if (w->stage == ST_CLEAN_DONE || w->stage == ST_INVALIDATED) {
            w->owner = v->label;
            w->ic_early = 0;
            set_stage(bp, w, ST_INVALIDATED, 0);
            queued = true;
        } else if (w->stage == ST_CLEANED) {
            w->ic_early = 1;   /* too early: the clean has not completed */
        }
    }
    if (queued) {
        wait_on(v, bp);
    }
}

void model_ic(struct vcpu *v, uint64_t va)
{
    unsigned first, n;
    struct bpage *bp = line_words(va, cfg.iline, &first, &n);
    if (bp && !cfg.dic) {
        ic_words(v, bp, first, n);
    }
}

void model_ic_all(struct vcpu *v)
{
    if (cfg.dic) {
        return;
    }
    for (struct bpage *bp = written_pages; bp; bp = bp->all_next) {
        ic_words(v, bp, 0, WORDS_PER_PAGE);
    }
}

/* A DSB completes the maintenance (and, with IDC, the stores) v issued. */
void model_dsb(struct vcpu *v)
{
    uint64_t s = seq_next();
    for (size_t k = 0; k < v->nwait; k++) {
        struct bpage *bp = v->wait[k];
        for (unsigned i = 0; i < WORDS_PER_PAGE; i++) {
            struct word *w = &bp->words[i];
            if (w->owner != v->label) {
                continue;
            }
            if (w->stage == ST_CLEANED) {
                set_stage(bp, w, cfg.dic ? ST_DONE : ST_CLEAN_DONE, s);
            } else if (w->stage == ST_INVALIDATED) {
                set_stage(bp, w, ST_DONE, s);
            }
        }
    }
    v->nwait = 0;
}

void model_csync(struct vcpu *v)
{
    __atomic_store_n(&v->sync_seq, seq_next(), __ATOMIC_RELAXED);
}

void model_global_sync(void)
{
    __atomic_store_n(&global_sync, seq_next(), __ATOMIC_RELAXED);
}

/* ARMv7 cacheflush(2): clean + invalidate + barrier for [start, end). */
void model_cacheflush(struct vcpu *v, uint64_t start, uint64_t end)
{
    (void)v;
    if (end <= start || end - start > (1ull << 32)) {
        return;
    }
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
void model_file_write(struct vcpu *v, uint64_t dev, uint64_t ino, uint64_t off, uint64_t len)
{
    uint64_t s = seq_next();
    for (uint64_t a = off & ~3ull; a < off + len; a += 4) {
        uint64_t k[3] = { dev + 1, ino, a >> PAGE_SHIFT };
        struct bpage *bp = bpage_by_key(k, true);
        bpage_words(bp, 0);
        struct word *w = &bp->words[(a & (PAGE_SIZE - 1)) / 4];
        bool was = counted(w);
        w->exempt = 0;
        __atomic_store_n(&bp->pending, bp->pending + (int)counted(w) - (int)was, __ATOMIC_RELAXED);
        w->writer = v->label;
        w->store_pc = 0;   /* "through a system call" in reports */
        w->old_known = 0;
        start_stage(v, bp, w, s);
    }
}

/* RISC-V fence.i, or riscv_flush_icache(..., LOCAL): this hart only. */
void model_local_flush(struct vcpu *v)
{
    model_csync(v);
    last_local_flush = v->sync_seq;
    last_local_flusher = v->label;
}

bool model_page_quiet(struct vcpu *v, struct bpage *bp)
{
    return __atomic_load_n(&bp->pending, __ATOMIC_RELAXED) == 0 &&
           synced(v) > __atomic_load_n(&bp->max_done, __ATOMIC_RELAXED);
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

enum kind model_check_word(struct vcpu *v, struct bpage *bp, unsigned wi)
{
    if (bp->words[wi].exempt) {
        return K_COUNT;
    }
    return model_check_word_ignoring_exempt(v, bp, wi);
}

enum kind model_check_word_ignoring_exempt(struct vcpu *v, struct bpage *bp, unsigned wi)
{
    const struct word *w = &bp->words[wi];
    if (w->stage == ST_NONE) {
        return K_COUNT;
    }
    if (cfg.arch == ARCH_RISCV64) {
        return riscv_check(v, w);
    }
    switch (w->stage) {
    case ST_WRITTEN:
        return cfg.arch == ARCH_ARM ? K_NO_CACHEFLUSH : K_NOT_CLEANED;
    case ST_CLEANED:
        return K_CLEAN_NOT_COMPLETED;
    case ST_CLEAN_DONE:
        /* An IC issued before the clean completed does not count. */
        return w->ic_early ? K_CLEAN_NOT_COMPLETED : K_NOT_INVALIDATED;
    case ST_INVALIDATED:
        return K_INVAL_NOT_COMPLETED;
    default:
        return synced(v) > w->seq ? K_COUNT : K_NO_CONTEXT_SYNC;
    }
}
