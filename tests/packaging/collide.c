/* Linked into the static consumers (tests/packaging/consumer, parent): a
 * program's own functions that carry the names of cmodx's internal
 * functions.  The static library must export nothing but cmodx_* (its
 * objects are linked into one and their hidden symbols made local), so
 * these link without "multiple definition" errors and are the program's. */
int heap_flags(void);
int writer_enter(void);
int arch_context_sync(void);
int fork_register(void);
int heap_flags(void) { return 1; }
int writer_enter(void) { return 2; }
int arch_context_sync(void) { return 3; }
int fork_register(void) { return 4; }
