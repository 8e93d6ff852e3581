/*
 * src/base/fork.c - the order of the library's fork steps.
 *
 * The whole sequence, for every heap and every domain of the process, in
 * the order of enum fork_stage (src/base/fork.h), outermost lock first:
 *
 *   prepare (parent, before fork):
 *     0. before any lock, fork_lock included: the domains' enter step, the
 *        forking thread parks (offline in every domain: a writer holding a
 *        lock below may be waiting for it; see prepare()); then fork_lock
 *        and the stages in that order:
 *     1. domains: the list lock, then each domain's writer lock and thread list lock
 *        (writers hold the writer lock while they take every lock below);
 *     2. patch: the lock of the process's patch sites (src/patch/patch.c),
 *        which a patcher takes under its domain's writer lock and holds
 *        while it looks into heaps and the moved text;
 *     2b. slots: the lock of the process's initialised slots
 *        (src/slot/slot.c), a leaf taken under writer locks and the patch
 *        lock, and by cmodx_block_free's check; never held with a heap
 *        lock;
 *     3. heaps: the list lock, then each heap's lock, then each heap's
 *        snapshot: a copy of its backing file's data, taken while nothing
 *        can change it, which the child will map (the memfd is shared
 *        memory: otherwise parent and child would write, trap-fill and
 *        reuse the same code; copied after fork returned, the child would
 *        get the parent's later bytes);
 *     4. text: the lock of the program text moved into a backing file for
 *        patching (src/heap/text.c), and its snapshot, likewise.
 *   parent (after fork), stages in reverse (text, heaps, patch, domains):
 *   the snapshots closed, the same locks released; the thread unparks.
 *   child (after fork, one thread), stages in reverse too; the child's
 *   thread is the one that took every lock, and unlocks them:
 *     4. text: lock released; the snapshot mapped over both views of
 *        the moved text, at the same addresses (or the child exits: sharing
 *        the parent's text would let each patch the other);
 *     3. heaps: locks released; each heap maps its snapshot over
 *        both views, at the same addresses;
 *     2. patch: lock released;
 *     1. domains: locks released; the records of threads that do not
 *        exist in the child dropped; what the kernel registers per process
 *        (membarrier) registered again; after fork_lock, the thread
 *        unparks (the domains' leave step).
 *   Cancellation is disabled from before the first lock to after the last
 *   unlock, in parent and child (see prepare()).
 *
 * What each step does lives with the objects (src/domain/domain.c,
 * src/patch/patch.c, src/heap/heap.c, src/heap/text.c); the order lives
 * here.
 */
#include "base/fork.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/base.h"

static const struct fork_steps *steps[FORK_STAGES];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Outermost lock: one fork at a time passes through the handlers, and the
 * stages seen by prepare are the ones parent or child undo, even if a
 * stage registers meanwhile. */
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct fork_steps *seen[FORK_STAGES]; /* under fork_lock */

/* Per forking thread, kept from prepare to parent or child: two threads
 * may be between prepare() and their wait for fork_lock at once, so
 * neither may keep its state where the other overwrites it.  ENTERED is
 * the stage whose enter step ran (and whose leave step must run). */
static __thread int cancel_state;
static __thread const struct fork_steps *entered;

/*
 * fork() from a signal handler that interrupted a library call.  The
 * interrupted call may hold any of the locks below (a writer lock while it
 * waits for a grace period, a heap lock), and this thread would wait for
 * itself in prepare().  So a thread already inside the library
 * (lib_depth() > 0: every section that may hold a lock counts itself,
 * src/base/cancel.c) takes no lock and copies nothing: SKIPPED, kept from
 * prepare to parent or child.  The parent is unaffected (it took nothing,
 * releases nothing; the interrupted call goes on when the handler
 * returns).  The child cannot be repaired: its heaps are the parent's
 * shared memory (no snapshot), its locks may be held by a frame that will
 * never return (the usual child _exits or execs from the handler), its
 * records name threads that do not exist.  So its library is marked
 * unusable: every public call that could take a lock or touch shared code
 * returns ENOTRECOVERABLE (void ones do nothing), and nothing waits.
 *
 * A JIT also writes through the raw write-view pointers it holds
 * (cmodx_block.write), and those are still the parent's live code.  So
 * the child step, before anything else runs in the child, makes every
 * writable shared mapping of the library's backing files PROT_NONE: a
 * write from the child then dies of SIGSEGV instead of changing the code
 * the parent's threads run.  It takes no lock (the heap list may be held
 * by the frame the signal interrupted): the mappings are found in
 * /proc/self/maps, by their memfd names ("cmodx-code", "cmodx-text") or,
 * for temporary files (CMODX_HEAP_ALLOW_TMPFILE), by the device and
 * inode noted in a lock-free table when the file was opened
 * (fork_backing_note).  Only open, read, close and mprotect are used:
 * async-signal-safe, as a child forked from a handler requires.  The
 * execute views stay: the child may still run the parent's code (which
 * the parent may change meanwhile; see docs/HEAP.md).  If /proc/self/maps
 * cannot be read the child cannot be made safe and _exits with 127, as
 * the normal fork path does when its snapshot fails.
 */
static __thread int skipped;
static int unusable; /* this process is such a child (written in its only thread) */

/* Backing files that are not memfds (temporary files), by device and
 * inode; a slot is claimed by an atomic increment and published by its
 * FULL flag, cleared when the file is closed.  Read without a lock in the
 * unusable child.  Slots are reused only after a clear; past the table's
 * size a further file is not noted, and the child step then refuses to
 * leave the child running (_exit 127, see protect_write_views). */
#define BACKINGS 256
static struct backing {
    int full;
    unsigned long long dev, ino;
} backings[BACKINGS];
static int backings_overflow;

void fork_backing_note(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return;
    for (int i = 0; i < BACKINGS; i++) {
        int expect = 0;
        if (__atomic_compare_exchange_n(&backings[i].full, &expect, -1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            backings[i].dev = (unsigned long long)st.st_dev;
            backings[i].ino = (unsigned long long)st.st_ino;
            __atomic_store_n(&backings[i].full, 1, __ATOMIC_RELEASE);
            return;
        }
    }
    __atomic_store_n(&backings_overflow, 1, __ATOMIC_RELAXED);
}

void fork_backing_forget(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return;
    for (int i = 0; i < BACKINGS; i++)
        if (__atomic_load_n(&backings[i].full, __ATOMIC_ACQUIRE) == 1 &&
            backings[i].dev == (unsigned long long)st.st_dev &&
            backings[i].ino == (unsigned long long)st.st_ino) {
            __atomic_store_n(&backings[i].full, 0, __ATOMIC_RELEASE);
            return;
        }
}

static int noted_backing(unsigned long long maj, unsigned long long min, unsigned long long ino)
{
    for (int i = 0; i < BACKINGS; i++)
        if (__atomic_load_n(&backings[i].full, __ATOMIC_ACQUIRE) == 1 &&
            major(backings[i].dev) == maj && minor(backings[i].dev) == min &&
            backings[i].ino == ino)
            return 1;
    return 0;
}

static unsigned long long hex_field(const char **p, char stop)
{
    unsigned long long v = 0;
    for (; **p && **p != stop; (*p)++) {
        char c = **p;
        v = v * 16 + (unsigned)(c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0');
    }
    if (**p)
        (*p)++;
    return v;
}

/* One line of /proc/self/maps: "start-end perms offset maj:min inode path".
 * A writable shared mapping of one of the library's backing files becomes
 * PROT_NONE.  0, or -1 if mprotect refused. */
static int protect_line(const char *l)
{
    const char *p = l;
    unsigned long long start = hex_field(&p, '-'), end = hex_field(&p, ' ');
    const char *perms = p;
    if (strlen(perms) < 4 || perms[1] != 'w' || perms[3] != 's')
        return 0;
    p += 5;
    hex_field(&p, ' '); /* offset */
    unsigned long long maj = hex_field(&p, ':'), min = hex_field(&p, ' ');
    unsigned long long ino = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        ino = ino * 10 + (unsigned)(*p - '0');
    while (*p == ' ')
        p++;
    int ours = !strncmp(p, "/memfd:cmodx-code", 17) || !strncmp(p, "/memfd:cmodx-text", 17) ||
               noted_backing(maj, min, ino);
    if (!ours || end <= start)
        return 0;
    return mprotect((void *)(uintptr_t)start, (size_t)(end - start), PROT_NONE) == 0 ? 0 : -1;
}

static void die_unsafe(const char *why)
{
    static const char m[] = "cmodx: a child forked by a signal handler inside a cmodx call "
                            "could not protect the parent's code (";
    if (write(2, m, sizeof m - 1) < 0 || write(2, why, strlen(why)) < 0 ||
        write(2, "): exiting\n", 11) < 0) {
    }
    _exit(127);
}

/* The unusable child's write views made PROT_NONE (see above). */
static void protect_write_views(void)
{
    if (__atomic_load_n(&backings_overflow, __ATOMIC_RELAXED))
        die_unsafe("too many temporary backing files to track");
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die_unsafe("/proc/self/maps cannot be opened");
    static char buf[8192];
    size_t have = 0;
    int failed = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            failed = 1;
            break;
        }
        have += (size_t)n;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = 0;
            if (protect_line(line) != 0)
                failed = 1;
            line = nl + 1;
        }
        size_t rest = have - (size_t)(line - buf);
        if (n == 0) {
            if (rest && protect_line(line) != 0)
                failed = 1;
            break;
        }
        if (rest == sizeof buf - 1) { /* a line longer than the buffer: a path, skip it */
            rest = 0;
        }
        memmove(buf, line, rest);
        have = rest;
    }
    close(fd);
    if (failed)
        die_unsafe("reading /proc/self/maps or mprotect failed");
}

int fork_unusable_quiet(void)
{
    return __atomic_load_n(&unusable, __ATOMIC_RELAXED);
}

int fork_unusable(const char *who)
{
    if (!fork_unusable_quiet())
        return 0;
    return cmodx_fail(ENOTRECOVERABLE, "%s: this process was forked by a signal handler that "
                      "interrupted a cmodx call: the library is unusable here (exec, or _exit)",
                      who);
}

/* The steps hold every lock of the library while they copy the heaps
 * (pwrite, copy_file_range and open are cancellation points): with
 * cancellation enabled, a pending cancel would end the thread there with
 * the locks held.  Disabled from before the first lock to after the last
 * unlock, in the parent and in the child; a pending cancel then acts at
 * the caller's next cancellation point.
 *
 * Before any lock, fork_lock included, the outermost stage's enter step
 * runs (the domains': the thread parks, offline everywhere).  Another
 * thread's writer may hold a domain's writer lock while it waits for
 * this thread to pass a quiescent state, and a second forker holds
 * fork_lock while it waits for that writer lock: a thread that blocked
 * on fork_lock while online would wait for the writer that waits for it.
 * The stage is read before the lock: a thread can be online only in a
 * domain whose creation registered the stage before the thread joined
 * it, so a thread that reads NULL here is online nowhere. */
static void prepare(void)
{
    if (lib_depth() > 0 && !MUTANT(fork_in_library_locks)) {
        skipped = 1;
        return;
    }
    lib_enter(); /* a handler that forks inside this fork skips, as above */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    entered = __atomic_load_n(&steps[FORK_STAGE_DOMAINS], __ATOMIC_ACQUIRE);
    if (entered && entered->enter)
        entered->enter();
    pthread_mutex_lock(&fork_lock);
    for (int s = 0; s < FORK_STAGES; s++)
        seen[s] = __atomic_load_n(&steps[s], __ATOMIC_ACQUIRE);
    if (seen[FORK_STAGE_DOMAINS])
        seen[FORK_STAGE_DOMAINS]->prepare();
    if (seen[FORK_STAGE_PATCH])
        seen[FORK_STAGE_PATCH]->prepare();
    if (seen[FORK_STAGE_SLOTS])
        seen[FORK_STAGE_SLOTS]->prepare();
    if (seen[FORK_STAGE_HEAPS])
        seen[FORK_STAGE_HEAPS]->prepare();
    if (seen[FORK_STAGE_TEXT])
        seen[FORK_STAGE_TEXT]->prepare();
}

/* After the last unlock: the enter step undone, cancellation given back. */
static void leave(void)
{
    if (entered && entered->leave)
        entered->leave();
    entered = NULL;
    int ignored;
    pthread_setcancelstate(cancel_state, &ignored);
    lib_leave();
}

static void parent(void)
{
    if (skipped) {
        skipped = 0;
        return;
    }
    if (seen[FORK_STAGE_TEXT])
        seen[FORK_STAGE_TEXT]->parent();
    if (seen[FORK_STAGE_HEAPS])
        seen[FORK_STAGE_HEAPS]->parent();
    if (seen[FORK_STAGE_SLOTS])
        seen[FORK_STAGE_SLOTS]->parent();
    if (seen[FORK_STAGE_PATCH])
        seen[FORK_STAGE_PATCH]->parent();
    if (seen[FORK_STAGE_DOMAINS])
        seen[FORK_STAGE_DOMAINS]->parent();
    pthread_mutex_unlock(&fork_lock);
    leave();
}

/* The child's only thread is the one that took every lock in prepare():
 * it unlocks them (re-initialising a locked mutex is undefined). */
static void child(void)
{
    if (skipped) {
        skipped = 0;
        __atomic_store_n(&unusable, 1, __ATOMIC_RELAXED);
        protect_write_views();
        return;
    }
    if (seen[FORK_STAGE_TEXT])
        seen[FORK_STAGE_TEXT]->child();
    if (seen[FORK_STAGE_HEAPS])
        seen[FORK_STAGE_HEAPS]->child();
    if (seen[FORK_STAGE_SLOTS])
        seen[FORK_STAGE_SLOTS]->child();
    if (seen[FORK_STAGE_PATCH])
        seen[FORK_STAGE_PATCH]->child();
    if (seen[FORK_STAGE_DOMAINS])
        seen[FORK_STAGE_DOMAINS]->child();
    pthread_mutex_unlock(&fork_lock);
    leave();
}

static void install(void)
{
    pthread_atfork(prepare, parent, child);
}

void fork_register(enum fork_stage s, const struct fork_steps *st)
{
    pthread_once(&once, install);
    __atomic_store_n(&steps[s], st, __ATOMIC_RELEASE);
}
