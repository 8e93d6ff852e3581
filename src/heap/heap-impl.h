/*
 * src/heap/heap-impl.h - the code heap's records, shared by the heap's
 * own files and by nothing else:
 *   alloc.c  chunks, free lists and size classes, allocation and free;
 *   views.c  the backing file, the two views of each chunk, trap fill of
 *            freed space, remap-before-reuse, and the snapshot of the
 *            backing file a forked child gets (taken in the parent);
 *   heap.c   creation, destruction, statistics, the process's list of
 *            heaps and their steps at fork.
 */
#ifndef CMODX_SRC_HEAP_HEAP_IMPL_H
#define CMODX_SRC_HEAP_HEAP_IMPL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"
#include "cmodx/heap.h"

#define NCLASS 32
/* The largest block (cmodx_block_alloc, cmodx_block_alloc_near). */
#define HEAP_MAX_BLOCK_BYTES ((size_t)1 << 30)

/* A block's head granule is G_LIVE (allocated), then, once retired into
 * a domain's reclamation, G_PENDING until its grace period passed; its
 * space is G_FREE after cmodx_block_free() or the domain's free.  Every
 * transition checks the state it leaves (alloc.c), so a block is retired
 * once and freed once. */
enum granule_state { G_INNER = 0, G_FREE = 1, G_LIVE = 2, G_PENDING = 3 };

struct chunk;

struct free_run {
    struct free_run *prev, *next;
    struct chunk *chunk;
    uint32_t start, len; /* in granules */
    uint64_t seq;        /* free time; smaller is older */
    int cls;
};

struct chunk {
    unsigned char *w, *x; /* the two views of the same bytes */
    size_t bytes;
    off_t file_off;
    uint32_t granules;
    uint8_t *state;          /* enum granule_state, per granule */
    uint32_t *len;           /* run length at a run's head (and free tail) */
    struct free_run **run;   /* free-list node at a free run's head */
    uint8_t *dirty;          /* per granule: freed since its page was remapped */
};

struct run_list {
    struct free_run *head, *tail;
};

struct cmodx_heap {
    pthread_mutex_t lock;
    struct cmodx_heap *all_next; /* process-wide list, for fork */
    int fd;
    int snap_fd, snap_err; /* the fork snapshot (views.c), between prepare and parent/child */
    unsigned flags;
    size_t chunk_bytes, limit, granule, page;
    struct chunk **chunks; /* sorted by execute address */
    size_t nchunks, chunks_cap;
    off_t file_size;
    struct run_list cls[NCLASS];
    uint64_t seq;
    size_t mapped, live_bytes, live_blocks, free_bytes, free_runs, meta;
    uint64_t remaps, remapped_pages;
    /* Where heap_map_views() must put the next chunk's execute view (0:
     * anywhere); set only around heap_grow_at(), for near.c. */
    uintptr_t grow_at;
    /* Domains that free retired blocks into this heap (heap_hold()):
     * cmodx_heap_destroy() refuses while any does. */
    unsigned users;
};

/* alloc.c */
size_t heap_round_up(size_t v, size_t a);
void heap_free_all(struct cmodx_heap *h); /* every run and chunk, for destroy */
/* For near.c (allocation near an address, execute address -> block): the
 * chunk holding execute address X or NULL; a new chunk for NEED bytes
 * whose execute view starts exactly at X_AT (0 or an errno, nothing left
 * behind on failure); carve N granules at offset OFF of free run R as
 * cmodx_block_alloc() does (returns the first granule). */
struct chunk *heap_chunk_of(struct cmodx_heap *h, uintptr_t x);
int heap_grow_at(struct cmodx_heap *h, size_t need, uintptr_t x_at);
uint32_t heap_take(struct cmodx_heap *h, struct free_run *r, uint32_t off, uint32_t n,
                   struct free_run *spare);

/* views.c */
int heap_open_backing(unsigned flags, int *fd_out);
int heap_map_views(struct cmodx_heap *h, struct chunk *c);
void heap_unmap_views(struct chunk *c);
int heap_remap_dirty(struct cmodx_heap *h, struct chunk *c, uint32_t g, uint32_t n);
int heap_trap_fill(struct cmodx_heap *h, struct chunk *c, uint32_t g, uint32_t n);
int heap_remap_fully_free(struct cmodx_heap *h, struct chunk *c, uint32_t g, uint32_t n,
                          uint32_t run_start, uint32_t run_len);
/* Fork (heap.c's steps): heap_snapshot(), in the parent with H's lock
 * held, copies the backing file's data (not its holes) into a new file,
 * snap_fd, recording an error in snap_err; heap_snapshot_drop() closes it
 * in the parent; heap_snapshot_adopt(), in the child, maps it over both
 * views of every chunk.  0 or an errno. */
int heap_snapshot(struct cmodx_heap *h);
void heap_snapshot_drop(struct cmodx_heap *h);
int heap_snapshot_adopt(struct cmodx_heap *h);
/* Copy the data of [OFF, OFF+LEN) of file SRC, which VIEW maps at OFF, to
 * the same offsets of DST: holes skipped (SEEK_DATA/SEEK_HOLE), short
 * writes continued.  Also for the moved text (text.c).  0 or an errno. */
int heap_copy_range(int dst, int src, const unsigned char *view, off_t off, size_t len);
/* pwrite all LEN bytes (short writes continued, EINTR retried): 0 or an
 * errno. */
int heap_write_all(int fd, const unsigned char *src, size_t len, off_t off);
/* Map pages [FIRST, FIRST+N) of C's execute view afresh (remap-before-reuse,
 * also after an in-place patch): 0 or an errno. */
int heap_remap_pages(struct cmodx_heap *h, struct chunk *c, size_t first, size_t n);

/* The heap's lock, taken only through these: cancellation is disabled
 * while it is held (src/base/cancel.c), because its sections reach
 * cancellation points (stdio over /proc/self/maps in
 * cmodx_block_alloc_near, ftruncate and mmap of the backing file, close),
 * and a thread cancelled there would leave the lock held forever. */
static inline void heap_lock(struct cmodx_heap *h)
{
    nocancel_enter();
    pthread_mutex_lock(&h->lock);
}

static inline void heap_unlock(struct cmodx_heap *h)
{
    pthread_mutex_unlock(&h->lock);
    nocancel_leave();
}

#endif
