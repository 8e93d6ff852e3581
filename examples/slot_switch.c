/*
 * slot_switch.c - publish new versions of a function through a slot while
 * another thread calls it.  The replaced blocks are retired and freed after
 * a grace period.
 *
 *   cc slot_switch.c $(pkg-config --cflags --libs cmodx) -o slot_switch
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <cmodx/cmodx.h>

static cmodx_heap *heap;
static cmodx_domain *domain;
static cmodx_slot slot;
static volatile int done, started;

/* A new block holding "return value", written through its write view. */
static int make_version(uint32_t value, cmodx_xptr *code)
{
    cmodx_block b;
    int err = cmodx_block_alloc(heap, 64, &b);
    if (!err)
        cmodx_emit_return_u32(b.write, b.size, value);
    *code = b.exec;
    return err;
}

static void *caller(void *arg)
{
    cmodx_thread *self;
    uint32_t last = 0;
    (void)arg;
    cmodx_thread_register(domain, &self);
    while (!done) {
        uint32_t v = CMODX_CALL(uint32_t (*)(void), &slot, self);
        if (v < last)
            printf("went backwards: %u after %u\n", v, last);
        last = v;
        started = 1;
        cmodx_quiescent(self); /* holds no pointer into any block here */
    }
    printf("caller: last version seen %u\n", last);
    cmodx_thread_unregister(domain);
    return NULL;
}

int main(void)
{
    struct cmodx_domain_config config = {0};
    cmodx_xptr code;
    pthread_t thread;

    if (cmodx_heap_create(NULL, &heap) || (config.heap = heap, cmodx_domain_create(&config, &domain)) ||
        make_version(0, &code) || cmodx_make_visible(code, cmodx_emit_return_u32_size()) ||
        cmodx_slot_init(domain, &slot, code)) {
        fprintf(stderr, "setup: %s\n", cmodx_last_error());
        return 1;
    }
    printf("strategy: %s\n", cmodx_strategy_name(cmodx_domain_strategy(domain)));
    pthread_create(&thread, NULL, caller, NULL);
    while (!started)
        ; /* let the caller start calling */
    for (uint32_t v = 1; v <= 1000; v++) {
        if (make_version(v, &code) ||
            cmodx_slot_publish(&slot, code, cmodx_emit_return_u32_size(), CMODX_RETIRE_OLD, NULL)) {
            fprintf(stderr, "publish: %s\n", cmodx_last_error());
            return 1;
        }
    }
    usleep(20000); /* let the caller run the newest version */
    done = 1;
    pthread_join(thread, NULL);
    cmodx_slot_fini(&slot);
    cmodx_domain_destroy(domain);
    cmodx_heap_destroy(heap);
    printf("published 1000 versions\n");
    return 0;
}
