/*
 * Found by a review of the cross-process checker (fixed with it):
 * the child moves (mremap) the MAP_SHARED|MAP_ANONYMOUS page it
 * shares with its parent, then:
 *   move-nomaint: writes code through the new address, no maintenance;
 *                 parent runs it at the old address. Expect not-cleaned.
 *   move-maint:   writes code through the OLD address first, moves the
 *                 mapping, then does DC;DSB;IC;DSB through the new address.
 *                 Parent runs it at the old address. Expect clean.
 *   alias-maint:  mremap(old_size 0) duplicate; writes through mem, full
 *                 maintenance through the alias. Expect clean.
 *
 * RUN: move-nomaint => not-cleaned
 * RUN: move-maint => clean
 * RUN: alias-maint => clean
 */
#include "common.h"
#include "../xproc.h"

static const char *mode;
static uint32_t *mem;

static void child(void *arg)
{
    (void)arg;
    const uint32_t code[] = { A64_MOV_W0(7), A64_RET };
    if (strcmp(mode, "alias-maint") == 0) {
        uint32_t *al = mremap(mem, 0, 4096, MREMAP_MAYMOVE);
        if (al == MAP_FAILED) { perror("mremap"); _exit(4); }
        emit(mem + 16, code, 2);
        struct dual d = { al, al, 4096 };
        maintain(&d, 64, sizeof(code), S_DC | S_DSB1 | S_IC | S_DSB2);
        return;
    }
    void *dst = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (strcmp(mode, "move-maint") == 0) {
        emit(mem + 16, code, 2);
    }
    uint32_t *nw = mremap(mem, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    if (nw == MAP_FAILED) { perror("mremap"); _exit(4); }
    if (strcmp(mode, "move-nomaint") == 0) {
        emit(nw + 16, code, 2);
    } else {
        struct dual d = { nw, nw, 4096 };
        maintain(&d, 64, sizeof(code), S_DC | S_DSB1 | S_IC | S_DSB2);
    }
}

int main(int argc, char **argv)
{
    mode = argc > 1 ? argv[1] : "move-nomaint";
    mem = xp_shared_page();
    pid_t p = mem ? xp_child_writes(child, NULL) : -1;
    if (p < 0) {
        return 2;
    }
    return xp_status(p, as_fn(mem + 16)(), 7);
}
