/*
 * jscan.h - one cheap pass over JSON text before a parser allocates for it.
 *
 * jansson builds a tree: ~100 bytes or more per value, and a nesting depth
 * it follows by recursion. Request bodies and model-file headers are
 * scanned first (outside strings, no allocation) for their nesting depth
 * and their number of values, so that 1 MiB of `{}` (349,000 objects, once
 * ~80 MB of parser memory) is refused for the cost of reading it.
 */
#ifndef ENCORE_JSCAN_H
#define ENCORE_JSCAN_H

#include <stddef.h>

enum jscan_result { JSCAN_OK = 0, JSCAN_TOO_DEEP = 1, JSCAN_TOO_MANY = 2 };

/* Scan s[0..n). Values are counted as one plus one per '[', '{', ',' and
 * ':' outside strings (an upper bound of the values and object members a
 * parser creates). Stops at the first limit passed. */
enum jscan_result jscan_limits(const char *s, size_t n, int max_depth, size_t max_elements);

#endif
