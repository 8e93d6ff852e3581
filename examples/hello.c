/*
 * hello.c - the smallest cmodx program: allocate a code block, write a
 * function into its write view, make it visible to instruction fetch, call
 * it through its execute view, free it.
 *
 *   cc hello.c $(pkg-config --cflags --libs cmodx) -o hello
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmodx/cmodx.h>

int main(void)
{
    cmodx_heap *heap;
    cmodx_block block;
    int err = cmodx_heap_create(NULL, &heap);
    if (err) {
        fprintf(stderr, "heap: %s\n", cmodx_last_error());
        return 1;
    }
    err = cmodx_block_alloc(heap, 64, &block);
    if (err) {
        fprintf(stderr, "alloc: %s\n", cmodx_last_error());
        return 1;
    }
    /* Store the instructions through the write view... */
    size_t n = cmodx_emit_return_u32(block.write, block.size, 42);
    /* ...then make them visible to instruction fetch at the execute view. */
    err = cmodx_make_visible(block.exec, n);
    if (err) {
        fprintf(stderr, "make_visible: %s\n", cmodx_last_error());
        return 1;
    }
    uint32_t (*fn)(void);
    const void *entry = block.exec.ptr;
    memcpy(&fn, &entry, sizeof fn); /* object pointer -> function pointer */
    printf("%s: generated code returned %u\n", cmodx_arch_name(), fn());
    cmodx_block_free(heap, block.exec);
    cmodx_heap_destroy(heap);
    return 0;
}
