/*
 * cmodx-check — keeping callbacks that run outside a block off qemu's
 * scoreboards while qemu may be growing them (gate.c).
 *
 * qemu keeps a scoreboard's entries in one array, one entry per vCPU
 * index, allocated for 16 indexes at first.  When a new vCPU's index
 * passes the size (qemu_plugin_vcpu_init__async, before the plugin's
 * vcpu_init callback), qemu reallocates every scoreboard inside an
 * exclusive section, which waits for the vCPUs executing guest code and
 * for no other: a thread inside a system call callback, or in another
 * vCPU's init or exit callback, is not counted as running.  Such a
 * callback that writes a scoreboard (voiding a page's verdicts,
 * verdicts.c) then writes freed memory.
 *
 * So those callbacks hold the gate (gate_enter .. gate_leave), and a
 * thread that creates a vCPU announces it: gate_spawn before the clone,
 * gate_spawned when the new vCPU's init callback runs (qemu grew the
 * scoreboards before it) or when the clone failed.  While a creation
 * announced may make qemu grow them, the gate is closed: new holders
 * wait, and the creator waits for the current ones.  Callbacks made while
 * the vCPU executes a block (memory, instruction and block callbacks,
 * translation) need no gate: the exclusive section waits for them.
 */
#ifndef CMODX_GATE_H
#define CMODX_GATE_H

#include <stdbool.h>

/* Enter and leave a callback that runs outside a block (system call,
 * vCPU init) and may touch a scoreboard.  Waits while a vCPU is being
 * created.  No plugin lock may be held on entry: the creation's
 * exclusive section may wait for a vCPU that waits for that lock.  Nor
 * may qemu hold one the creation needs: the vCPU exit callback, which
 * qemu calls holding the lock that clone takes, touches no scoreboard
 * and does not enter. */
void gate_enter(void);
void gate_leave(void);

/* The calling thread is about to create a vCPU (a clone that makes a
 * thread).  Call while not holding the gate, and no plugin lock.  When
 * the new vCPU may make qemu grow the scoreboards (gate.c), returns once
 * no callback holds the gate, and none enters until that is over. */
void gate_spawn(void);

/* A creation announced by gate_spawn is over: the new vCPU of index idx
 * runs its init callback (call it before entering the gate there: qemu
 * grew the scoreboards before it), or the clone failed (idx -1; left_cpu:
 * qemu may have made the CPU before the failure, and keeps it). */
void gate_spawned(int idx, bool left_cpu);

/* One past the highest vCPU index whose init callback has begun: qemu
 * grew every scoreboard for it before that callback, so entries below it
 * exist (not qemu_plugin_num_vcpus(), which counts a new vCPU before the
 * growth).  Only grows. */
unsigned gate_started(void);

/* The vCPU of index idx exits (its exit callback: never waits). */
void gate_exited(unsigned idx);

/* In a forked child: the threads that held or waited for the gate are
 * not in this process. */
void gate_fork_child(void);

#endif
