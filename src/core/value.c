/* value.c — the immutable value tree: lookups, and snapshots (a tree and its arena,
 * shared by threads through a refcount). */
#include "core/core.h"
#include <stdlib.h>

const FwcValue *fwc_dict_get(const FwcValue *d, const char *key, size_t n)
{
    if (d->type != FWC_T_DICT) return NULL;
    /* Backwards: a dict parsed from JSON may repeat a key, and the last one wins. */
    for (uint32_t i = d->len; i-- > 0;) {
        const FwcValue *k = &d->u.pairs[i].key;
        if (k->type == FWC_T_STR && k->len == n && memcmp(k->u.s, key, n) == 0)
            return &d->u.pairs[i].value;
    }
    return NULL;
}

FwcSnapshot *fwc_snapshot_new(void)
{
    FwcSnapshot *s = calloc(1, sizeof *s);
    if (s) atomic_init(&s->refs, 1);
    return s;
}

void fwc_snapshot_incref(FwcSnapshot *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

void fwc_snapshot_decref(FwcSnapshot *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        fwc_arena_free(&s->arena);
        free(s);
    }
}
