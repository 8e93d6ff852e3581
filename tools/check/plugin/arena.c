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
        void *c = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (c == MAP_FAILED) {
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
