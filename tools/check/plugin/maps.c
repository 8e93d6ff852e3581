/*
 * cmodx-check — the guest's memory mappings, as seen through its system
 * calls, and the backing page behind each guest page.
 *
 * Why backing pages: a JIT that keeps W^X maps one memfd twice, writes
 * through the read-write view and runs the read-execute view.  Caches are
 * physically tagged for this purpose (a clean or invalidate by VA acts on
 * the physical line), so both views share one line state.  Under qemu-user
 * a guest fd is the host fd, so fstat() in the plugin names the file.
 */
#include "maps.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "symbols.h"
#include "xproc.h"

static struct map *maps;       /* sorted by start, non-overlapping */
static size_t nmaps, capmaps;
static uint64_t next_anon = 1;

/* ---- tracked-page bitmap: two levels, read without the lock ---- */

uint64_t *track_top[1u << TRACK_TOP_BITS];
uint64_t track_filter[TRACK_FILTER_BITS / 64] __attribute__((aligned(64)));
uint64_t store_filter[TRACK_FILTER_BITS / 64] __attribute__((aligned(64)));

void store_filter_restore(void)
{
    for (unsigned k = 0; k < TRACK_FILTER_BITS / 64; k++) {
        __atomic_store_n(&store_filter[k], __atomic_load_n(&track_filter[k], __ATOMIC_ACQUIRE),
                         __ATOMIC_RELEASE);
    }
}

void store_filter_saturate(void)
{
    for (unsigned k = 0; k < TRACK_FILTER_BITS / 64; k++) {
        __atomic_store_n(&store_filter[k], ~0ull, __ATOMIC_RELEASE);
    }
}

static void set_track_page(uint64_t pg, bool on)
{
    uint64_t top = pg >> TRACK_LEAF_BITS;
    if (top >= (1u << TRACK_TOP_BITS)) {
        return;
    }
    uint64_t *leaf = track_top[top];
    if (!leaf) {
        if (!on) {
            return;
        }
        leaf = calloc((1u << TRACK_LEAF_BITS) / 64, sizeof(uint64_t));
        __atomic_store_n(&track_top[top], leaf, __ATOMIC_RELEASE);
    }
    uint64_t bit = pg & ((1u << TRACK_LEAF_BITS) - 1);
    uint64_t m = 1ull << (bit % 64);
    if (on) {
        /* The filter first: a reader that sees the page's bit sees its
         * granule's (page_tracked reads them in the other order). */
        uint64_t g = (pg >> (TRACK_GRANULE_SHIFT - PAGE_SHIFT)) & (TRACK_FILTER_BITS - 1);
        __atomic_fetch_or(&track_filter[g / 64], 1ull << (g % 64), __ATOMIC_RELEASE);
        __atomic_fetch_or(&store_filter[g / 64], 1ull << (g % 64), __ATOMIC_RELEASE);
        __atomic_fetch_or(&leaf[bit / 64], m, __ATOMIC_RELEASE);
    } else {
        __atomic_fetch_and(&leaf[bit / 64], ~m, __ATOMIC_RELEASE);
    }
}

void set_tracked(uint64_t start, uint64_t end, bool on)
{
    for (uint64_t pg = start >> PAGE_SHIFT; pg < (end + PAGE_SIZE - 1) >> PAGE_SHIFT; pg++) {
        set_track_page(pg, on);
    }
}

/* ---- the mapping list ---- */

struct map *map_find(uint64_t va)
{
    size_t lo = 0, hi = nmaps;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (va < maps[mid].start) {
            hi = mid;
        } else if (va >= maps[mid].end) {
            lo = mid + 1;
        } else {
            return &maps[mid];
        }
    }
    return NULL;
}

/* Moves after every change to the list (maps.h). */
uint64_t maps_version = 1;

static void maps_changed(void)
{
    __atomic_add_fetch(&maps_version, 1, __ATOMIC_RELEASE);
}

static void insert_at(size_t i, const struct map *m)
{
    if (nmaps == capmaps) {
        capmaps = capmaps ? 2 * capmaps : 64;
        maps = realloc(maps, capmaps * sizeof(*maps));
    }
    memmove(&maps[i + 1], &maps[i], (nmaps - i) * sizeof(*maps));
    maps[i] = *m;
    nmaps++;
    maps_changed();
}

/* A system call's length in whole pages: the kernel rounds mmap's,
 * munmap's, mprotect's and mremap's lengths up (a 6000-byte mapping is two
 * pages; taken as given, its second page lost its mark of a page that may
 * hold code after an mremap, found by the hostile review). */
static uint64_t whole_pages(uint64_t len)
{
    return (len + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
}

/* Insert m at its place in the list (by start). */
static void insert_sorted(const struct map *m)
{
    size_t i = 0;
    while (i < nmaps && maps[i].start < m->start) {
        i++;
    }
    insert_at(i, m);
}

/* Split so that no mapping straddles addr. */
static void split_at(uint64_t addr)
{
    struct map *m = map_find(addr);
    if (!m || m->start == addr) {
        return;
    }
    struct map tail = *m;
    tail.start = addr;
    tail.off += addr - m->start;
    m->end = addr;
    insert_at((size_t)(m - maps) + 1, &tail);   /* maps_changed */
}

/* Remove [start, end) from the list; returns the index where it was. */
static size_t cut(uint64_t start, uint64_t end)
{
    split_at(start);
    split_at(end);
    size_t i = 0;
    while (i < nmaps && maps[i].end <= start) {
        i++;
    }
    size_t j = i;
    while (j < nmaps && maps[j].start < end) {
        j++;
    }
    memmove(&maps[i], &maps[j], (nmaps - j) * sizeof(*maps));
    nmaps -= j - i;
    maps_changed();   /* after the list is whole again */
    return i;
}

struct map *maps_add_shm(uint64_t start, uint64_t len, int prot, int shmid)
{
    struct map *m = maps_add(start, len, prot, CM_MAP_SHARED | CM_MAP_ANONYMOUS, -1, 0);
    if (m) {
        /* Keyed as a file no device can be: (SHM_DEV, shmid, page). */
        m->anon = 0;
        m->dev = (uint64_t)-2;
        m->ino = (uint64_t)(unsigned)shmid;
        m->off = 0;
        m->shm = true;
    }
    return m;
}

void maps_unmap(uint64_t start, uint64_t len)
{
    len = whole_pages(len);
    cut(start, start + len);
    set_tracked(start, start + len, false);
}

struct map *maps_add(uint64_t start, uint64_t len, int prot, int flags, int fd, uint64_t off)
{
    len = whole_pages(len);
    struct map m = { .start = start, .end = start + len, .prot = prot };
    struct stat st;
    bool anon = (flags & CM_MAP_ANONYMOUS) || fd < 0;
    /* A character device (/dev/zero) mapped shared is a fresh shared
     * memory object on Linux, one per mapping: anonymous, not the device. */
    if (!anon && fstat(fd, &st) == 0 && !S_ISCHR(st.st_mode)) {
        m.dev = (uint64_t)st.st_dev;
        m.ino = (uint64_t)st.st_ino;
        m.off = off;
    } else {
        anon = true;
    }
    if ((flags & CM_MAP_TYPE) == CM_MAP_SHARED) {
        m.kind = MK_SHARED;
        if (anon) {
            /* Shared only with forked children: named the same in them
             * (xproc.c). */
            m.anon = xproc_shared_anon_id(next_anon++);
        }
    } else {
        m.kind = anon ? MK_ANON : MK_PFILE;
        m.anon = next_anon++;
    }
    m.stack = (flags & CM_MAP_STACK) != 0;
    maps_unmap(start, len);
    insert_sorted(&m);
    /* Shared backing may be (or become) executable through another view. */
    if (m.kind == MK_SHARED || (prot & CM_PROT_EXEC)) {
        set_tracked(start, start + len, true);
    }
    return map_find(start);
}

/*
 * Apply a protection change; calls made_exec(page) for each page that gains
 * PROT_EXEC, after the change.
 */
void maps_protect(uint64_t start, uint64_t len, int prot, void (*made_exec)(uint64_t va))
{
    len = whole_pages(len);
    uint64_t end = start + len;
    split_at(start);
    split_at(end);
    uint64_t va = start;
    while (va < end) {
        struct map *m = map_find(va);
        if (!m) {
            /* Memory qemu mapped itself (the ELF image, the stack). */
            /* Anonymous host memory (the .bss, the brk heap, the stack)
             * started as zeros: private anonymous memory, whose history
             * the model reconstructs; the program image's file pages are
             * of unknown history. */
            /* Keyed as memory with no mapping ((0, 0, page): anon 0, off
             * its address), so that what was stored and maintained there
             * before this first mprotect keeps its state (a .bss page
             * maintained, then written, then made executable lost the
             * writes: found by the hostile review). */
            struct map u = { .start = va, .end = end,
                             .kind = syms_host_anonymous(va) ? MK_ANON : MK_UNKNOWN,
                             .anon = 0, .off = va };
            size_t i = 0;
            while (i < nmaps && maps[i].start < va) {
                i++;
            }
            if (i < nmaps && maps[i].start < end) {
                u.end = maps[i].start;
            }
            insert_at(i, &u);
            m = map_find(va);
        }
        int before = m->prot;
        m->prot = prot;
        /* Code made writable (live patching of a program's own text): its
         * stores matter from now on.  Of memory qemu mapped itself (the
         * program image, the initial stack, the brk heap) the old protection
         * is unknown; programs rarely make it writable unless it is code. */
        bool was_code = m->kind == MK_UNKNOWN || (before & CM_PROT_EXEC) != 0;
        /* Pages gaining PROT_EXEC first: made_exec looks at what was
         * written while they were untracked (RW -> RX and RW -> RWX
         * alike), which it can tell only before they are tracked. */
        if ((prot & CM_PROT_EXEC) && !(before & CM_PROT_EXEC)) {
            for (uint64_t p = m->start; p < m->end; p += PAGE_SIZE) {
                made_exec(p);
            }
        }
        if ((prot & CM_PROT_WRITE) && (was_code || (prot & CM_PROT_EXEC))) {
            set_tracked(m->start, m->end, true);
        }
        va = m->end;
    }
}

/*
 * mremap: the pages keep their backing, at a new address, each mapping
 * of the old range moved whole (a range whose pages had their protection
 * changed is several mappings), and each page keeps its mark of a page
 * that holds or may hold code (a page of a read-write mapping is marked
 * when maintenance reaches it: promote in model.c).  The pages the range
 * grows by continue its last mapping: the same object further on when it
 * is shared, fresh memory otherwise, with an identity of its own, so that
 * the state of pages once unmapped there is not taken for theirs.
 * (MREMAP_DONTUNMAP is not modelled: qemu 10's linux-user takes the old
 * range away from the guest, whose next access to it faults.)
 */
void maps_move(uint64_t old, uint64_t oldlen, uint64_t new, uint64_t newlen)
{
    oldlen = whole_pages(oldlen);
    newlen = whole_pages(newlen);
    uint64_t kept = oldlen < newlen ? oldlen : newlen;
    uint64_t tail = oldlen ? old + oldlen - 1 : old;   /* the growth's template */
    struct map *t = map_find(tail);
    if (!t && !(t = map_find(old))) {
        return;
    }
    struct map grow = *t;
    grow.off += (oldlen ? old + oldlen : old) - t->start;
    split_at(old);
    split_at(old + kept);
    size_t npieces = 0;
    struct map *pieces = NULL;
    for (size_t i = 0; i < nmaps; i++) {
        if (maps[i].start >= old && maps[i].end <= old + kept) {
            npieces++;
        }
    }
    if (npieces && !(pieces = malloc(npieces * sizeof(*pieces)))) {
        npieces = 0;
    }
    for (size_t i = 0, k = 0; k < npieces && i < nmaps; i++) {
        if (maps[i].start >= old && maps[i].end <= old + kept) {
            pieces[k++] = maps[i];
        }
    }
    uint64_t npages = kept >> PAGE_SHIFT;
    uint64_t *marks = calloc(npages / 64 + 1, sizeof(*marks));
    for (uint64_t k = 0; marks && k < npages; k++) {
        marks[k / 64] |= (uint64_t)page_tracked(old + (k << PAGE_SHIFT)) << (k % 64);
    }
    maps_unmap(old, oldlen);
    maps_unmap(new, newlen);
    for (size_t k = 0; k < npieces; k++) {
        struct map m = pieces[k];
        m.start += new - old;
        m.end += new - old;
        insert_sorted(&m);
    }
    free(pieces);
    for (uint64_t k = 0; k < npages; k++) {
        /* Out of memory for the marks: every kept page marked (costs
         * time only). */
        if (!marks || ((marks[k / 64] >> (k % 64)) & 1)) {
            set_tracked(new + (k << PAGE_SHIFT), new + ((k + 1) << PAGE_SHIFT), true);
        }
    }
    free(marks);
    if (newlen > oldlen) {
        grow.start = new + oldlen;
        grow.end = new + newlen;
        if (grow.kind != MK_SHARED) {
            grow.anon = next_anon++;
            grow.off = grow.kind == MK_ANON ? 0 : grow.off;
        }
        insert_sorted(&grow);
        if (grow.kind == MK_SHARED || (grow.prot & CM_PROT_EXEC)) {
            set_tracked(grow.start, grow.end, true);
        }
    }
}

bool maps_exec_alias(uint64_t va)
{
    uint64_t k[3];
    page_key(va, k);
    struct map *self = map_find(va);
    if (!self || self->kind != MK_SHARED) {
        return false;   /* private memory has one view */
    }
    for (size_t i = 0; i < nmaps; i++) {
        struct map *m = &maps[i];
        if (m == self || m->kind != MK_SHARED || !(m->prot & CM_PROT_EXEC) ||
            m->dev != self->dev || m->ino != self->ino || m->anon != self->anon) {
            continue;
        }
        uint64_t page = k[2] << PAGE_SHIFT;   /* offset in the backing (file cases) */
        if (self->anon ? (va - self->start) + self->off < m->off + (m->end - m->start) &&
                             (va - self->start) + self->off >= m->off
                       : page >= m->off && page < m->off + (m->end - m->start)) {
            return true;
        }
    }
    return false;
}

/* Backing key of the page holding va; false if va is in no known mapping. */
void page_key(uint64_t va, uint64_t key[3])
{
    struct map *m = map_find(va);
    uint64_t pg = va >> PAGE_SHIFT;
    if (!m) {
        key[0] = 0;
        key[1] = 0;   /* anonymous id 0: memory qemu mapped itself */
        key[2] = pg;
    } else if (m->kind == MK_SHARED && !m->anon) {
        key[0] = m->dev + 1;
        key[1] = m->ino;
        key[2] = (m->off + (va - m->start)) >> PAGE_SHIFT;
    } else if (m->kind == MK_SHARED) {
        /* Shared anonymous memory, by its offset in the object: a mapping
         * moved or duplicated by mremap keeps its pages' keys. */
        key[0] = 0;
        key[1] = m->anon;
        key[2] = (m->off + (va - m->start)) >> PAGE_SHIFT;
    } else {
        /* Private memory, by its identity and its offset in the mapping
         * (off: 0 at creation for anonymous memory, the file offset for a
         * private file mapping; split_at and maps_move carry it): mremap
         * moves the pages, and what was written there and how it was
         * maintained moves with them.  Keyed by the virtual page, a moved
         * page came with no history (aarch64/mremap_private.c move). */
        key[0] = 0;
        key[1] = m->anon;
        key[2] = (m->off + (va - m->start)) >> PAGE_SHIFT;
    }
}
