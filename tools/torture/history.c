/*
 * tools/torture/history.c - what happened to each block address.
 *
 * An open-addressing table keyed by a block's execute address, each entry
 * with a ring of its last events (allocated for slot S version V,
 * published, freed).  Writers and the free hook add events; the trap
 * handler and the invalid-observation report read them.  Entries are
 * never removed, so a reader needs no lock: it may see an event half
 * written, which costs a garbled line in a report, never a crash.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "torture.h"

#define RING 8

struct event {
    uint32_t type;
    uint32_t slot;
    uint64_t version;
    uint64_t seq; /* global order of events; 0 = empty */
};

struct entry {
    uintptr_t start; /* 0 = free entry */
    size_t size;     /* of the latest allocation here */
    uint32_t nev;
    struct event ev[RING];
};

static struct entry *table;
static size_t table_cap; /* a power of two */
static uint64_t event_seq;
static int table_full_warned;

int history_init(size_t capacity)
{
    table_cap = 1024;
    while (table_cap < capacity * 2 && table_cap < ((size_t)1 << 22))
        table_cap <<= 1;
    table = calloc(table_cap, sizeof *table);
    return table ? 0 : -1;
}

static size_t hash(uintptr_t a)
{
    uint64_t x = (uint64_t)a * 0x9e3779b97f4a7c15ull;
    return (size_t)(x >> 20) & (table_cap - 1);
}

/* The entry for START, created if needed; *EXISTED says if it was there.
 * Returns NULL when the table is full (history then stops growing). */
static struct entry *lookup(uintptr_t start, int create, int *existed)
{
    for (size_t i = hash(start), n = 0; n < table_cap; i = (i + 1) & (table_cap - 1), n++) {
        uintptr_t cur = __atomic_load_n(&table[i].start, __ATOMIC_ACQUIRE);
        if (cur == start) {
            *existed = 1;
            return &table[i];
        }
        if (cur == 0) {
            if (!create)
                return NULL;
            uintptr_t expected = 0;
            if (__atomic_compare_exchange_n(&table[i].start, &expected, start, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                *existed = 0;
                return &table[i];
            }
            if (expected == start) {
                *existed = 1;
                return &table[i];
            }
        }
    }
    if (!__atomic_exchange_n(&table_full_warned, 1, __ATOMIC_RELAXED))
        fprintf(stderr, "cmodx-torture: block history table full; history incomplete\n");
    return NULL;
}

static void add_event(struct entry *e, enum hist_event type, int slot, uint64_t version)
{
    uint32_t k = __atomic_fetch_add(&e->nev, 1, __ATOMIC_RELAXED) % RING;
    struct event *ev = &e->ev[k];
    __atomic_store_n(&ev->seq, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&ev->type, (uint32_t)type, __ATOMIC_RELAXED);
    __atomic_store_n(&ev->slot, (uint32_t)slot, __ATOMIC_RELAXED);
    __atomic_store_n(&ev->version, version, __ATOMIC_RELAXED);
    __atomic_store_n(&ev->seq, __atomic_add_fetch(&event_seq, 1, __ATOMIC_RELAXED),
                     __ATOMIC_RELEASE);
}

/* A racy but tear-free copy of an event (fields may mix two events). */
static struct event read_event(const struct event *ev)
{
    struct event out;
    out.seq = __atomic_load_n(&ev->seq, __ATOMIC_ACQUIRE);
    out.type = __atomic_load_n(&ev->type, __ATOMIC_RELAXED);
    out.slot = __atomic_load_n(&ev->slot, __ATOMIC_RELAXED);
    out.version = __atomic_load_n(&ev->version, __ATOMIC_RELAXED);
    return out;
}

int history_note(uintptr_t start, size_t size, enum hist_event ev, int slot, uint64_t version)
{
    int existed = 0;
    struct entry *e = lookup(start, 1, &existed);
    if (!e)
        return 0;
    int reused = 0;
    if (ev == EV_ALLOC) {
        /* Any earlier event here means this address was handed out before. */
        reused = existed && __atomic_load_n(&e->nev, __ATOMIC_RELAXED) > 0;
        __atomic_store_n(&e->size, size, __ATOMIC_RELAXED);
    }
    add_event(e, ev, slot, version);
    return reused;
}

/* The free hook knows only the address: repeat the block's identity from
 * its latest allocation event. */
void history_note_free(uintptr_t start)
{
    int existed = 0;
    struct entry *e = lookup(start, 0, &existed);
    if (!e)
        return;
    struct event latest = {0};
    for (int k = 0; k < RING; k++) {
        struct event ev = read_event(&e->ev[k]);
        if (ev.type == EV_ALLOC && ev.seq > latest.seq)
            latest = ev;
    }
    add_event(e, EV_FREE, latest.seq ? (int)latest.slot : -1, latest.version);
}

static void say(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w, n -= (size_t)w;
    }
}

static const char *event_name(uint32_t t)
{
    switch (t) {
    case EV_ALLOC: return "allocated for";
    case EV_PUBLISH: return "published as";
    case EV_FREE: return "freed (trap-filled), was";
    case EV_UNPUBLISHED_FREE: return "freed unpublished, was";
    default: return "?";
    }
}

/* One entry's events, oldest first. */
static void print_entry(const struct entry *e, uintptr_t start, size_t size)
{
    char line[160];
    struct event ev[RING];
    for (int k = 0; k < RING; k++)
        ev[k] = read_event(&e->ev[k]);
    snprintf(line, sizeof line, "  block %#lx, %zu bytes; its last events (oldest first):\n",
             (unsigned long)start, size);
    say(line);
    uint64_t printed = 0;
    for (int round = 0; round < RING; round++) {
        const struct event *next = NULL;
        for (int k = 0; k < RING; k++)
            if (ev[k].seq > printed && (!next || ev[k].seq < next->seq))
                next = &ev[k];
        if (!next)
            break;
        snprintf(line, sizeof line, "    #%llu %s slot %d version %llu\n",
                 (unsigned long long)next->seq, event_name(next->type), (int)next->slot,
                 (unsigned long long)next->version);
        say(line);
        printed = next->seq;
    }
}

void history_print(uintptr_t addr)
{
    int found = 0;
    for (size_t i = 0; table && i < table_cap && found < 4; i++) {
        const struct entry *e = &table[i];
        uintptr_t start = __atomic_load_n(&e->start, __ATOMIC_ACQUIRE);
        size_t size = __atomic_load_n(&e->size, __ATOMIC_RELAXED);
        if (start && start <= addr && addr < start + size) {
            print_entry(e, start, size);
            found++;
        }
    }
    if (!found)
        say("  (no torture block covers this address)\n");
}
