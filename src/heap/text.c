/*
 * src/heap/text.c - a write view for the program's own text, without ever
 * making a page writable and executable.
 *
 * Compiled code lives in private file mappings (r-xp).  Writing it would
 * need PROT_WRITE on an executable page; cmodx never does that.  Instead,
 * the first time a page of text is patched it moves, once, onto a second
 * memfd mapped twice like the code heap (views.c):
 *   1. the page's bytes are copied into the memfd (pwrite from the
 *      execute mapping, which is readable);
 *   2. the memfd range is mapped read-write somewhere else: the write view;
 *   3. the copy is made visible to instruction fetch (cache maintenance
 *      through the write view: maintenance acts on the physical line) and
 *      every other thread is context-synchronised (the caller's SYNC_ALL);
 *   4. the memfd range is mapped read-execute over the original page with
 *      MAP_FIXED: same address, same bytes, and the replacement happens
 *      under the mm's write lock, so a thread fetching from the page
 *      meanwhile waits for it and then runs the copy.
 * Step 3 comes before step 4 so that no thread can run the copy before its
 * lines were cleaned, invalidated and the thread synchronised (the copy
 * is new memory to instruction fetch, even though its bytes are old).
 *
 * Costs and limits (docs/PATCHING.md): one page copy and three system
 * calls per page, once; the page is no longer backed by the program's
 * file (it counts as shared memory, is not shared with other processes
 * running the same file, and shows in /proc/self/maps as
 * /memfd:cmodx-text); debuggers and profilers that map addresses to the
 * file by the mapping's name lose those pages' names.  Only private,
 * non-writable executable mappings are moved.  After fork() the child gets
 * its own copy (the memfd is shared memory), a snapshot taken in the
 * parent at the fork, as the heap's is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unistd.h>

#include "arch/arch.h"
#include "base/base.h"
#include "base/xfsz.h"
#include "base/fork.h"
#include "heap/heap-impl.h"
#include "heap/text.h"

struct text_span {
    uintptr_t x;      /* first page of the original text */
    unsigned char *w; /* its write view */
    size_t bytes;
    off_t off;        /* in the backing file */
};

static pthread_mutex_t text_lock = PTHREAD_MUTEX_INITIALIZER;
static int text_fd = -1;
static off_t text_size;
static struct text_span *spans; /* sorted by x, disjoint */
static size_t nspans, cap;

/* ---- fork: the child's own copy ---------------------------------------------- */

/* As the code heap's (src/heap/heap.c): the child's copy is a snapshot
 * taken in the parent's prepare handler, under the text lock (and every
 * lock above it), not a copy made in the child while the parent goes on
 * patching. */
static int snap_fd = -1, snap_err;

static void text_prepare(void)
{
    pthread_mutex_lock(&text_lock);
    snap_fd = -1;
    snap_err = 0;
    if (text_fd < 0)
        return;
    int fd = memfd_create("cmodx-text", MFD_CLOEXEC);
    /* As the heap's snapshot (src/heap/views.c): SIGXFSZ blocked, the one
     * this copy causes past RLIMIT_FSIZE taken back; the child reports. */
    struct xfsz_guard xg;
    xfsz_block(&xg);
    int err = fd < 0 ? errno : ftruncate(fd, text_size) != 0 ? errno : 0;
    for (size_t i = 0; !err && i < nspans; i++)
        err = heap_copy_range(fd, text_fd, spans[i].w, spans[i].off, spans[i].bytes);
    xfsz_restore(&xg, err);
    if (err && fd >= 0)
        close(fd);
    snap_err = err;
    snap_fd = err ? -1 : fd;
}

static void text_parent(void)
{
    if (snap_fd >= 0)
        close(snap_fd);
    snap_fd = -1;
    pthread_mutex_unlock(&text_lock);
}

/* A MAP_FIXED mapping over the program's text, by the system call itself
 * (mmap(2)), not through libc's mmap: a sanitizer's interceptor of mmap
 * resets its shadow of the range, and ThreadSanitizer maps the shadow of
 * a program's read-only file mappings (its text) read-only, so the reset
 * faulted inside the interceptor.  The text's shadow needs no change:
 * instrumented code never stores to text, and its loads of it (reading an
 * entry) find no prior access either way.  Used only over pages that are
 * program text (or their copy); heap views keep libc's mmap. */
static void *map_over_text(void *addr, size_t len, int prot, int fd, off_t off)
{
    int flags = MAP_SHARED | MAP_FIXED;
#ifdef SYS_mmap
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
#else
    /* Only mmap2 (32-bit ABIs): the offset in 4096-byte units. */
    return (void *)syscall(SYS_mmap2, addr, len, prot, flags, fd, (long)(off >> 12));
#endif
}

static void text_child(void)
{
    pthread_mutex_unlock(&text_lock); /* taken by this thread in text_prepare() */
    if (text_fd < 0)
        return;
    int fd = snap_fd, ok = fd >= 0;
    for (size_t i = 0; ok && i < nspans; i++) {
        struct text_span *s = &spans[i];
        ok = mmap(s->w, s->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, s->off) !=
                 MAP_FAILED &&
             map_over_text((void *)s->x, s->bytes, PROT_READ | PROT_EXEC, fd, s->off) !=
                 MAP_FAILED &&
             arch_make_visible(s->x, s->x + s->bytes) == 0;
    }
    if (!ok) {
        /* Sharing the parent's text would let each patch the other. */
        char msg[224];
        int n = snprintf(msg, sizeof msg, "cmodx: cannot give the child its own patched text "
                         "after fork: %s%s\n", strerror(snap_err ? snap_err : errno),
                         snap_err == EFBIG ? " (the copy, made in the parent, passed its file "
                                             "size limit, RLIMIT_FSIZE): the child exits 127"
                                           : "");
        if (n > 0 && write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1) < 0) {
        }
        _exit(127);
    }
    close(text_fd);
    text_fd = fd;
    snap_fd = -1;
}

static const struct fork_steps text_fork_steps = {text_prepare, text_parent, text_child,
                                                  NULL, NULL};

/* The text lock outside fork's handlers: cancellation disabled while it is
 * held (src/base/cancel.c), because its sections reach cancellation points
 * (stdio over /proc/self/maps, pwrite, ftruncate, close). */
static void text_lock_take(void)
{
    nocancel_enter();
    pthread_mutex_lock(&text_lock);
}

static void text_lock_give(void)
{
    pthread_mutex_unlock(&text_lock);
    nocancel_leave();
}

/* ---- lookup ---------------------------------------------------------------------- */

static struct text_span *span_of(uintptr_t x)
{
    for (size_t i = 0; i < nspans; i++)
        if (x >= spans[i].x && x - spans[i].x < spans[i].bytes)
            return &spans[i];
    return NULL;
}

int text_is_moved(uintptr_t x)
{
    text_lock_take();
    int r = span_of(x) != NULL;
    text_lock_give();
    return r;
}

/* Is every page of [B, E) in private, readable, executable, non-writable
 * mappings?  0, or EINVAL with the reason recorded. */
static int check_maps(uintptr_t b, uintptr_t e)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return cmodx_fail(errno, "patch: cannot read /proc/self/maps: %s", strerror(errno));
    uintptr_t covered = b;
    char line[512];
    int err = 0;
    while (!err && covered < e && fgets(line, sizeof line, f)) {
        uintmax_t s, t;
        char perms[8];
        int name = 0;
        if (sscanf(line, "%jx-%jx %7s %*s %*s %*s %n", &s, &t, perms, &name) != 3 ||
            (uintptr_t)t <= covered)
            continue;
        if ((uintptr_t)s > covered)
            break; /* a hole */
        line[strcspn(line, "\n")] = 0;
        if (strncmp(perms, "r-xp", 4) != 0)
            err = cmodx_fail(EINVAL, "patch: %#" PRIxPTR " is in a mapping with permissions %s; "
                             "only private read-execute program text (r-xp) or the domain's "
                             "code heap can be patched", covered, perms);
        else if (name > 0 && line[name] == '[')
            /* The kernel's special mappings ([vdso], [vsyscall], [uprobes],
             * ...): installed by the kernel, not backed by a file a
             * MAP_FIXED can replace with a copy that stays correct (the
             * vDSO's data page is tied to it); refused before any copy. */
            err = cmodx_fail(EINVAL, "patch: %#" PRIxPTR " is in the kernel's special mapping "
                             "%s, which cannot be patched", covered, line + name);
        covered = (uintptr_t)t;
    }
    fclose(f);
    if (!err && covered < e)
        err = cmodx_fail(EINVAL, "patch: %#" PRIxPTR " is not mapped", covered);
    return err;
}

int text_check(uintptr_t x, size_t len)
{
    size_t page = cmodx_page_size();
    if (len == 0 || x + len < x)
        return cmodx_fail(EINVAL, "patch: %#" PRIxPTR "+%zu is not a range of text", x, len);
    uintptr_t b = x & ~(uintptr_t)(page - 1), e = (x + len + page - 1) & ~(uintptr_t)(page - 1);
    text_lock_take();
    struct text_span *s = span_of(x);
    int err = 0;
    if (!(s && x + len - s->x <= s->bytes)) {
        for (uintptr_t p = b; p < e && !err; p += page)
            if (span_of(p))
                err = cmodx_fail(EINVAL, "patch: %#" PRIxPTR "+%zu straddles pages of text that "
                                 "were moved separately", x, len);
        if (!err)
            err = check_maps(b, e);
    }
    text_lock_give();
    return err;
}

int text_write_view(uintptr_t x, size_t len, int (*sync_all)(void *), void *arg, void **w)
{
    size_t page = cmodx_page_size();
    uintptr_t b = x & ~(uintptr_t)(page - 1), e = (x + len + page - 1) & ~(uintptr_t)(page - 1);
    text_lock_take();
    struct text_span *s = span_of(x);
    if (s && x + len - s->x <= s->bytes) {
        *w = s->w + (x - s->x);
        text_lock_give();
        return 0;
    }
    int err = 0;
    for (uintptr_t p = b; p < e && !err; p += page)
        if (span_of(p))
            err = cmodx_fail(EINVAL, "patch: %#" PRIxPTR "+%zu straddles pages of text that "
                             "were moved separately", x, len);
    if (!err)
        err = check_maps(b, e);
    if (!err && nspans == cap) {
        size_t ncap = cap ? cap * 2 : 16;
        struct text_span *n = realloc(spans, ncap * sizeof *n);
        if (!n)
            err = cmodx_fail(ENOMEM, "patch: out of memory");
        else
            spans = n, cap = ncap;
    }
    if (!err && text_fd < 0) {
        text_fd = memfd_create("cmodx-text", MFD_CLOEXEC);
        if (text_fd < 0)
            err = cmodx_fail(errno, "patch: memfd_create for the program text failed: %s",
                             strerror(errno));
        else
            fork_register(FORK_STAGE_TEXT, &text_fork_steps);
    }
    size_t bytes = e - b;
    void *wv = MAP_FAILED;
    /* Past RLIMIT_FSIZE: EFBIG, and no SIGXFSZ (src/base/xfsz.c). */
    struct xfsz_guard xg;
    xfsz_block(&xg);
    int gerr = err ? 0 : ftruncate(text_fd, text_size + (off_t)bytes) != 0 ? errno : 0;
    int werr = err || gerr ? 0
                           : heap_write_all(text_fd, (const unsigned char *)b, bytes, text_size);
    xfsz_restore(&xg, gerr ? gerr : werr);
    if (gerr || werr)
        err = cmodx_fail(gerr ? gerr : werr, "patch: %s the text at %#" PRIxPTR " into its "
                         "backing file failed: %s%s", gerr ? "growing for" : "copying", b,
                         strerror(gerr ? gerr : werr),
                         (gerr ? gerr : werr) == EFBIG
                             ? " (the process's file size limit, RLIMIT_FSIZE, is too low)"
                             : "");
    if (!err) {
        wv = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, text_fd, text_size);
        if (wv == MAP_FAILED)
            err = cmodx_fail(errno, "patch: mapping the text's write view failed: %s",
                             strerror(errno));
    }
    /* The copy is new to instruction fetch: visible, and every thread
     * synchronised, before any thread can fetch it. */
    if (!err)
        err = arch_make_visible((uintptr_t)wv, (uintptr_t)wv + bytes);
    if (!err)
        err = sync_all(arg);
    if (!err && map_over_text((void *)b, bytes, PROT_READ | PROT_EXEC, text_fd, text_size) ==
                    MAP_FAILED)
        err = cmodx_fail(errno, "patch: mapping the copy over the text at %#" PRIxPTR
                         " failed: %s", b, strerror(errno));
    if (err) {
        if (wv != MAP_FAILED)
            munmap(wv, bytes);
        if (text_fd >= 0 && ftruncate(text_fd, text_size) != 0) {
        } /* a failed shrink only wastes file space */
        text_lock_give();
        return err;
    }
    size_t i = nspans;
    while (i > 0 && spans[i - 1].x > b) {
        spans[i] = spans[i - 1];
        i--;
    }
    spans[i] = (struct text_span){b, wv, bytes, text_size};
    nspans++;
    text_size += (off_t)bytes;
    *w = (unsigned char *)wv + (x - b);
    text_lock_give();
    return 0;
}

int text_remap_exec(uintptr_t x, size_t len)
{
    size_t page = cmodx_page_size();
    uintptr_t b = x & ~(uintptr_t)(page - 1), e = (x + len + page - 1) & ~(uintptr_t)(page - 1);
    int err = 0;
    text_lock_take();
    struct text_span *s = span_of(x);
    if (!s || e - s->x > s->bytes)
        err = EINVAL;
    else if (!MUTANT(no_remap) &&
             map_over_text((void *)b, e - b, PROT_READ | PROT_EXEC, text_fd,
                           s->off + (off_t)(b - s->x)) == MAP_FAILED)
        err = errno;
    text_lock_give();
    return err;
}
