/* tests/patch_funcs.h - see patch_funcs.c and patch_targets.c. */
#ifndef CMODX_TEST_PATCH_FUNCS_H
#define CMODX_TEST_PATCH_FUNCS_H

#define PF_COUNT 100
extern int (*const pf_table[PF_COUNT])(int);
int pf_0(int x);
int version_one(int x);
int version_two(int x);

#endif
