/*
 * src/base/cancel.c - no cancellation inside the library's locked sections.
 *
 * A locked section of the library may reach a cancellation point: stdio
 * reading /proc/self/maps (cmodx_block_alloc_near), open, pwrite,
 * ftruncate and close of a backing file, nanosleep.  If the calling
 * thread were cancelled there, it would end with the lock held, and every
 * later caller (the exit destructor, fork's prepare handler) would wait
 * forever.  So every section that takes a library lock and may reach a
 * cancellation point runs between nocancel_enter() and nocancel_leave():
 * cancellation disabled, and a pending or later request acted on at the
 * caller's next cancellation point after the library returns (POSIX:
 * with cancellation disabled, requests are held pending).
 */
#include "base/base.h"

#include <pthread.h>

/* Sections nest (a heap lock inside a writer's parked call): the state is
 * saved at the outermost entry and given back at the outermost exit. */
static __thread unsigned depth;
static __thread int saved;

static __thread unsigned lib_depth_v;

void lib_enter(void)
{
    lib_depth_v++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* counted before the lock, for a handler */
}

void lib_leave(void)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the unlock before the count drops */
    if (lib_depth_v)
        lib_depth_v--;
}

unsigned lib_depth(void)
{
    return lib_depth_v;
}

void nocancel_enter(void)
{
    lib_enter();
    if (depth++)
        return;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &saved);
}

void nocancel_leave(void)
{
    if (!depth)
        return;
    if (!--depth) {
        int ignored;
        pthread_setcancelstate(saved, &ignored);
    }
    lib_leave();
}
