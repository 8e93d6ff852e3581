/* cmodx-check — guest mappings and backing pages (see maps.c). */
#ifndef CMODX_MAPS_H
#define CMODX_MAPS_H

#include "cmodx_check.h"

/* Linux values, identical on aarch64, arm and riscv64. */
#define CM_PROT_WRITE 2
#define CM_PROT_EXEC 4
#define CM_MAP_SHARED 1
#define CM_MAP_TYPE 0xf
#define CM_MAP_ANONYMOUS 0x20
#define CM_MAP_STACK 0x20000

enum map_kind { MK_ANON, MK_SHARED, MK_PFILE, MK_UNKNOWN };

struct map {
    uint64_t start, end;
    int prot;
    uint8_t kind;          /* enum map_kind */
    bool stack;            /* MAP_STACK: a thread stack, never code */
    bool shm;              /* a System V shared memory attachment */
    uint64_t dev, ino, off;
    uint64_t anon;         /* identity of private/anonymous backing */
};

/*
 * The tracked-page bitmap: one bit per guest page that holds or may hold
 * code (executable, shared, or promoted by maintenance).  Two levels, so
 * that a 48-bit address space costs only the leaves it uses.  Read with
 * no lock by every store callback (its fast path), so inline; a leaf,
 * once published, is never freed.
 */
#define TRACK_LEAF_BITS 18
#define TRACK_TOP_BITS 18
extern uint64_t *track_top[1u << TRACK_TOP_BITS];
/*
 * In front of it, a filter of 4096 bits, one per 64 KiB granule of the
 * address space modulo 256 MiB: set for the granules of every page ever
 * tracked, never cleared.  A clear bit (the stack's and the heap's stores,
 * nearly always) answers with one load from 512 bytes that stay in the
 * cache, where the two levels cost two dependent loads from three pages
 * (a tenth of pcre2grep's time under the checker).  A set bit, by a
 * tracked page or another granule 256 MiB apart, asks the two levels.
 */
#define TRACK_GRANULE_SHIFT 16
#define TRACK_FILTER_BITS 4096
extern uint64_t track_filter[TRACK_FILTER_BITS / 64];

/* False: no page of va's granule is tracked (nor any 256 MiB apart). */
static inline bool track_filter_test(uint64_t va)
{
    uint64_t g = (va >> TRACK_GRANULE_SHIFT) & (TRACK_FILTER_BITS - 1);
    return (__atomic_load_n(&track_filter[g / 64], __ATOMIC_RELAXED) >> (g % 64)) & 1;
}

/*
 * The store callbacks' copy of the filter: the same bits, and every bit
 * set for good once every store must leave the fast path (plugin.c:
 * AArch64 with a second thread, whose every store keeps the shadow of
 * memory).  A copy, so that page_tracked, which the loads then ask for
 * every access, keeps its one-load answer.
 */
extern uint64_t store_filter[TRACK_FILTER_BITS / 64];
void store_filter_saturate(void);
/* Back to the bits of track_filter (one thread again). */
void store_filter_restore(void);

/* Any byte of [va, va+16) in a granule of store_filter: a store's
 * callback, whose access may cross into the next granule (at most 16
 * bytes: a store callback's size). */
static inline bool store_filter_test16(uint64_t va)
{
    uint64_t g = (va >> TRACK_GRANULE_SHIFT) & (TRACK_FILTER_BITS - 1);
    uint64_t h = ((va + 15) >> TRACK_GRANULE_SHIFT) & (TRACK_FILTER_BITS - 1);
    return ((__atomic_load_n(&store_filter[g / 64], __ATOMIC_RELAXED) >> (g % 64)) & 1) ||
           (h != g && ((__atomic_load_n(&store_filter[h / 64], __ATOMIC_RELAXED) >> (h % 64)) & 1));
}

static inline bool page_tracked(uint64_t va)
{
    if (!track_filter_test(va)) {
        return false;
    }
    uint64_t pg = va >> PAGE_SHIFT;
    uint64_t top = pg >> TRACK_LEAF_BITS;
    if (top >= (1u << TRACK_TOP_BITS)) {
        return false;
    }
    uint64_t *leaf = __atomic_load_n(&track_top[top], __ATOMIC_ACQUIRE);
    if (!leaf) {
        return false;
    }
    uint64_t bit = pg & ((1u << TRACK_LEAF_BITS) - 1);
    return (__atomic_load_n(&leaf[bit / 64], __ATOMIC_RELAXED) >> (bit % 64)) & 1;
}
void set_tracked(uint64_t start, uint64_t end, bool on);
/* The version of the mapping list: it moves (release) after every change
 * that may change a page's backing key (page_key), so that a key found
 * while it held a value stays right while it still does (bpage_get's
 * cache). */
extern uint64_t maps_version;
struct map *map_find(uint64_t va);
struct map *maps_add(uint64_t start, uint64_t len, int prot, int flags, int fd, uint64_t off);
/* shmat(2) of segment shmid at start: shared memory keyed by the
 * segment, the same in every process that attaches it. */
struct map *maps_add_shm(uint64_t start, uint64_t len, int prot, int shmid);
void maps_unmap(uint64_t start, uint64_t len);
void maps_protect(uint64_t start, uint64_t len, int prot, void (*made_exec)(uint64_t va));
void maps_move(uint64_t old, uint64_t oldlen, uint64_t new, uint64_t newlen);
void page_key(uint64_t va, uint64_t key[3]);
/* True when the memory behind va is also mapped executable at another
 * address (shared file, memfd or shared anonymous memory). */
bool maps_exec_alias(uint64_t va);

#endif
