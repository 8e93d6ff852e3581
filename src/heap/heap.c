/*
 * src/heap/heap.c - code heaps as objects: creation, destruction,
 * statistics, the process's list of heaps, and their steps at fork (the
 * order of those steps among the library's is in src/base/fork.c).
 * The allocator is in alloc.c, the views in views.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "base/base.h"
#include "base/fork.h"
#include "heap/heap-impl.h"

#define DEFAULT_CHUNK_BYTES ((size_t)1 << 20)

/* ---- the process's heaps, and fork -------------------------------------------- */

static pthread_mutex_t all_heaps_lock = PTHREAD_MUTEX_INITIALIZER;
static cmodx_heap *all_heaps;

static void heaps_prepare(void)
{
    pthread_mutex_lock(&all_heaps_lock);
    for (cmodx_heap *h = all_heaps; h; h = h->all_next)
        pthread_mutex_lock(&h->lock);
}

static void heaps_parent(void)
{
    for (cmodx_heap *h = all_heaps; h; h = h->all_next)
        pthread_mutex_unlock(&h->lock);
    pthread_mutex_unlock(&all_heaps_lock);
}

static void heaps_child(void)
{
    for (cmodx_heap *h = all_heaps; h; h = h->all_next) {
        pthread_mutex_init(&h->lock, NULL);
        if (heap_copy_private(h) != 0) {
            /* Without its own copy the child would corrupt the parent's
             * code: refuse to go on rather than do that silently. */
            static const char msg[] = "cmodx: cannot give the child its own code heap after fork\n";
            if (write(2, msg, sizeof msg - 1) < 0) {
            }
            _exit(127);
        }
    }
    pthread_mutex_init(&all_heaps_lock, NULL);
}

static const struct fork_steps heap_fork_steps = {heaps_prepare, heaps_parent, heaps_child};

static void heap_list_add(cmodx_heap *h)
{
    fork_register(FORK_STAGE_HEAPS, &heap_fork_steps);
    pthread_mutex_lock(&all_heaps_lock);
    h->all_next = all_heaps;
    all_heaps = h;
    pthread_mutex_unlock(&all_heaps_lock);
}

static void heap_list_remove(cmodx_heap *h)
{
    pthread_mutex_lock(&all_heaps_lock);
    for (cmodx_heap **p = &all_heaps; *p; p = &(*p)->all_next)
        if (*p == h) {
            *p = h->all_next;
            break;
        }
    pthread_mutex_unlock(&all_heaps_lock);
}

/* ---- creation, statistics, destruction ------------------------------------------ */

int cmodx_heap_create(const struct cmodx_heap_config *cfg, cmodx_heap **out)
{
    if (!out)
        return cmodx_fail(EINVAL, "cmodx_heap_create: NULL out");
    struct cmodx_heap_config def = {0};
    if (!cfg)
        cfg = &def;
    if (cfg->flags & ~(unsigned)CMODX_HEAP_ALLOW_TMPFILE)
        return cmodx_fail(EINVAL, "cmodx_heap_create: unknown flags 0x%x", cfg->flags);
    struct cmodx_heap *h = calloc(1, sizeof *h);
    if (!h)
        return cmodx_fail(ENOMEM, "cmodx_heap_create: out of memory");
    int err = heap_open_backing(cfg->flags, &h->fd);
    if (err) {
        free(h);
        return err;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->flags = cfg->flags;
    h->page = cmodx_page_size();
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

void cmodx_heap_destroy(cmodx_heap *h)
{
    if (!h)
        return;
    heap_list_remove(h);
    heap_free_all(h);
    close(h->fd);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void cmodx_heap_get_stats(cmodx_heap *h, struct cmodx_heap_stats *s)
{
    if (!h || !s)
        return;
    pthread_mutex_lock(&h->lock);
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
    pthread_mutex_unlock(&h->lock);
}
