/*
 * src/heap/views.c - the backing file and the two views of each chunk:
 * mapping them, trap-filling freed space, remap-before-reuse, and the
 * snapshot a forked child gets (taken in the parent, at the fork).
 *
 * One memfd backs every chunk; each chunk maps its file range twice, once
 * read-write (stores go there) and once read-execute (threads run there).
 * No address is ever both writable and executable.
 *
 * Address recycling, by page: qemu-user (and, on hardware, nothing else)
 * may keep running an old translation of code rewritten through the write
 * view.  Mapping the execute view afresh drops it, and on hardware costs
 * only the system call.  A page that was freed into is "dirty"; alloc()
 * remaps the dirty pages under a block before handing it out, once per
 * page and reuse.  free() also remaps pages that become entirely free, so
 * that a late executor traps on the fill even under the emulator.
 * Neighbouring live blocks on a remapped page are unaffected: the new
 * mapping has the same bytes, and MAP_FIXED replaces the old one under the
 * mm's write lock, so a concurrent fetch waits rather than faults.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/arch.h"
#include "base/base.h"
#include "base/xfsz.h"
#include "heap/heap-impl.h"

/* ---- the backing file and the views --------------------------------------- */

/* Errors that say "out of a resource", passed on as they are; any other
 * failure of memfd_create (ENOSYS on an old kernel, EPERM or EACCES from a
 * seccomp filter or a security module, ...) means "no memfd here". */
static int resource_error(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOMEM;
}

/* Can FD's file be mapped executable?  A file on a noexec mount (or
 * refused by a security module) opens and grows, and fails only at its
 * first PROT_EXEC mapping: asked here, at heap creation, not at the first
 * allocation.  One page past the end of the empty file: mmap checks the
 * mount and the permissions, not the size, and nothing is touched.
 * 0 or the mmap errno. */
static int exec_mappable(int fd)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return errno;
    munmap(p, page);
    return 0;
}

int heap_open_backing(unsigned flags, int *fd_out)
{
    int fd = -1;
    int err = ENOSYS;
    if (!cmodx_fault_active(CMODX_FAULT_MEMFD)) {
        fd = memfd_create("cmodx-code", MFD_CLOEXEC);
        err = fd < 0 ? errno : 0;
    }
    if (fd < 0 && resource_error(err))
        return cmodx_fail(err, "cmodx_heap_create: memfd_create: %s", strerror(err));
    int memfd_err = err, tmp_err = 0, tmp_at_map = 0;
    /* The first directory where a temporary file can be made AND mapped
     * executable; else the first failure, named in the message.  A set
     * CMODX_TMPDIR is the only one tried. */
    const char *tmp_dir = NULL;
    if (fd < 0 && (flags & CMODX_HEAP_ALLOW_TMPFILE)) {
        const char *dirs[] = {getenv("CMODX_TMPDIR"), "/dev/shm", getenv("TMPDIR"), "/tmp"};
        for (size_t i = 0; i < sizeof dirs / sizeof dirs[0] && fd < 0; i++) {
            if (!dirs[i] || !dirs[i][0])
                continue;
            int at_map = 0;
            fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
            int e = fd < 0 ? errno : 0;
            if (!e && (e = exec_mappable(fd)) != 0) {
                close(fd);
                fd = -1;
                at_map = 1;
            }
            if (!e)
                break;
            if (resource_error(e))
                return cmodx_fail(e, "cmodx_heap_create: no memfd (%s), and a temporary file "
                                  "in %s: %s", strerror(memfd_err), dirs[i], strerror(e));
            if (!tmp_dir) {
                tmp_dir = dirs[i];
                tmp_err = e;
                tmp_at_map = at_map;
            }
            /* CMODX_TMPDIR is the user's explicit choice: not replaced by
             * a default directory behind their back. */
            if (i == 0)
                break;
        }
    }
    if (fd < 0 && tmp_at_map)
        /* A file that opens but cannot be executed: EACCES or EPERM, as
         * mmap said (noexec mounts give EPERM). */
        return cmodx_fail(tmp_err == EACCES ? EACCES : EPERM, "cmodx_heap_create: memfd_create "
                          "unavailable (%s), and a temporary file in %s cannot be mapped "
                          "executable (%s: the directory is on a noexec mount, or a security "
                          "module refuses): set CMODX_TMPDIR to a writable directory on a file "
                          "system mounted without noexec", strerror(memfd_err), tmp_dir,
                          strerror(tmp_err));
    if (fd < 0) {
        /* The documented errors: ENOSYS where the kernel lacks memfd,
         * EPERM where it refuses it. */
        int ret = memfd_err == ENOSYS ? ENOSYS : EPERM;
        if (flags & CMODX_HEAP_ALLOW_TMPFILE)
            return cmodx_fail(ret, "cmodx_heap_create: memfd_create unavailable (%s) and no "
                              "temporary file could be created (%s%s%s): set CMODX_TMPDIR to "
                              "a writable directory not mounted noexec", strerror(memfd_err),
                              tmp_dir ? tmp_dir : "no directory to try",
                              tmp_dir ? ": " : "", tmp_dir ? strerror(tmp_err) : "");
        return cmodx_fail(ret, "cmodx_heap_create: memfd_create unavailable (%s); pass "
                          "CMODX_HEAP_ALLOW_TMPFILE to allow a temporary file",
                          strerror(memfd_err));
    }
    /* A temporary file has no name the fork child step can recognise
     * (src/base/fork.c): noted by device and inode, forgotten at close. */
    if (memfd_err)
        fork_backing_note(fd);
    *fd_out = fd;
    return 0;
}

int heap_map_views(struct cmodx_heap *h, struct chunk *c)
{
    if (cmodx_fault_active(CMODX_FAULT_MMAP))
        return ENOMEM;
    c->w = mmap(NULL, c->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, h->fd, c->file_off);
    if (c->w == MAP_FAILED) {
        c->w = NULL;
        return errno;
    }
    /* An execute view near an address (near.c): exactly there or not at
     * all.  A kernel older than 4.17 takes MAP_FIXED_NOREPLACE as a hint. */
    void *at = (void *)h->grow_at;
    int fixed = at ? MAP_FIXED_NOREPLACE : 0;
    c->x = mmap(at, c->bytes, PROT_READ | PROT_EXEC, MAP_SHARED | fixed, h->fd, c->file_off);
    if (c->x == MAP_FAILED) {
        c->x = NULL;
        return errno;
    }
    if (at && c->x != at) {
        munmap(c->x, c->bytes);
        c->x = NULL;
        return EEXIST;
    }
    return 0;
}

void heap_unmap_views(struct chunk *c)
{
    if (c->w) munmap(c->w, c->bytes);
    if (c->x) munmap(c->x, c->bytes);
}

/* ---- remap-before-reuse ------------------------------------------------------ */

static int remap_pages(struct cmodx_heap *h, struct chunk *c, size_t first, size_t n)
{
#ifdef CMODX_MUTANT_no_remap /* mutation testing: drop the remap step */
    (void)h, (void)c, (void)first, (void)n;
    return 0;
#endif
    size_t off = first * h->page;
    void *want = c->x + off;
    void *got = mmap(want, n * h->page, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED,
                     h->fd, c->file_off + (off_t)off);
    if (got == MAP_FAILED)
        return errno;
    h->remaps++;
    h->remapped_pages += n;
    return 0;
}

int heap_remap_pages(struct cmodx_heap *h, struct chunk *c, size_t first, size_t n)
{
    return remap_pages(h, c, first, n);
}

static void page_span(struct cmodx_heap *h, uint32_t g, uint32_t n, size_t *first, size_t *last)
{
    *first = (size_t)g * h->granule / h->page;
    *last = ((size_t)(g + n) * h->granule - 1) / h->page;
}

/* Stale translations belong to addresses that ran code, so dirtiness is
 * tracked per granule: a freed granule may have one, a granule that was
 * free since its page was last mapped cannot.  A remap is per page, and
 * cleans every granule of the page. */
static int page_has_dirty(struct cmodx_heap *h, const struct chunk *c, size_t page,
                          uint32_t g, uint32_t n)
{
    uint32_t per_page = (uint32_t)(h->page / h->granule);
    uint32_t lo = (uint32_t)page * per_page, hi = lo + per_page;
    if (lo < g)
        lo = g;
    if (hi > g + n)
        hi = g + n;
    return memchr(c->dirty + lo, 1, hi - lo) != NULL;
}

/* Remap the pages under granules [g, g+n) where those granules are dirty. */
int heap_remap_dirty(struct cmodx_heap *h, struct chunk *c, uint32_t g, uint32_t n)
{
    size_t p, last;
    uint32_t per_page = (uint32_t)(h->page / h->granule);
    page_span(h, g, n, &p, &last);
    for (; p <= last; p++) {
        if (!page_has_dirty(h, c, p, g, n))
            continue;
        int err = remap_pages(h, c, p, 1);
        if (err)
            return err;
        memset(c->dirty + p * per_page, 0, per_page);
    }
    return 0;
}

/* Remap the pages under granules [g, g+n) that the free run [RUN_START, +RUN_LEN)
 * (granules) covers whole. */
int heap_remap_fully_free(struct cmodx_heap *h, struct chunk *c, uint32_t g, uint32_t n,
                          uint32_t run_start, uint32_t run_len)
{
    size_t first, last;
    page_span(h, g, n, &first, &last);
    size_t run_begin = (size_t)run_start * h->granule;
    size_t run_end = (size_t)(run_start + run_len) * h->granule;
    size_t lo = (run_begin + h->page - 1) / h->page, hi_excl = run_end / h->page;
    if (lo < first)
        lo = first;
    if (hi_excl > last + 1)
        hi_excl = last + 1;
    if (lo >= hi_excl)
        return 0;
    return remap_pages(h, c, lo, hi_excl - lo);
}

/* ---- trap fill of freed space ------------------------------------------------ */

/* Granules [g, g+n) of C were just freed: trap-fill them through the write
 * view and make that visible to instruction fetch, so that a late executor
 * on hardware faults instead of running stale or reused code; and mark
 * them dirty (they may have run: a stale translation may exist), for the
 * remap before reuse.  Returns 0 or the cache maintenance's errno. */
int heap_trap_fill(struct cmodx_heap *h, struct chunk *c, uint32_t g, uint32_t n)
{
    size_t off = (size_t)g * h->granule, bytes = (size_t)n * h->granule;
    uintptr_t x = (uintptr_t)c->x + off;
    arch_fill_trap(c->w + off, bytes);
    int err = arch_make_visible(x, x + bytes);
    memset(c->dirty + g, 1, n);
    return err;
}

/* ---- fork: the child's snapshot -------------------------------------------------
 * The memfd is shared memory: after fork() parent and child would write
 * into (and trap-fill, and reuse) the same code.  The child therefore gets
 * its own file, at the same addresses: a snapshot of the parent's, taken
 * in the prepare handler with the heap's lock held (src/heap/heap.c says
 * why then), which the child maps over both views (MAP_FIXED: same
 * addresses, same protections). */

/* Write LEN bytes from SRC to FD at OFF: pwrite may write less than asked
 * (it never writes more than 0x7ffff000 bytes at once on Linux, so a chunk
 * of 2 GiB or more always takes several calls) or be interrupted. */
int heap_write_all(int fd, const unsigned char *src, size_t len, off_t off)
{
    while (len) {
        ssize_t n = pwrite(fd, src, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        src += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

/* Copy [OFF, OFF+LEN) of SRC to DST at the same offsets inside the kernel
 * (copy_file_range: no bounce through user memory, and the file's own
 * pages are read, so nothing is faulted into the parent's views).  A
 * thread of the parent may be writing a live block of its own during the
 * fork (no lock covers that, docs/HEAP.md): the kernel copies those bytes
 * as fork() copies any memory, while a copy through the view would be a
 * data race of ours in the sanitizers' eyes.  0, or
 * -1 if the kernel cannot do it for these files (old kernel, files on
 * different file systems, a seccomp filter): the caller copies through
 * the view instead; or an errno. */
static int kernel_copy(int dst, int src, off_t off, size_t len)
{
    int first = 1;
    while (len) {
        loff_t in = off, out = off; /* copy_file_range takes loff_t, 64-bit on every ABI */
        ssize_t n = copy_file_range(src, &in, dst, &out, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (first && (n == 0 || errno == ENOSYS || errno == EXDEV || errno == EINVAL ||
                          errno == EOPNOTSUPP || errno == EPERM))
                return -1;
            return n < 0 ? errno : EIO;
        }
        first = 0;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

int heap_copy_range(int dst, int src, const unsigned char *view, off_t off, size_t len)
{
    off_t end = off + (off_t)len, pos = off;
    while (pos < end) {
        /* The data in [pos, end): holes are skipped, so that the copy reads
         * no page the parent never wrote.  Read through the parent's write
         * view, an unpopulated page of a shared mapping would be allocated
         * in the parent's file for good (a read fault on shared memory
         * populates it); the copy's file keeps the hole, which reads as
         * zeros, as the original does. */
        off_t data = MUTANT(fork_copy_holes) ? pos : lseek(src, pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break; /* nothing but a hole up to the end of the file */
            data = pos; /* SEEK_DATA unsupported: copy everything */
        }
        if (data >= end)
            break;
        off_t hole = MUTANT(fork_copy_holes) ? end : lseek(src, data, SEEK_HOLE);
        if (hole < 0 || hole > end)
            hole = end;
        /* The mutant copies everything through the view, as the copy in the
         * child once did: every hole read there is populated for good. */
        int err = MUTANT(fork_copy_holes) ? -1
                                          : kernel_copy(dst, src, data, (size_t)(hole - data));
        if (err < 0)
            err = heap_write_all(dst, view + (data - off), (size_t)(hole - data), data);
        if (err)
            return err;
        pos = hole;
    }
    return 0;
}

int heap_snapshot(struct cmodx_heap *h)
{
    h->snap_fd = -1;
    int fd;
    int err = heap_open_backing(h->flags, &fd);
    if (err)
        return h->snap_err = err;
    /* In fork's prepare handler, in the forking thread: past RLIMIT_FSIZE
     * the copy fails with EFBIG, and the SIGXFSZ the kernel sends with it
     * would end the parent.  Blocked, and taken back (src/base/xfsz.c):
     * the parent goes on, the child reports EFBIG and exits (heap.c). */
    struct xfsz_guard xg;
    xfsz_block(&xg);
    if (ftruncate(fd, h->file_size) != 0)
        err = errno;
    for (size_t i = 0; i < h->nchunks && !err; i++) {
        struct chunk *c = h->chunks[i];
        err = heap_copy_range(fd, h->fd, c->w, c->file_off, c->bytes);
    }
    xfsz_restore(&xg, err);
    if (err) {
        fork_backing_forget(fd);
        close(fd);
        return h->snap_err = err;
    }
    h->snap_fd = fd;
    return h->snap_err = 0;
}

void heap_snapshot_drop(struct cmodx_heap *h)
{
    if (h->snap_fd >= 0) {
        fork_backing_forget(h->snap_fd);
        close(h->snap_fd);
    }
    h->snap_fd = -1;
}

/* The copy is new code to instruction fetch: publish it (the kernel may do
 * this on first fault, but not visibly to us).  Only its data: a hole was
 * never written, so no code lies there, and a chunk of gigabytes with a
 * few blocks costs its blocks' maintenance, not a pass over every line. */
static int publish_data(int fd, const struct chunk *c)
{
    off_t end = c->file_off + (off_t)c->bytes, pos = c->file_off;
    while (pos < end) {
        off_t data = lseek(fd, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            return 0;
        off_t hole = data < 0 ? end : lseek(fd, data, SEEK_HOLE);
        if (data < 0)
            data = pos; /* SEEK_DATA unsupported: everything */
        if (data >= end)
            return 0;
        if (hole < 0 || hole > end)
            hole = end;
        uintptr_t x = (uintptr_t)c->x + (uintptr_t)(data - c->file_off);
        int err = arch_make_visible(x, x + (uintptr_t)(hole - data));
        if (err)
            return err;
        pos = hole;
    }
    return 0;
}

int heap_snapshot_adopt(struct cmodx_heap *h)
{
    if (h->snap_fd < 0)
        return h->snap_err ? h->snap_err : EBADF;
    int fd = h->snap_fd, err = 0;
    h->snap_fd = -1;
    for (size_t i = 0; i < h->nchunks && !err; i++) {
        struct chunk *c = h->chunks[i];
        if (mmap(c->w, c->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                 c->file_off) == MAP_FAILED ||
            mmap(c->x, c->bytes, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, fd,
                 c->file_off) == MAP_FAILED)
            err = errno;
        else
            err = publish_data(fd, c);
    }
    fork_backing_forget(h->fd);
    close(h->fd);
    h->fd = fd;
    return err;
}
