/*
 * cmodx/cmodx.h - everything: include this one header.
 *
 * cmodx lets one thread write or patch machine code while other threads of
 * the same process may be executing it.  See docs/ for the protocol and the
 * guarantees; each header documents its functions man-page style.
 */
#ifndef CMODX_CMODX_H
#define CMODX_CMODX_H

#include "error.h"
#include "heap.h"
#include "emit.h"
#include "debug.h"
#include "slot.h"
#include "reclaim.h"
#include "patch.h"

#endif
