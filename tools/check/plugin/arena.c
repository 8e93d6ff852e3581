/*
 * arena.c — zeroed memory for the model's state that lives as long as
 * the process: a written page's word states (72 KiB) and its copy of the
 * bytes, and the ordering snapshots stores carry (model.c).
 *
 * Why not calloc: every page fault costs the checker, in a virtual machine
 * tens of microseconds (16 us each on the 2-core build machine), and a
 * written page's state spans 19 pages of memory.  calloc zeroed it all at
 * once, faulting every page in; then a program writing code into a few
 * hundred pages spent most of its time under the checker in page faults
 * (test_heap: 5 100 faults against 1 400 with a plugin that does nothing,
 * 0.30 s against 0.16 s).  Here the state is carved from chunks of 64 MiB
 * reserved without backing and advised for transparent huge pages, so that
 * where the kernel allows them (transparent_hugepage "always" or
 * "madvise") one fault maps 2 MiB, the state of 28 pages; elsewhere the
 * anonymous pages are zero already and only those touched are faulted in.
 */
#include "arena.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

#define CHUNK (64u << 20)
#define HUGE (2u << 20)

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t next, end;

/*
 * A fork's child has one thread, the one that forked (qemu-user's guest
 * fork is a host fork): another thread may have held the lock, between
 * any two of its stores, when it was copied.  The child makes the lock
 * anew and starts a new chunk at its next allocation, whatever state the
 * copied cursor was left in; what the parent's threads were carving is
 * not used in the child.
 */
static void arena_after_fork_child(void)
{
    pthread_mutex_init(&arena_lock, NULL);
    next = 0;
    end = 0;
}

__attribute__((constructor)) static void arena_init(void)
{
    pthread_atfork(NULL, NULL, arena_after_fork_child);
}

/*
 * Where the plugin's large mappings go.  Under qemu-user a 64-bit guest's
 * memory is host memory at the same addresses (guest_base 0), and qemu
 * asks the host kernel for the guest's mappings where the kernel puts
 * any, top down from below the stack: mappings of the plugin's made with
 * no hint landed among the guest's, where the guest cannot see them (its
 * /proc/self/maps is qemu's list of its own).  A guest that maps near
 * its code (a JIT's trampolines within branch reach; cmodx's
 * cmodx_block_alloc_near) found every gap of its map in reach taken:
 * test_patch_errors signal, under the checker with three copies running,
 * failed with ENOMEM in 7 of 36 runs.  So they are asked for from 16 TiB
 * up, far below where the kernel's top-down search starts (128 TiB) and
 * far above a 64-bit guest's program and brk and a 32-bit guest's
 * reserved 4 GiB; the hint is only a hint: a taken range makes the kernel
 * choose, as before.  (qemu's own and glibc's mappings stay where the
 * kernel puts them, as without the plugin.)
 */
static uintptr_t far_next = (uintptr_t)1 << 44;

void *far_map(size_t len)
{
    size_t step = (len + HUGE - 1) & ~(size_t)(HUGE - 1);
    uintptr_t at = __atomic_fetch_add(&far_next, step, __ATOMIC_RELAXED);
    void *p = mmap((void *)at, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *arena_zalloc(size_t size, size_t align)
{
    if (size > CHUNK - HUGE) {
        return NULL;
    }
    pthread_mutex_lock(&arena_lock);
    uintptr_t p = (next + align - 1) & ~(uintptr_t)(align - 1);
    if (!next || p + size > end) {
        /* A new chunk, its start rounded up to a huge page: the chunk
         * before keeps its unused tail (reserved, never backed). */
        void *c = far_map(CHUNK);
        if (!c) {
            pthread_mutex_unlock(&arena_lock);
            return NULL;
        }
        uintptr_t s = ((uintptr_t)c + HUGE - 1) & ~(uintptr_t)(HUGE - 1);
        end = (uintptr_t)c + CHUNK;
        (void)madvise((void *)s, (end - s) & ~(uintptr_t)(HUGE - 1), MADV_HUGEPAGE);
        p = s;
    }
    next = p + size;
    pthread_mutex_unlock(&arena_lock);
    return (void *)p;
}
