/*
 * src/heap/heap.c - code heaps as objects: creation, destruction,
 * statistics, the process's list of heaps, and their steps at fork (the
 * order of those steps among the library's is in src/base/fork.c).
 * The allocator is in alloc.c, the views in views.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "base/base.h"
#include "base/fork.h"
#include "base/xfsz.h"
#include "heap/heap.h"
#include "heap/heap-impl.h"

#define DEFAULT_CHUNK_BYTES ((size_t)1 << 20)
/* The largest chunk: 64 GiB with 64-bit addresses (2^30 granules of 64
 * bytes, well inside the 32-bit granule indexes of alloc.c, and far from
 * wrapping when rounded up to pages), 1 GiB on 32-bit systems, where the
 * address space is 4 GiB and a block is at most 1 GiB anyway. */
#define MAX_CHUNK_BYTES (((size_t)1 << 30) * (sizeof(size_t) >= 8 ? 64 : 1))

/* ---- the process's heaps, and fork -------------------------------------------- */

static pthread_mutex_t all_heaps_lock = PTHREAD_MUTEX_INITIALIZER;
static cmodx_heap *all_heaps;

/*
 * fork() and the code heap.  The backing file is shared memory: a child
 * that kept mapping it would run, trap-fill and reuse the parent's code.
 * So the child gets its own file, a snapshot of the parent's heap taken in
 * the prepare handler, while every heap lock is held (and, before them,
 * every domain's writer lock, src/base/fork.c): no allocation, free, trap
 * fill, publish or reclamation is in progress, so the bytes agree with the
 * heap's metadata and the slots that fork() copies at the same instant.
 * Copying in the child instead, after fork() returned, would read the
 * shared file while the parent goes on: the child could get the parent's
 * later code or its trap fill in a block its slots still target.  What a
 * thread of the parent writes into a live block of its own during the fork
 * (no lock covers that) reaches the child or not, as with any memory
 * written while another thread forks.  The parent pays for the copy: the
 * data of every heap (holes are skipped) is copied once per fork
 * (docs/HEAP.md, "fork()", has the rule and the measured cost).
 */
static void heaps_prepare(void)
{
    pthread_mutex_lock(&all_heaps_lock);
    for (cmodx_heap *h = all_heaps; h; h = h->all_next) {
        pthread_mutex_lock(&h->lock);
        if (!MUTANT(fork_copy_in_child))
            heap_snapshot(h); /* a failure is reported by the child */
    }
}

static void heaps_parent(void)
{
    for (cmodx_heap *h = all_heaps; h; h = h->all_next) {
        heap_snapshot_drop(h);
        pthread_mutex_unlock(&h->lock);
    }
    pthread_mutex_unlock(&all_heaps_lock);
}

static void heaps_child(void)
{
    for (cmodx_heap *h = all_heaps; h; h = h->all_next) {
        /* The child's only thread took this lock in heaps_prepare(): it
         * unlocks (re-initialising a locked mutex is undefined). */
        pthread_mutex_unlock(&h->lock);
        if (MUTANT(fork_copy_in_child))
            heap_snapshot(h); /* the old way: reads the parent's later bytes */
        int err = heap_snapshot_adopt(h);
        if (err != 0) {
            /* Without its own copy the child would corrupt the parent's
             * code: refuse to go on rather than do that silently. */
            char msg[224];
            int n = snprintf(msg, sizeof msg, "cmodx: cannot give the child its own code heap "
                             "after fork: %s%s\n", strerror(err),
                             err == EFBIG ? " (the copy, made in the parent, passed its file "
                                            "size limit, RLIMIT_FSIZE): the child exits 127"
                                          : "");
            if (n > 0 && write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1) < 0) {
            }
            _exit(127);
        }
    }
    pthread_mutex_unlock(&all_heaps_lock);
}

static const struct fork_steps heap_fork_steps = {heaps_prepare, heaps_parent, heaps_child,
                                                  NULL, NULL};

static void heap_list_add(cmodx_heap *h)
{
    fork_register(FORK_STAGE_HEAPS, &heap_fork_steps);
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&all_heaps_lock);
    h->all_next = all_heaps;
    all_heaps = h;
    pthread_mutex_unlock(&all_heaps_lock);
    lib_leave();
}

static void heap_list_remove(cmodx_heap *h)
{
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&all_heaps_lock);
    for (cmodx_heap **p = &all_heaps; *p; p = &(*p)->all_next)
        if (*p == h) {
            *p = h->all_next;
            break;
        }
    pthread_mutex_unlock(&all_heaps_lock);
    lib_leave();
}

enum heap_where heap_find_in_any(const void *x, size_t len, cmodx_heap *skip,
                                 cmodx_xptr *start, size_t *size)
{
    enum heap_where where = HEAP_OUTSIDE;
    lib_enter(); /* a lock fork's prepare takes (src/base/fork.c) */
    pthread_mutex_lock(&all_heaps_lock);
    for (cmodx_heap *h = all_heaps; h && where == HEAP_OUTSIDE; h = h->all_next)
        if (h != skip)
            where = heap_find_block(h, x, len, start, size);
    pthread_mutex_unlock(&all_heaps_lock);
    lib_leave();
    return where;
}

/* ---- creation, statistics, destruction ------------------------------------------ */

int cmodx_heap_create(const struct cmodx_heap_config *cfg, cmodx_heap **out)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_heap_create");
    if (!out)
        return cmodx_fail(EINVAL, "cmodx_heap_create: NULL out");
    *out = NULL; /* defined and unusable until success */
    struct cmodx_heap_config def = {0};
    if (!cfg)
        cfg = &def;
    if (cfg->flags & ~(unsigned)CMODX_HEAP_ALLOW_TMPFILE)
        return cmodx_fail(EINVAL, "cmodx_heap_create: unknown flags 0x%x", cfg->flags);
    size_t page = cmodx_page_size();
    if (cfg->chunk_bytes > MAX_CHUNK_BYTES)
        return cmodx_fail(EINVAL, "cmodx_heap_create: chunk_bytes %zu above the maximum %zu",
                          cfg->chunk_bytes, MAX_CHUNK_BYTES);
    if (cfg->limit_bytes && cfg->limit_bytes < page)
        return cmodx_fail(EINVAL, "cmodx_heap_create: limit_bytes %zu below one page (%zu): no "
                          "block could ever be allocated (0 means no limit)", cfg->limit_bytes,
                          page);
    /* The backing file grows by a chunk at a time (the last one up to
     * limit_bytes): under a file size limit smaller than that, no block
     * could ever be allocated, and each try would fail with EFBIG. */
    size_t first = heap_round_up(cfg->chunk_bytes ? cfg->chunk_bytes : DEFAULT_CHUNK_BYTES, page);
    if (cfg->limit_bytes && cfg->limit_bytes < first)
        first = cfg->limit_bytes / page * page;
    unsigned long long fsize = xfsz_limit();
    if (fsize && fsize < first)
        return cmodx_fail(EFBIG, "cmodx_heap_create: the process's file size limit "
                          "(RLIMIT_FSIZE, ulimit -f) of %llu bytes is below the heap's first "
                          "chunk of %zu bytes: no block could be allocated (raise the limit, "
                          "or set a smaller chunk_bytes)", fsize, first);
    struct cmodx_heap *h = calloc(1, sizeof *h);
    if (!h)
        return cmodx_fail(ENOMEM, "cmodx_heap_create: out of memory");
    /* open(2) of a temporary file is a cancellation point: cancelled
     * there, H would leak (the header promises no cancellation point). */
    nocancel_enter();
    int err = heap_open_backing(cfg->flags, &h->fd);
    nocancel_leave();
    if (err) {
        free(h);
        return err;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->snap_fd = -1; /* no fork snapshot */
    h->flags = cfg->flags;
    h->page = page;
    /* Blocks never share a cache line: granule = largest line, >= 64. */
    size_t g = 64;
    while (g < arch_cache_line_max())
        g <<= 1;
    h->granule = g < h->page ? g : h->page;
    h->chunk_bytes =
        heap_round_up(cfg->chunk_bytes ? cfg->chunk_bytes : DEFAULT_CHUNK_BYTES, h->page);
    h->limit = cfg->limit_bytes;
    h->meta = sizeof *h;
    heap_list_add(h);
    *out = h;
    return 0;
}

int cmodx_heap_destroy(cmodx_heap *h)
{
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_heap_destroy");
    if (!h)
        return 0;
    heap_lock(h);
    unsigned users = h->users;
    heap_unlock(h);
    if (users)
        return cmodx_fail(EBUSY, "cmodx_heap_destroy: %u domain(s) still free retired blocks "
                          "into this heap: destroy them first", users);
    /* A slot of a domain using another heap (or none) may target a block
     * here: destroying would unmap code its callers jump to. */
    if (heap_targeted(h))
        return cmodx_fail(EBUSY, "cmodx_heap_destroy: a slot still targets code in this "
                          "heap: switch it away or cmodx_slot_fini it first");
    heap_list_remove(h);
    heap_free_all(h);
    fork_backing_forget(h->fd);
    close(h->fd);
    pthread_mutex_destroy(&h->lock);
    free(h);
    return 0;
}

void heap_hold(cmodx_heap *h)
{
    heap_lock(h);
    h->users++;
    heap_unlock(h);
}

unsigned heap_users(cmodx_heap *h)
{
    heap_lock(h);
    unsigned n = h->users;
    heap_unlock(h);
    return n;
}

void heap_release(cmodx_heap *h)
{
    heap_lock(h);
    h->users--;
    heap_unlock(h);
}

unsigned heap_flags(cmodx_heap *h)
{
    return h->flags; /* set at creation, never changed */
}

void cmodx_heap_get_stats(cmodx_heap *h, struct cmodx_heap_stats *s)
{
    if (fork_unusable_quiet()) { /* src/base/fork.c: nothing to report */
        if (s)
            memset(s, 0, sizeof *s);
        return;
    }
    if (!s)
        return;
    if (!h) {
        memset(s, 0, sizeof *s);
        return;
    }
    heap_lock(h);
    s->mapped_bytes = h->mapped;
    s->live_bytes = h->live_bytes;
    s->live_blocks = h->live_blocks;
    s->free_bytes = h->free_bytes;
    s->free_runs = h->free_runs;
    s->chunks = h->nchunks;
    s->metadata_bytes = h->meta + h->free_runs * sizeof(struct free_run) +
                        h->chunks_cap * sizeof(struct chunk *);
    s->remaps = h->remaps;
    s->remapped_pages = h->remapped_pages;
    s->alignment = h->granule;
    heap_unlock(h);
}
