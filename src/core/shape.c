/* shape.c — the parts of a document a request can read (see FwcShape in core.h): a tree
 * of keys, built once per Webhook from its field map and templates, then used by every
 * snapshot.  Shapes only grow (merge is a union), so the template analysis can iterate
 * to a fixed point. */
#include "core/core.h"
#include <stdlib.h>

FwcShape *fwc_shape_new(void) { return calloc(1, sizeof(FwcShape)); }

/* Key lookup is hashed (a field map may name tens of thousands of fields): s->keys is
 * one block of `cap` keys followed by a table of 2*cap slots (0 empty, else index + 1),
 * open addressing.  Only this file allocates s->keys. */
static uint32_t *key_table(const FwcShape *s) { return (uint32_t *)(s->keys + s->cap); }

static size_t key_hash(const char *name, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
    return (size_t)h;
}

/* The slot of name: where it is, or the empty slot where it goes. */
static uint32_t *key_slot(const FwcShape *s, const char *name, size_t n)
{
    uint32_t *table = key_table(s);
    size_t mask = 2 * s->cap - 1;
    for (size_t i = key_hash(name, n) & mask;; i = (i + 1) & mask) {
        uint32_t at = table[i];
        if (!at) return &table[i];
        const FwcShapeKey *k = &s->keys[at - 1];
        if (k->len == n && memcmp(k->name, name, n) == 0) return &table[i];
    }
}

FwcShape *fwc_shape_key(FwcShape *s, const char *name, size_t n)
{
    uint32_t *slot = s->cap ? key_slot(s, name, n) : NULL;
    if (slot && *slot) return s->keys[*slot - 1].sub;
    if (s->nkeys == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        if (cap > UINT32_MAX / 2) return NULL;
        FwcShapeKey *keys = realloc(s->keys, cap * sizeof *keys + 2 * cap * sizeof(uint32_t));
        if (!keys) return NULL;
        s->keys = keys;
        s->cap = cap;
        memset(key_table(s), 0, 2 * cap * sizeof(uint32_t));
        for (size_t i = 0; i < s->nkeys; i++)
            *key_slot(s, s->keys[i].name, s->keys[i].len) = (uint32_t)(i + 1);
        slot = key_slot(s, name, n);
    }
    char *copy = malloc(n + 1);
    FwcShape *sub = copy ? fwc_shape_new() : NULL;
    if (!sub) {
        free(copy);
        return NULL;
    }
    memcpy(copy, name, n);
    copy[n] = '\0';
    s->keys[s->nkeys++] = (FwcShapeKey){ copy, n, NULL, sub };
    *slot = (uint32_t)s->nkeys;
    return sub;
}

static void set_flag(int *flag, int *changed)
{
    if (!*flag) {
        *flag = 1;
        *changed = 1;
    }
}

/* A shape can be merged into its own subtree (`{% set x = x.a %}`), which can double it
 * on every pass: past this depth, or once the caller's budget of visited nodes is spent,
 * the value is simply read whole (more than asked, never less). */
#define MAX_SHAPE_DEPTH 32

static int merge(FwcShape *dst, const FwcShape *src, int *changed, int depth, size_t *budget)
{
    if (dst == src || dst->whole) return 0;
    if (src->whole || depth > MAX_SHAPE_DEPTH || *budget == 0) {
        set_flag(&dst->whole, changed);
        return 0;
    }
    --*budget;
    if (src->dict_whole) set_flag(&dst->dict_whole, changed);
    if (src->elems) {
        if (!dst->elems) {
            if (!(dst->elems = fwc_shape_new())) return -1;
            *changed = 1;
        }
        if (merge(dst->elems, src->elems, changed, depth + 1, budget) < 0) return -1;
    }
    for (size_t i = 0; i < src->nkeys; i++) {
        size_t before = dst->nkeys;
        FwcShape *sub = fwc_shape_key(dst, src->keys[i].name, src->keys[i].len);
        if (!sub) return -1;
        if (dst->nkeys != before) *changed = 1;
        if (merge(sub, src->keys[i].sub, changed, depth + 1, budget) < 0) return -1;
    }
    return 0;
}

int fwc_shape_merge(FwcShape *dst, const FwcShape *src, int *changed, size_t *budget)
{
    return merge(dst, src, changed, 0, budget);
}

void fwc_shape_free(FwcShape *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nkeys; i++) {
        free((char *)s->keys[i].name);
        fwc_shape_free(s->keys[i].sub);
    }
    free(s->keys);
    fwc_shape_free(s->elems);
    free(s);
}
