/* Compiled by tests/suites/install.sh against the installed headers in
 * strict ISO C (-std=c11 and -std=c17, -Wpedantic -Werror, gcc and clang):
 * every public header, and CMODX_CALL with no arguments (the README's
 * example) as well as with some. */
#include <cmodx/cmodx.h>
#include <stdint.h>

uint32_t call0(cmodx_slot *slot, cmodx_thread *self);
uint32_t call1(cmodx_slot *slot, cmodx_thread *self);
uint32_t call3(cmodx_slot *slot, cmodx_thread *self);

uint32_t call0(cmodx_slot *slot, cmodx_thread *self)
{
    return CMODX_CALL(uint32_t (*)(void), slot, self);
}

uint32_t call1(cmodx_slot *slot, cmodx_thread *self)
{
    return CMODX_CALL(uint32_t (*)(int), slot, self, 42);
}

uint32_t call3(cmodx_slot *slot, cmodx_thread *self)
{
    return CMODX_CALL(uint32_t (*)(int, const char *, double), slot, self, 1, "two", 3.0);
}
