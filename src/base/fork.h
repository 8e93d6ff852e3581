/*
 * src/base/fork.h - the library's one set of fork handlers.
 *
 * fork() copies only the calling thread, with every lock in whatever state
 * other threads left it.  The library's locks form one hierarchy: a
 * writer takes its domain's locks before heap locks.  So the prepare
 * handler must take them in that order, and the child must repair the
 * process-wide objects in the reverse one.  pthread_atfork() cannot
 * promise that across handlers registered separately (it orders them by
 * registration time), so the library registers one set, in fork.c, which
 * runs each layer's steps in the order written there.
 *
 * The layers that own process-wide objects (the heap, the domain) register
 * their steps here; this file knows their order, nothing of their content.
 * A layer registers when it creates its first object: the code to run at
 * fork is linked into a program exactly when the program can create such
 * an object (a heap-only program linked statically has no domain code).
 */
#ifndef CMODX_SRC_BASE_FORK_H
#define CMODX_SRC_BASE_FORK_H

/* Outermost lock level first. */
enum fork_stage {
    FORK_STAGE_DOMAINS, /* src/domain/domain.c: every domain's locks and thread records */
    FORK_STAGE_PATCH,   /* src/patch/patch.c: the lock of the process's patch sites */
    FORK_STAGE_SLOTS,   /* src/slot/slot.c: the lock of the process's initialised slots */
    FORK_STAGE_HEAPS,   /* src/heap/heap.c: every heap's lock and backing file */
    FORK_STAGE_TEXT,    /* src/heap/text.c: the remapped program text and its backing file */
    FORK_STAGES
};

struct fork_steps {
    void (*prepare)(void); /* take every lock of the stage */
    void (*parent)(void);  /* release them */
    void (*child)(void);   /* only thread of the child: unlock, renew */
    /* Optional (NULL: none), used for the outermost stage only: run by the
     * forking thread before it takes any lock of the library (fork_lock
     * included), and after it released the last one, in parent and child.
     * The domains park the thread there: a thread must never block on a
     * library lock while online (src/thread/thread.c, the lock rule). */
    void (*enter)(void);
    void (*leave)(void);
};

/*
 * fork_register - run STEPS at fork for STAGE
 *
 *   Installs the library's pthread_atfork() handlers on the first call.
 *   Registering the same stage again replaces its steps (every caller
 *   passes the same static table).  Thread-safe; never waits for other
 *   threads beyond pthread_once().
 */
void fork_register(enum fork_stage stage, const struct fork_steps *steps);

#endif
