/*
 * src/heap/near.c - code memory found by its execute address, and code
 * memory placed near an address.
 *
 * Patching compiled code needs both.  A patch writes an instruction
 * through the write view of the block that holds it, so the execute
 * address must lead to its block and its write view
 * (cmodx_heap_lookup, heap_write_view), and an emulator's stale
 * translation of the patched page must be dropped by mapping the page's
 * execute view afresh, as remap-before-reuse does (heap_remap_exec; see
 * views.c).  A direct branch from compiled code reaches only so far
 * (AArch64 B: +-128 MiB; x86-64 JMP rel32: +-2 GiB), so the code it
 * branches to must be allocated near it (cmodx_block_alloc_near): in a
 * free run of an existing chunk within range, else in a new chunk whose
 * execute view is mapped into a gap of the address space within range
 * (found in /proc/self/maps, taken with MAP_FIXED_NOREPLACE so that a
 * mapping made meanwhile by another thread is never replaced).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/base.h"
#include "heap/heap.h"
#include "heap/heap-impl.h"

/* ---- execute address -> block ------------------------------------------------ */

/* The live block of H holding X: its head granule in *G, or NULL. */
static struct chunk *live_block_of(struct cmodx_heap *h, uintptr_t x, uint32_t *g)
{
    struct chunk *c = heap_chunk_of(h, x);
    if (!c)
        return NULL;
    uint32_t at = (uint32_t)((x - (uintptr_t)c->x) / h->granule);
    for (int64_t i = at; i >= 0; i--) { /* back to the head of the run holding AT */
        if (c->state[i] == G_LIVE && i + c->len[i] > at) {
            *g = (uint32_t)i;
            return c;
        }
        if (c->state[i] != G_INNER)
            break;
    }
    return NULL;
}

int cmodx_heap_lookup(cmodx_heap *h, cmodx_xptr exec, cmodx_block *block, cmodx_wptr *write)
{
    if (block)
        memset(block, 0, sizeof *block); /* defined and unusable unless found */
    if (write)
        write->ptr = NULL;
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_heap_lookup");
    if (!h || !exec.ptr)
        return cmodx_fail(EINVAL, "cmodx_heap_lookup: NULL %s", h ? "address" : "heap");
    uintptr_t x = (uintptr_t)exec.ptr;
    uint32_t g = 0;
    heap_lock(h);
    struct chunk *c = live_block_of(h, x, &g);
    if (c) {
        size_t off = (size_t)g * h->granule;
        if (block) {
            block->write.ptr = c->w + off;
            block->exec.ptr = c->x + off;
            block->size = (size_t)c->len[g] * h->granule;
        }
        if (write)
            write->ptr = c->w + (x - (uintptr_t)c->x);
    }
    heap_unlock(h);
    if (!c)
        return cmodx_fail(EINVAL, "cmodx_heap_lookup: %p is not inside a live block of this heap",
                          exec.ptr);
    return 0;
}

int heap_write_view(cmodx_heap *h, uintptr_t x, size_t len, void **w)
{
    uint32_t g = 0;
    int found = 0;
    heap_lock(h);
    struct chunk *c = live_block_of(h, x, &g);
    if (c && x + len <= (uintptr_t)c->x + ((size_t)g + c->len[g]) * h->granule) {
        *w = c->w + (x - (uintptr_t)c->x);
        found = 1;
    }
    heap_unlock(h);
    return found;
}

int heap_remap_exec(cmodx_heap *h, uintptr_t x, size_t len)
{
    int err = 0;
    heap_lock(h);
    struct chunk *c = heap_chunk_of(h, x);
    if (!c || x + len > (uintptr_t)c->x + c->bytes) {
        err = EINVAL;
    } else {
        size_t first = (x - (uintptr_t)c->x) / h->page;
        size_t last = (x + len - 1 - (uintptr_t)c->x) / h->page;
        err = heap_remap_pages(h, c, first, last - first + 1);
    }
    heap_unlock(h);
    return err;
}

/* ---- allocation near an address ------------------------------------------------ */

/* A free run of H where N granules fit with their execute addresses inside
 * [LO, HI); the offset in granules from the run's start in *OFF, the
 * placement closest to NEAR.  Every run is looked at: near allocations are
 * rare and their range is a hard requirement. */
static struct free_run *find_run_in(struct cmodx_heap *h, uint32_t n, uintptr_t lo, uintptr_t hi,
                                    uintptr_t near, uint32_t *off)
{
    size_t bytes = (size_t)n * h->granule;
    struct free_run *best = NULL;
    uintptr_t best_dist = UINTPTR_MAX;
    for (int cls = 0; cls < NCLASS; cls++)
        for (struct free_run *r = h->cls[cls].head; r; r = r->next) {
            if (r->len < n)
                continue;
            uintptr_t rs = (uintptr_t)r->chunk->x + (size_t)r->start * h->granule;
            uintptr_t re = rs + (size_t)r->len * h->granule;
            uintptr_t a = rs > lo ? rs : heap_round_up(lo - rs, h->granule) + rs;
            uintptr_t b = (re < hi ? re : hi);
            if (b < bytes || a > b - bytes)
                continue;
            b -= bytes; /* last start that fits */
            uintptr_t p = near < a ? a : near > b ? b : near;
            p = a + (p - a) / h->granule * h->granule;
            uintptr_t dist = p > near ? p - near : near - p;
            if (dist < best_dist) {
                best_dist = dist;
                best = r;
                *off = (uint32_t)((p - rs) / h->granule);
            }
        }
    return best;
}

struct gap {
    uintptr_t at, dist; /* the place in the gap closest to NEAR */
    uintptr_t lo, hi;   /* the gap, clipped to the range */
};

/* /proc/self/maps shows the program's mappings, not every reservation of
 * the address space: an emulator's own mappings (qemu-user's code buffer,
 * its guest reservation) are hidden from it, and another thread may map
 * meanwhile.  So each gap is probed at several places, closest first,
 * each with an anonymous PROT_NONE mapping that MAP_FIXED_NOREPLACE
 * refuses where anything lies; the chunk is mapped where a probe fitted
 * (and if another thread took the place in between, the chunk's own
 * MAP_FIXED_NOREPLACE fails and the next place is tried). */
#define PROBES_PER_GAP 16

static uintptr_t probe_at(const struct gap *g, int k, size_t bytes, uintptr_t lo, uintptr_t hi)
{
    /* k = 0: the closest place; then alternately above and below it, a
     * chunk further each time, staying in the gap. */
    intptr_t step = (intptr_t)((k + 1) / 2) * (intptr_t)bytes * ((k & 1) ? 1 : -1);
    uintptr_t p = g->at + (uintptr_t)step;
    if (k && ((step > 0 && p < g->at) || (step < 0 && p > g->at)))
        return 0; /* wrapped */
    if (p < g->lo || p < lo || p + bytes > g->hi || p + bytes > hi || p + bytes < p)
        return 0;
    return p;
}

static int probe_free(uintptr_t at, size_t bytes)
{
    void *p = mmap((void *)at, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                   MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    munmap(p, bytes);
    return p == (void *)at;
}

static int by_dist(const void *a, const void *b)
{
    const struct gap *x = a, *y = b;
    return x->dist < y->dist ? -1 : x->dist > y->dist;
}

/* Up to MAX places, closest to NEAR first, where BYTES of address space
 * inside [LO, HI) are unmapped now (page-aligned). */
static size_t find_gaps(uintptr_t lo, uintptr_t hi, uintptr_t near, size_t bytes, size_t page,
                        struct gap *out, size_t max)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    size_t n = 0;
    uintptr_t prev_end = page * 16; /* stay clear of mmap_min_addr */
    char line[512];
    for (int more = 1; more;) {
        uintmax_t s = 0, e = 0;
        if (fgets(line, sizeof line, f)) {
            if (sscanf(line, "%jx-%jx", &s, &e) != 2)
                continue;
        } else {
            more = 0;
            s = UINTPTR_MAX; /* the gap after the last mapping, up to TOP */
        }
        uintptr_t top = sizeof(uintptr_t) < 8 ? (uintptr_t)UINT32_MAX & ~(uintptr_t)(page - 1)
                                              : (uintptr_t)1 << 47;
        uintptr_t gs = prev_end > lo ? prev_end : heap_round_up(lo, page);
        uintptr_t ge = (uintptr_t)s < hi ? (uintptr_t)s : hi / page * page;
        if (ge > top)
            ge = top;
        if ((uintptr_t)e > prev_end)
            prev_end = (uintptr_t)e;
        if (ge <= gs || ge - gs < bytes || n == max)
            continue;
        uintptr_t last = ge - bytes;
        uintptr_t p = near < gs ? gs : near > last ? last : near;
        p = p / page * page;
        if (p < gs)
            p = gs;
        out[n].at = p;
        out[n].dist = p > near ? p - near : near - p;
        out[n].lo = gs;
        out[n].hi = ge;
        n++;
    }
    fclose(f);
    qsort(out, n, sizeof *out, by_dist);
    return n;
}

int cmodx_block_alloc_near(cmodx_heap *h, size_t size, cmodx_xptr near, size_t max_distance,
                           cmodx_block *out)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_block_alloc_near");
    if (out)
        memset(out, 0, sizeof *out); /* defined and unusable until success */
    if (!h || !out || !near.ptr)
        return cmodx_fail(EINVAL, "cmodx_block_alloc_near: NULL %s",
                          !h ? "heap" : !out ? "out" : "address");
    if (size == 0 || size > max_distance || size > HEAP_MAX_BLOCK_BYTES)
        return cmodx_fail(EINVAL, "cmodx_block_alloc_near: size %zu is 0, above the distance "
                          "%zu or above %zu", size, max_distance, HEAP_MAX_BLOCK_BYTES);
    uintptr_t x = (uintptr_t)near.ptr;
    uintptr_t lo = x > max_distance ? x - max_distance : 0;
    uintptr_t hi = UINTPTR_MAX - x > max_distance ? x + max_distance : UINTPTR_MAX;
    uint32_t n = (uint32_t)(heap_round_up(size, h->granule) / h->granule);

    heap_lock(h);
    uint32_t off = 0;
    struct free_run *r = find_run_in(h, n, lo, hi, x, &off);
    if (!r) {
        /* A new chunk in a gap within range; its size is what chunk_grow
         * maps (the growth step, or the block if larger). */
        size_t need = (size_t)n * h->granule;
        size_t bytes = heap_round_up(need > h->chunk_bytes ? need : h->chunk_bytes, h->page);
        struct gap gaps[32];
        size_t ng = find_gaps(lo, hi, x, bytes, h->page, gaps, 32);
        int grow_err = 0;
        for (size_t i = 0; i < ng && !r && grow_err != EFBIG; i++)
            for (int k = 0; k < PROBES_PER_GAP && !r && grow_err != EFBIG; k++) {
                uintptr_t at = probe_at(&gaps[i], k, bytes, lo, hi);
                if (at && probe_free(at, bytes) && (grow_err = heap_grow_at(h, need, at)) == 0)
                    r = find_run_in(h, n, lo, hi, x, &off);
            }
        /* The file size limit stops every growth, wherever it is mapped:
         * chunk_grow's message (naming the limit) stands. */
        if (!r && grow_err == EFBIG) {
            heap_unlock(h);
            return EFBIG;
        }
        if (!r) {
            heap_unlock(h);
            return cmodx_fail(ENOMEM, "cmodx_block_alloc_near: no %zu bytes of code memory "
                              "within %zu bytes of %p: no free space of the heap lies there "
                              "and none of %zu gaps of the address space in range could be "
                              "mapped%s", size, max_distance, near.ptr, ng,
                              h->limit ? " (or the heap limit is reached)" : "");
        }
    }
    struct chunk *c = r->chunk;
    struct free_run *spare = malloc(sizeof *spare);
    if (!spare) {
        heap_unlock(h);
        return cmodx_fail(ENOMEM, "cmodx_block_alloc_near: out of memory for bookkeeping");
    }
    uint32_t g = r->start + off;
    int err = heap_remap_dirty(h, c, g, n); /* as cmodx_block_alloc: before carving */
    if (err) {
        heap_unlock(h);
        free(spare);
        return cmodx_fail(ENOMEM, "cmodx_block_alloc_near: remapping the execute view failed: "
                          "%s", strerror(err));
    }
    g = heap_take(h, r, off, n, spare);
    h->live_bytes += (size_t)n * h->granule;
    h->live_blocks++;
    heap_unlock(h);
    size_t byte_off = (size_t)g * h->granule;
    out->write.ptr = c->w + byte_off;
    out->exec.ptr = c->x + byte_off;
    out->size = (size_t)n * h->granule;
    return 0;
}
