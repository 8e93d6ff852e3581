/*
 * A flag that returns to its values: a 1/0 handshake.  Each round the
 * writer rewrites one fixed function (`mov w0, #round; ret`) through the
 * write alias, cleans, DSB, invalidates, DSB, then stores flag = 1 with a
 * store-release and waits (load-acquire) for flag = 0; the reader waits
 * for flag = 1 with a load-acquire, executes an ISB, calls the function,
 * checks its value and stores flag = 0 with a store-release.
 *
 * Found by the hostile review on 2 December: the reader's store of 0 put
 * the writer's previous entry (bytes 1) in the slot's side half, and a
 * load that read the writer's new 1 while that store was in flight
 * stopped waiting on the old side entry, joined the previous round's
 * clock and was reported no-context-sync in every run.
 *
 * argv[1]: isb (correct), noisb (the reader runs no ISB: reported).
 * argv[2]: rounds (default 2000).
 *
 * RUN: isb => clean
 * RUN: noisb => no-context-sync
 */
#include "common.h"

static int flag;
static int no_isb;
static unsigned rounds = 2000;
static const void *fn;

static void *reader(void *arg)
{
    (void)arg;
    for (unsigned r = 1; r <= rounds; r++) {
        while (__atomic_load_n(&flag, __ATOMIC_ACQUIRE) != 1) {
            /* spin: the writer publishes */
        }
        if (!no_isb) {
            isb();
        }
        if ((unsigned)as_fn(fn)() != (r & 0xffff)) {
            fprintf(stderr, "round %u ran old code\n", r);
            exit(1);
        }
        __atomic_store_n(&flag, 0, __ATOMIC_RELEASE);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "isb") && strcmp(argv[1], "noisb"))) {
        fprintf(stderr, "usage: flag_handshake isb|noisb [rounds]\n");
        return 2;
    }
    no_isb = strcmp(argv[1], "noisb") == 0;
    if (argc > 2) {
        rounds = (unsigned)atoi(argv[2]);
    }
    struct dual d = dual_map(4096);
    fn = d.rx;
    pthread_t t;
    if (pthread_create(&t, NULL, reader, NULL) != 0) {
        return 2;
    }
    for (unsigned r = 1; r <= rounds; r++) {
        const uint32_t code[] = { A64_MOV_W0(r & 0xffff), A64_RET };
        emit(d.rw, code, 2);
        maintain(&d, 0, sizeof(code), S_DC | S_DSB1 | S_IC | S_DSB2);
        __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&flag, __ATOMIC_ACQUIRE) != 0) {
            /* spin: the reader answers */
        }
    }
    return pthread_join(t, NULL) != 0 ? 2 : 0;
}
