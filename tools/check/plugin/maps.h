/* cmodx-check — guest mappings and backing pages (see maps.c). */
#ifndef CMODX_MAPS_H
#define CMODX_MAPS_H

#include "cmodx_check.h"

/* Linux values, identical on aarch64, arm and riscv64. */
#define CM_PROT_WRITE 2
#define CM_PROT_EXEC 4
#define CM_MAP_SHARED 1
#define CM_MAP_TYPE 0xf
#define CM_MAP_ANONYMOUS 0x20
#define CM_MAP_STACK 0x20000

enum map_kind { MK_ANON, MK_SHARED, MK_PFILE, MK_UNKNOWN };

struct map {
    uint64_t start, end;
    int prot;
    uint8_t kind;          /* enum map_kind */
    bool stack;            /* MAP_STACK: a thread stack, never code */
    bool shm;              /* a System V shared memory attachment */
    uint64_t dev, ino, off;
    uint64_t anon;         /* identity of private/anonymous backing */
};

bool page_tracked(uint64_t va);
void set_tracked(uint64_t start, uint64_t end, bool on);
struct map *map_find(uint64_t va);
struct map *maps_add(uint64_t start, uint64_t len, int prot, int flags, int fd, uint64_t off);
/* shmat(2) of segment shmid at start: shared memory keyed by the
 * segment, the same in every process that attaches it. */
struct map *maps_add_shm(uint64_t start, uint64_t len, int prot, int shmid);
void maps_unmap(uint64_t start, uint64_t len);
void maps_protect(uint64_t start, uint64_t len, int prot, void (*made_exec)(uint64_t va));
void maps_move(uint64_t old, uint64_t oldlen, uint64_t new, uint64_t newlen);
void page_key(uint64_t va, uint64_t key[3]);
/* True when the memory behind va is also mapped executable at another
 * address (shared file, memfd or shared anonymous memory). */
bool maps_exec_alias(uint64_t va);

#endif
