/*
 * empty.c - a preloadable library that does nothing: zapbench's reference
 * for what any LD_PRELOAD adds to a process start (opening and mapping one
 * more library), apart from what libzapshim itself does at load.
 */

/* zapbench_empty_marker - never called; gives the library one symbol. */
int zapbench_empty_marker(void);
int zapbench_empty_marker(void) {
  return 0;
}
