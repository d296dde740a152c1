/* jscan.c - depth and value count of JSON text (see jscan.h). */
#include "core/jscan.h"

enum jscan_result jscan_limits(const char *s, size_t n, int max_depth, size_t max_elements)
{
    int depth = 0, in_str = 0;
    size_t elements = 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        switch (c) {
        case '"':
            in_str = 1;
            break;
        case '[':
        case '{': /* an opening bracket also starts a value */
            if (++depth > max_depth)
                return JSCAN_TOO_DEEP;
            if (++elements > max_elements)
                return JSCAN_TOO_MANY;
            break;
        case ',':
        case ':':
            if (++elements > max_elements)
                return JSCAN_TOO_MANY;
            break;
        case ']':
        case '}':
            depth--;
            break;
        default:
            break;
        }
    }
    return JSCAN_OK;
}
