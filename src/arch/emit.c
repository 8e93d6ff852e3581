/* src/arch/emit.c - public face of the architecture layer's encoders. */
#include "cmodx/emit.h"

#include "arch/arch.h"
#include "base/base.h"

#include <errno.h>
#include <string.h>

size_t cmodx_emit_return_u32(cmodx_wptr dst, size_t cap, uint32_t value)
{
    if (!dst.ptr || ((uintptr_t)dst.ptr % arch_insn_align()))
        return 0;
    return arch_emit_return_u32(dst.ptr, cap, value);
}

size_t cmodx_emit_return_u32_size(void) { return arch_return_u32_size(); }

void cmodx_emit_trap_fill(cmodx_wptr dst, size_t len)
{
    if (dst.ptr)
        arch_fill_trap(dst.ptr, len);
}

size_t cmodx_insn_align(void) { return arch_insn_align(); }

const char *cmodx_arch_name(void) { return cmodx_arch_id; }

size_t cmodx_cache_line_max(void) { return arch_cache_line_max(); }

int cmodx_make_visible(cmodx_xptr start, size_t len)
{
    /* src/base/fork.c: in an unusable child nothing of the library's
     * code may be written or maintained (the code is the parent's). */
    if (fork_unusable_quiet())
        return fork_unusable("cmodx_make_visible");
    uintptr_t b = (uintptr_t)start.ptr;
    if (!start.ptr || len == 0 || b + len < b)
        return cmodx_fail(EINVAL, "cmodx_make_visible: empty or wrapping range %p+%zu",
                          start.ptr, len);
    int err = arch_make_visible(b, b + len);
    if (err)
        return cmodx_fail(err, "cmodx_make_visible: cache maintenance system call failed: %s",
                          strerror(err));
    return 0;
}
