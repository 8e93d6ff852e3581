/*
 * src/heap/alloc.c - the code heap's allocator: chunks, free lists and
 * size classes, allocation and free.
 *
 * Bookkeeping lives outside the code memory (a freed block is trap-filled,
 * so nothing may be stored in it).  Per chunk, for every granule (the block
 * alignment): a state byte and a length word act as boundary tags, and the
 * head granule of a free run points at its free-list node.  Free runs are
 * coalesced and kept in size classes, each ordered by the time the space was
 * freed, so allocation takes the fitting run freed longest ago.  The views,
 * the trap fill and remap-before-reuse are in views.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/xfsz.h"
#include "heap/heap.h"
#include "heap/heap-impl.h"

#define MAX_BLOCK_BYTES HEAP_MAX_BLOCK_BYTES

/* ---- small helpers ---------------------------------------------------- */

size_t heap_round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

static int size_class(uint32_t granules)
{
    int c = 31 - __builtin_clz(granules);
    return c < NCLASS ? c : NCLASS - 1;
}

static void list_remove(struct cmodx_heap *h, struct free_run *r)
{
    struct run_list *l = &h->cls[r->cls];
    if (r->prev) r->prev->next = r->next; else l->head = r->next;
    if (r->next) r->next->prev = r->prev; else l->tail = r->prev;
    r->prev = r->next = NULL;
}

/* Insert keeping the class list ordered by free time (oldest at head). */
static void list_insert(struct cmodx_heap *h, struct free_run *r)
{
    r->cls = size_class(r->len);
    struct run_list *l = &h->cls[r->cls];
    struct free_run *after = l->tail;
    while (after && after->seq > r->seq)
        after = after->prev;
    r->prev = after;
    r->next = after ? after->next : l->head;
    if (r->next) r->next->prev = r; else l->tail = r;
    if (after) after->next = r; else l->head = r;
}

/* Write the boundary tags of a free run and link it. */
static void run_place(struct cmodx_heap *h, struct free_run *r)
{
    struct chunk *c = r->chunk;
    uint32_t s = r->start, e = r->start + r->len - 1;
    c->state[s] = G_FREE;
    c->len[s] = r->len;
    c->run[s] = r;
    c->state[e] = G_FREE;
    c->len[e] = r->len;
    list_insert(h, r);
}

static void run_unplace(struct cmodx_heap *h, struct free_run *r)
{
    struct chunk *c = r->chunk;
    c->state[r->start] = G_INNER;
    c->state[r->start + r->len - 1] = G_INNER;
    c->run[r->start] = NULL;
    list_remove(h, r);
}

static struct chunk *chunk_of(struct cmodx_heap *h, uintptr_t x)
{
    size_t lo = 0, hi = h->nchunks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        struct chunk *c = h->chunks[mid];
        if (x < (uintptr_t)c->x)
            hi = mid;
        else if (x >= (uintptr_t)c->x + c->bytes)
            lo = mid + 1;
        else
            return c;
    }
    return NULL;
}

/* The chunk holding X with X's granule in *G, or NULL if X is outside the
 * heap or not granule-aligned.  Whether a block starts there is the
 * caller's question (state[*g]). */
static struct chunk *granule_of(struct cmodx_heap *h, uintptr_t x, uint32_t *g)
{
    struct chunk *c = chunk_of(h, x);
    if (!c || (x - (uintptr_t)c->x) % h->granule)
        return NULL;
    *g = (uint32_t)((x - (uintptr_t)c->x) / h->granule);
    return c;
}

/* ---- chunks --------------------------------------------------------------- */

static void chunk_release(struct cmodx_heap *h, struct chunk *c)
{
    heap_unmap_views(c);
    free(c->state);
    free(c->len);
    free(c->run);
    free(c->dirty);
    (void)h;
    free(c);
}

static size_t chunk_meta(struct cmodx_heap *h, size_t bytes)
{
    size_t g = bytes / h->granule;
    return sizeof(struct chunk) + g * (2 + sizeof(uint32_t) + sizeof(void *));
}

static int chunk_insert(struct cmodx_heap *h, struct chunk *c)
{
    if (h->nchunks == h->chunks_cap) {
        size_t cap = h->chunks_cap ? h->chunks_cap * 2 : 8;
        struct chunk **n = realloc(h->chunks, cap * sizeof *n);
        if (!n)
            return ENOMEM;
        h->chunks = n;
        h->chunks_cap = cap;
    }
    size_t i = h->nchunks;
    while (i > 0 && (uintptr_t)h->chunks[i - 1]->x > (uintptr_t)c->x) {
        h->chunks[i] = h->chunks[i - 1];
        i--;
    }
    h->chunks[i] = c;
    h->nchunks++;
    return 0;
}

/* Map a new chunk able to hold NEED bytes and add it as one free run.
 * On failure nothing is left behind (file size restored). */
static int chunk_grow(struct cmodx_heap *h, size_t need)
{
    size_t bytes = heap_round_up(need > h->chunk_bytes ? need : h->chunk_bytes, h->page);
    if (h->limit) {
        if (h->mapped + heap_round_up(need, h->page) > h->limit)
            return cmodx_fail(ENOMEM, "cmodx_block_alloc: heap limit of %zu bytes reached "
                              "(%zu mapped, %zu more needed)", h->limit, h->mapped, need);
        if (h->mapped + bytes > h->limit)
            bytes = (h->limit - h->mapped) / h->page * h->page;
    }
    /* The backing file's offsets are off_t: 32 bits on some 32-bit
     * systems, so the file could outgrow them before the address space
     * runs out. */
    const off_t off_max = (off_t)(((uintmax_t)1 << (sizeof(off_t) * 8 - 1)) - 1);
    if ((uintmax_t)bytes > (uintmax_t)(off_max - h->file_size))
        return cmodx_fail(ENOMEM, "cmodx_block_alloc: the heap's backing file cannot grow by "
                          "%zu bytes beyond %jd (off_t)", bytes, (intmax_t)h->file_size);
    struct chunk *c = calloc(1, sizeof *c);
    struct free_run *r = calloc(1, sizeof *r);
    int err = (c && r) ? 0 : ENOMEM;
    if (!err) {
        c->bytes = bytes;
        c->file_off = h->file_size;
        c->granules = (uint32_t)(bytes / h->granule);
        c->state = calloc(c->granules, 1);
        c->len = calloc(c->granules, sizeof *c->len);
        c->run = calloc(c->granules, sizeof *c->run);
        c->dirty = calloc(c->granules, 1);
        if (!c->state || !c->len || !c->run || !c->dirty)
            err = ENOMEM;
    }
    /* Past RLIMIT_FSIZE the kernel fails the growth with EFBIG and sends
     * SIGXFSZ, which would end the process: blocked around the call, the
     * signal it caused taken back (src/base/xfsz.c). */
    struct xfsz_guard xg;
    xfsz_block(&xg);
    if (!err && ftruncate(h->fd, h->file_size + (off_t)bytes) != 0)
        err = errno;
    xfsz_restore(&xg, err);
    if (err == EFBIG) {
        chunk_release(h, c);
        free(r);
        return cmodx_fail(EFBIG, "cmodx_block_alloc: the heap's backing file cannot grow from "
                          "%jd to %jd bytes: the process's file size limit (RLIMIT_FSIZE, "
                          "ulimit -f) is %llu bytes", (intmax_t)h->file_size,
                          (intmax_t)(h->file_size + (off_t)bytes), xfsz_limit());
    }
    if (!err)
        err = heap_map_views(h, c);
    if (!err)
        err = chunk_insert(h, c);
    if (err) {
        if (c) {
            /* Undo a grown file; failing to shrink only wastes file space. */
            if (ftruncate(h->fd, h->file_size) != 0) {
            }
            chunk_release(h, c);
        }
        free(r);
        return cmodx_fail(ENOMEM, "cmodx_block_alloc: cannot map a new %zu-byte chunk: %s",
                          bytes, strerror(err));
    }
    h->file_size += (off_t)bytes;
    h->mapped += bytes;
    h->meta += chunk_meta(h, bytes);
    r->chunk = c;
    r->start = 0;
    r->len = c->granules;
    r->seq = 0; /* never used: as old as it gets */
    run_place(h, r);
    h->free_bytes += bytes;
    h->free_runs++;
    return 0;
}

/* ---- allocation ----------------------------------------------------------- */

/* Where in run R can N granules go without covering a dirty granule?
 * Returns the offset in granules from R's start, or -1.  Preferring clean
 * space makes the remap a cost per page and reuse, not per block: dirty
 * space is reused (and its page remapped) only when no clean space fits. */
#define CLEAN_SEARCH_GRANULES 128 /* bound on the search, so alloc stays cheap */

static int64_t clean_offset(const struct free_run *r, uint32_t n)
{
    const uint8_t *d = r->chunk->dirty + r->start;
    uint32_t end = r->len, clean_run = 0;
    if (end > CLEAN_SEARCH_GRANULES + n)
        end = CLEAN_SEARCH_GRANULES + n;
    for (uint32_t i = 0; i < end; i++) { /* one pass: the first N clean in a row */
        clean_run = d[i] ? 0 : clean_run + 1;
        if (clean_run == n)
            return (int64_t)(i + 1 - n);
    }
    return -1;
}

/* Which free run to use: the run freed longest ago among those that can
 * take N granules on clean pages; if there is none, the oldest that fits
 * at all (its dirty pages are then remapped).  In the first class only
 * some runs fit; in larger classes all do.  Each class list is in age
 * order; scanning stops after SCAN_LIMIT runs per class. */
#define SCAN_LIMIT 8

static struct free_run *find_run(struct cmodx_heap *h, uint32_t n, int64_t *clean)
{
    struct free_run *best = NULL, *best_clean = NULL;
    int64_t best_off = -1;
    for (int c = size_class(n); c < NCLASS; c++) {
        int scanned = 0;
        for (struct free_run *r = h->cls[c].head; r && scanned < SCAN_LIMIT; r = r->next) {
            if (r->len < n)
                continue;
            scanned++;
            if (!best || r->seq < best->seq)
                best = r;
            if (best_clean && r->seq >= best_clean->seq)
                break; /* the rest of this class is younger */
            int64_t off = clean_offset(r, n);
            if (off >= 0) {
                best_clean = r;
                best_off = off;
                break;
            }
        }
    }
    *clean = best_clean ? best_off : -1;
    return best_clean ? best_clean : best;
}

/* Carve N granules at offset OFF of R.  The parts left over keep R's age;
 * SPARE is a preallocated node for a right-hand part (used or freed). */
static uint32_t take_from(struct cmodx_heap *h, struct free_run *r, uint32_t off, uint32_t n,
                          struct free_run *spare)
{
    struct chunk *c = r->chunk;
    uint32_t start = r->start + off, end = r->start + r->len, right = end - (start + n);
    run_unplace(h, r);
    if (off) {
        r->len = off; /* left part stays in R's node */
        run_place(h, r);
    }
    /* The right-hand part reuses R's node when there is no left part. */
    struct free_run *rn = off ? spare : r;
    if (right) {
        rn->chunk = c;
        rn->start = start + n;
        rn->len = right;
        rn->seq = r->seq;
        run_place(h, rn);
    }
    if (!off && !right) {
        free(r);
        h->free_runs--;
    } else if (off && right) {
        h->free_runs++;
    }
    if (!(off && right))
        free(spare); /* the spare node was not needed */
    c->state[start] = G_LIVE;
    c->len[start] = n;
    h->free_bytes -= (size_t)n * h->granule;
    return start;
}

int cmodx_block_alloc(cmodx_heap *h, size_t size, cmodx_block *out)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_block_alloc");
    if (out)
        memset(out, 0, sizeof *out); /* defined and unusable until success */
    if (!h || !out)
        return cmodx_fail(EINVAL, "cmodx_block_alloc: NULL %s", h ? "out" : "heap");
    if (size == 0 || size > MAX_BLOCK_BYTES)
        return cmodx_fail(EINVAL, "cmodx_block_alloc: size %zu outside 1..%zu", size,
                          MAX_BLOCK_BYTES);
    uint32_t n = (uint32_t)(heap_round_up(size, h->granule) / h->granule);

    heap_lock(h);
    int64_t clean;
    struct free_run *r = find_run(h, n, &clean);
    int err = 0;
    if (!r) {
        err = chunk_grow(h, (size_t)n * h->granule);
        if (!err)
            r = find_run(h, n, &clean);
    }
    if (err) {
        heap_unlock(h);
        return err;
    }
    struct chunk *c = r->chunk;
    uint32_t off = clean > 0 ? (uint32_t)clean : 0;
    struct free_run *spare = malloc(sizeof *spare);
    if (!spare)
        off = 0; /* carving in the middle needs a node; the front does not */
    uint32_t g = r->start + off;
    /* Remap before carving so a failure leaves the heap as it was. */
    err = heap_remap_dirty(h, c, g, n); /* nothing to do on clean pages */
    if (err) {
        heap_unlock(h);
        free(spare);
        return cmodx_fail(ENOMEM, "cmodx_block_alloc: remapping the execute view failed: %s",
                          strerror(err));
    }
    g = take_from(h, r, off, n, spare);
    h->live_bytes += (size_t)n * h->granule;
    h->live_blocks++;
    heap_unlock(h);

    size_t byte_off = (size_t)g * h->granule;
    out->write.ptr = c->w + byte_off;
    out->exec.ptr = c->x + byte_off;
    out->size = (size_t)n * h->granule;
    return 0;
}

/* ---- free ------------------------------------------------------------------- */

/* Turn live granules [g, g+n) into free space, merging with free
 * neighbours; NODE is a preallocated node, consumed or released. */
static struct free_run *release_run(struct cmodx_heap *h, struct chunk *c, uint32_t g,
                                    uint32_t n, struct free_run *node)
{
    uint32_t s = g, len = n;
    c->state[g] = G_INNER;
    if (g > 0 && c->state[g - 1] == G_FREE) {
        struct free_run *left = c->run[g - c->len[g - 1]];
        s = left->start;
        len += left->len;
        run_unplace(h, left);
        free(left);
        h->free_runs--;
    }
    uint32_t right = g + n;
    if (right < c->granules && c->state[right] == G_FREE) {
        struct free_run *rr = c->run[right];
        len += rr->len;
        run_unplace(h, rr);
        free(rr);
        h->free_runs--;
    }
    node->chunk = c;
    node->start = s;
    node->len = len;
    node->seq = ++h->seq; /* merged space counts as freed now */
    run_place(h, node);
    h->free_runs++;
    return node;
}

/* Free the block whose head is granule G of C (live or pending), under
 * H's lock; NODE is a preallocated free-list node.  0, or the errno of a
 * failed trap-fill publication (the block is freed all the same). */
static int free_locked(struct cmodx_heap *h, struct chunk *c, uint32_t g, struct free_run *node)
{
    uint32_t n = c->len[g];
    size_t bytes = (size_t)n * h->granule;

    /* Trap-fill and make visible, so a late executor on hardware faults;
     * the granules become dirty (views.c). */
    int err = heap_trap_fill(h, c, g, n);
    struct free_run *merged = release_run(h, c, g, n, node);
    /* Pages that are now entirely free are remapped at once, so that even
     * an emulator's cached translation of the old code is dropped and a
     * late executor traps there too.  They stay dirty: anything that runs
     * the trap fill before reuse is dropped by the remap in alloc().
     * Pages that still hold live blocks wait for alloc(): one remap per
     * page and reuse, not per block. */
    if (!err)
        err = heap_remap_fully_free(h, c, g, n, merged->start, merged->len);
    h->free_bytes += bytes;
    h->live_bytes -= bytes;
    h->live_blocks--;
    return err;
}

static const char *state_name(int st)
{
    switch (st) {
    case G_FREE: return " (it is free already: freed twice)";
    case G_PENDING: return " (it is retired and pending a grace period: the domain that "
                           "retired it frees it)";
    default: return "";
    }
}

/* Free the block starting at EXEC if its head granule is in state WANT
 * (G_LIVE for cmodx_block_free, G_PENDING for a domain's free).  WHO names
 * the caller in messages. */
static int free_in_state(struct cmodx_heap *h, cmodx_xptr exec, int want, int also,
                         const char *who)
{
    if (!h)
        return cmodx_fail(EINVAL, "%s: NULL heap", who);
    uintptr_t x = (uintptr_t)exec.ptr;
    struct free_run *node = malloc(sizeof *node);
    if (!node)
        return cmodx_fail(ENOMEM, "%s: out of memory for bookkeeping", who);

    heap_lock(h);
    uint32_t g = 0;
    struct chunk *c = granule_of(h, x, &g);
    int st = c ? c->state[g] : G_INNER;
    if (!c || (st != want && st != also)) {
        heap_unlock(h);
        free(node);
        if (st == G_LIVE && want == G_PENDING)
            return cmodx_fail(EINVAL, "%s: %p is a live block, not a retired one", who,
                              exec.ptr);
        return cmodx_fail(EINVAL, "%s: %p is not %s block of this heap%s", who, exec.ptr,
                          want == G_LIVE ? "the start of a live" : "a retired", state_name(st));
    }
    int err = free_locked(h, c, g, node);
    heap_unlock(h);
    if (err)
        return cmodx_fail(err, "%s: block freed, but publishing its trap fill failed: %s", who,
                          strerror(err));
    return 0;
}

/* The slot layer's questions (heap_set_target_check).  Read without the
 * heap lock: the slot layer's lock is a leaf, never taken with it. */
static int (*target_block)(const void *start);
static int (*target_range)(uintptr_t b, size_t len);

void heap_set_target_check(int (*block)(const void *start), int (*range)(uintptr_t b, size_t len))
{
    __atomic_store_n(&target_range, range, __ATOMIC_RELEASE);
    __atomic_store_n(&target_block, block, __ATOMIC_RELEASE);
}

/* Does a slot (of any domain, on any heap) target the live block of H
 * starting at X?  One lookup in the slot layer's index of targeted
 * blocks, whatever the number of slots: a question every free and
 * retirement asks.  Only a yes is checked against H (X may be another
 * heap's block: then the caller's own check says EINVAL). */
static int block_targeted_any(cmodx_xptr x)
{
    int (*f)(const void *) = __atomic_load_n(&target_block, __ATOMIC_ACQUIRE);
    return f && x.ptr && f(x.ptr);
}

static int block_targeted(struct cmodx_heap *h, cmodx_xptr x)
{
    return block_targeted_any(x) && heap_live_block_size(h, x) != 0;
}

int heap_targeted(struct cmodx_heap *h)
{
    int (*f)(uintptr_t, size_t) = __atomic_load_n(&target_range, __ATOMIC_ACQUIRE);
    if (!f || !h)
        return 0;
    /* The chunks' ranges are copied under the heap lock and asked about
     * after it (the slot layer's lock is a leaf, never taken with it). */
    for (size_t i = 0;; i++) {
        uintptr_t x = 0;
        size_t bytes = 0;
        heap_lock(h);
        if (i < h->nchunks) {
            x = (uintptr_t)h->chunks[i]->x;
            bytes = h->chunks[i]->bytes;
        }
        heap_unlock(h);
        if (!bytes)
            return 0;
        if (f(x, bytes))
            return 1;
    }
}

int cmodx_block_free(cmodx_heap *h, cmodx_xptr exec)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_block_free");
    if (h && block_targeted(h, exec))
        return cmodx_fail(EBUSY, "cmodx_block_free: a slot still targets the block at %p "
                          "(publish the slots away, or cmodx_slot_fini them, first)", exec.ptr);
    return free_in_state(h, exec, G_LIVE, G_LIVE, "cmodx_block_free");
}

/* ---- the block lifecycle: live -> pending -> free ------------------------------- */

int heap_block_retire(cmodx_heap *h, cmodx_xptr x, size_t *bytes)
{
    uint32_t g = 0;
    heap_lock(h);
    struct chunk *c = granule_of(h, (uintptr_t)x.ptr, &g);
    int st = c ? c->state[g] : G_INNER;
    /* The mutant accepts a pending block again: retired twice, it is
     * freed twice (the second time over whatever reused the space). */
    if (st == G_LIVE || (st == G_PENDING && MUTANT(retire_no_pending_check))) {
        c->state[g] = G_PENDING;
        *bytes = (size_t)c->len[g] * h->granule;
        heap_unlock(h);
        /* The retiring domain counts its own slots (src/thread/refs.c); a
         * slot of another domain, on this heap or on another one, may
         * still target the block: the slot layer's index of every slot's
         * block knows.  Asked AFTER the block is marked pending, and a
         * publish of another domain counts its new block BEFORE it checks
         * that the block is still live (publish.c, recheck_live): of a
         * retirement and a publish of the same block racing in two
         * domains, one at least sees the other, so a block is never
         * retired with a slot switched to it (both may fail: EBUSY here,
         * EINVAL there).  Two locks taken one after the other, never one
         * inside the other (the slot layer's lock is a leaf). */
        if (!block_targeted_any(x))
            return 0;
        heap_lock(h);
        if (c->state[g] == G_PENDING)
            c->state[g] = G_LIVE; /* not queued yet: nothing else moves it */
        heap_unlock(h);
        return cmodx_fail(EBUSY, "cmodx_retire: a slot of another domain still targets the "
                          "block at %p (switch it away or cmodx_slot_fini it first)", x.ptr);
    }
    heap_unlock(h);
    if (st == G_PENDING)
        return cmodx_fail(EINVAL, "cmodx_retire: %p is already retired and pending a grace "
                          "period (retired twice)", x.ptr);
    return cmodx_fail(EINVAL, "cmodx_retire: %p is not the start of a live block of the "
                      "domain's heap%s", x.ptr, state_name(st));
}

int heap_free_retired(cmodx_heap *h, cmodx_xptr x)
{
    /* The mutant's second free of a block retired twice finds whatever
     * reused the space live, and frees it. */
    return free_in_state(h, x, G_PENDING, MUTANT(retire_no_pending_check) ? G_LIVE : G_PENDING,
                         "reclamation");
}

/* The head granule of the block (live or pending) whose run holds granule
 * AT of C, or -1 if AT is free space. */
static int64_t block_head(const struct chunk *c, uint32_t at)
{
    for (int64_t i = at; i >= 0; i--) {
        if ((c->state[i] == G_LIVE || c->state[i] == G_PENDING) && i + c->len[i] > at)
            return i;
        if (c->state[i] != G_INNER)
            break;
    }
    return -1;
}

enum heap_where heap_find_block(cmodx_heap *h, const void *p, size_t len, cmodx_xptr *start,
                                size_t *size)
{
    uintptr_t x = (uintptr_t)p;
    enum heap_where where = HEAP_OUTSIDE;
    heap_lock(h);
    struct chunk *c = chunk_of(h, x);
    if (c) {
        uint32_t at = (uint32_t)((x - (uintptr_t)c->x) / h->granule);
        int64_t i = block_head(c, at);
        if (i < 0) {
            where = HEAP_NOT_LIVE;
        } else {
            uintptr_t b = (uintptr_t)c->x + (size_t)i * h->granule;
            size_t bsize = (size_t)c->len[i] * h->granule;
            if (c->state[i] == G_PENDING)
                where = HEAP_PENDING;
            else
                where = len <= b + bsize - x ? HEAP_LIVE : HEAP_PAST_END;
            if (start)
                start->ptr = (const void *)b;
            if (size)
                *size = bsize;
        }
    } else {
        for (size_t k = 0; k < h->nchunks; k++)
            if (x - (uintptr_t)h->chunks[k]->w < h->chunks[k]->bytes)
                where = HEAP_WRITE_VIEW;
    }
    heap_unlock(h);
    return where;
}

int cmodx_block_write(const cmodx_block *b, size_t offset, const void *src, size_t len)
{
    /* In an unusable child the write view is the parent's live code
     * (src/base/fork.c: no snapshot was taken), and the child step made
     * it inaccessible: refused with the reason rather than a SIGSEGV. */
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_block_write");
    if (!b || !b->write.ptr || (!src && len))
        return cmodx_fail(EINVAL, "cmodx_block_write: NULL %s", !b ? "block" : !b->write.ptr
                                                                      ? "block write view"
                                                                      : "source");
    if (offset > b->size || len > b->size - offset)
        return cmodx_fail(EINVAL, "cmodx_block_write: %zu bytes at offset %zu exceed the "
                          "%zu-byte block", len, offset, b->size);
    if (len == 0)
        return 0; /* SRC may be NULL: memcpy must never see it (C11 7.24.1p2) */
    memcpy((unsigned char *)b->write.ptr + offset, src, len);
    return 0;
}

size_t heap_live_block_size(cmodx_heap *h, cmodx_xptr x)
{
    size_t size = 0;
    uint32_t g = 0;
    heap_lock(h);
    struct chunk *c = granule_of(h, (uintptr_t)x.ptr, &g);
    if (c && c->state[g] == G_LIVE)
        size = (size_t)c->len[g] * h->granule;
    heap_unlock(h);
    return size;
}

int cmodx_heap_contains(cmodx_heap *h, cmodx_xptr exec, cmodx_xptr *start)
{
    if (start)
        start->ptr = NULL; /* defined when not found */
    if (fork_unusable_quiet())
        return 0; /* src/base/fork.c: unusable here (its lock may be held) */
    if (!h)
        return 0;
    int found = 0;
    heap_lock(h);
    struct chunk *c = chunk_of(h, (uintptr_t)exec.ptr);
    if (c) {
        uint32_t g = (uint32_t)(((uintptr_t)exec.ptr - (uintptr_t)c->x) / h->granule);
        /* Walk back to the head of the run containing G. */
        for (int64_t i = g; i >= 0; i--) {
            if (c->state[i] == G_LIVE && i + c->len[i] > g) {
                found = 1;
                if (start)
                    start->ptr = c->x + (size_t)i * h->granule;
                break;
            }
            if (c->state[i] != G_INNER)
                break;
        }
    }
    heap_unlock(h);
    return found;
}

/* Every free-list node and every chunk, for cmodx_heap_destroy(). */
void heap_free_all(struct cmodx_heap *h)
{
    for (int c = 0; c < NCLASS; c++) {
        struct free_run *r = h->cls[c].head;
        while (r) {
            struct free_run *n = r->next;
            free(r);
            r = n;
        }
    }
    for (size_t i = 0; i < h->nchunks; i++)
        chunk_release(h, h->chunks[i]);
    free(h->chunks);
}

/* ---- for near.c ---------------------------------------------------------- */

struct chunk *heap_chunk_of(struct cmodx_heap *h, uintptr_t x) { return chunk_of(h, x); }

int heap_grow_at(struct cmodx_heap *h, size_t need, uintptr_t x_at)
{
    h->grow_at = x_at;
    int err = chunk_grow(h, need);
    h->grow_at = 0;
    return err;
}

uint32_t heap_take(struct cmodx_heap *h, struct free_run *r, uint32_t off, uint32_t n,
                   struct free_run *spare)
{
    return take_from(h, r, off, n, spare);
}
