/*
 * cmodx-check — stores that raise no memory callback (stores.c).
 */
#ifndef CMODX_STORES_H
#define CMODX_STORES_H

#include <qemu-plugin.h>
#include <stddef.h>
#include <stdint.h>

/* The DC ZVA block size in bytes (4 << DCZID_EL0.BS of the CPU model). */
extern unsigned stores_dczva_bytes;

/*
 * If the instruction (bytes i, size bytes long, at va) is a store that
 * qemu performs without memory callbacks, registers a callback that hands
 * its bytes to the model, and returns a handle for stores_set_block (else
 * NULL).  Called at translation, model_lock held.
 */
void *stores_instrument(struct qemu_plugin_insn *insn, uint64_t va, uint32_t i, size_t size);

/* The translation block the instruction of handle h belongs to, when that
 * block has checked instructions (plugin.c's struct xtb; NULL: none),
 * passed on to stores_written. */
void stores_set_block(void *h, const void *block);

/*
 * Set by the plugin: called after such a store was handed to the model,
 * without model_lock, with the range it wrote on tracked pages' behalf and
 * the block of the storing instruction, so that instructions of running
 * blocks it reached are checked as for any other store (plugin.c).
 */
extern void (*stores_written)(unsigned idx, uint64_t pc, uint64_t va, uint64_t len,
                              const void *block);

#endif
