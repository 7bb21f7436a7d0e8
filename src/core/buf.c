/* buf.c — growable byte buffer and arena allocator; malloc based so that code
 * running without the GIL can use both. */
#include "core/core.h"

int fwc_buf_grow(FwcBuf *b, size_t extra)
{
    if (b->cap - b->len >= extra) return 0;
    if (extra > SIZE_MAX / 2 - b->len) return -1;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int fwc_buf_put_int(FwcBuf *b, int64_t v)
{
    char t[24], *p = t + sizeof t; /* digits from the end: no printf on hot paths */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return fwc_buf_append(b, p, (size_t)(t + sizeof t - p));
}

void fwc_buf_free(FwcBuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

FwcStatus fwc_error_set(FwcError *err, FwcStatus code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---------- arena ---------- */

struct FwcArenaBlock {
    FwcArenaBlock *next;
    _Alignas(16) char data[];
};

/* The first block is sized from the first request (a snapshot's first is its root
 * dict's pairs, so it scales with the document): four times it, from 256 bytes to 4 KiB.
 * A small document then costs a few hundred bytes, not 4 KiB, which matters for the
 * Dispatcher's queue (100 000 waiting snapshots), and a block of at most ~1 KiB stays in
 * malloc's per-thread cache.  Later blocks double the arena, so a document of any size
 * costs O(log n) mallocs. */
#define ARENA_MIN_BLOCK 256
#define ARENA_MAX_FIRST 4096

void *fwc_arena_alloc_slow(FwcArena *a, size_t n)
{
    size_t size; /* of the malloc, header included: a power of two while it can be */
    if (n > SIZE_MAX / 4) return NULL;
    if (!a->head) {
        size = ARENA_MIN_BLOCK;
        while (size < 4 * n && size < ARENA_MAX_FIRST) size *= 2;
    } else size = a->total < ARENA_MIN_BLOCK ? ARENA_MIN_BLOCK : a->total;
    if (size < sizeof(FwcArenaBlock) + n) size = sizeof(FwcArenaBlock) + n;
    FwcArenaBlock *b = malloc(size);
    if (!b) return NULL;
    b->next = a->head;
    a->head = b;
    a->cur = b->data + n;
    a->end = (char *)b + size;
    a->total += n;
    return b->data;
}

void fwc_arena_free(FwcArena *a)
{
    FwcArenaBlock *b = a->head;
    while (b) {
        FwcArenaBlock *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->cur = a->end = NULL;
    a->total = 0;
}
