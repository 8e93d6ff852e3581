/* cmodx/api.h - symbol visibility: only functions marked CMODX_API are
 * exported from libcmodx.so; everything else is built hidden. */
#ifndef CMODX_API_H
#define CMODX_API_H

#ifndef CMODX_API
#define CMODX_API __attribute__((visibility("default")))
#endif

#endif
