/* value.c — the immutable value tree: lookups, and snapshots (a tree and its arena,
 * shared by threads through a refcount). */
#include "core/core.h"
#include <math.h>
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

/* ---------- numbers ---------- */

/* Sign of a - b for int64 a and double b, exactly (Python compares int and float without
 * rounding); 2 when unordered (NaN). */
static int cmp_int_float(int64_t a, double b)
{
    if (b != b) return 2;
    if (b >= 9223372036854775808.0) return -1;
    if (b < -9223372036854775808.0) return 1;
    double t = trunc(b);
    int64_t bi = (int64_t)t;
    if (a != bi) return a < bi ? -1 : 1;
    double frac = b - t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

/* Compares the decimal texts of two big ints (no leading zeros). */
static int cmp_bigtext(const char *a, size_t an, const char *b, size_t bn)
{
    int na = a[0] == '-', nb = b[0] == '-';
    if (na != nb) return na ? -1 : 1;
    int r = an != bn ? (an < bn ? -1 : 1) : memcmp(a, b, an);
    r = r < 0 ? -1 : r > 0;
    return na ? -r : r;
}

int fwc_num_compare(const FwcValue *a, const FwcValue *b)
{
    if (a->type == FWC_T_BIGINT || b->type == FWC_T_BIGINT) {
        if (a->type == FWC_T_BIGINT && b->type == FWC_T_BIGINT)
            return cmp_bigtext(a->u.s, a->len, b->u.s, b->len);
        const FwcValue *big = a->type == FWC_T_BIGINT ? a : b, *o = big == a ? b : a;
        int r;
        if (o->type == FWC_T_FLOAT) {
            if (o->u.f != o->u.f) return 2;
            double bf = strtod(big->u.s, NULL);
            r = bf < o->u.f ? -1 : bf > o->u.f;
        } else {
            r = big->u.s[0] == '-' ? -1 : 1; /* a big int is beyond every int64 */
        }
        return big == a ? r : -r;
    }
    if (a->type == FWC_T_FLOAT && b->type == FWC_T_FLOAT) {
        if (a->u.f != a->u.f || b->u.f != b->u.f) return 2;
        return a->u.f < b->u.f ? -1 : a->u.f > b->u.f;
    }
    if (a->type == FWC_T_FLOAT) {
        int r = cmp_int_float(b->u.i, a->u.f);
        return r == 2 ? 2 : -r;
    }
    if (b->type == FWC_T_FLOAT) return cmp_int_float(a->u.i, b->u.f);
    return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
}

/* ---------- snapshots ---------- */

FwcSnapshot *fwc_snapshot_new(void)
{
    FwcSnapshot *s = calloc(1, sizeof *s);
    if (s) atomic_init(&s->refs, 1);
    return s;
}

void fwc_snapshot_incref(FwcSnapshot *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void fwc_snapshot_decref(FwcSnapshot *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
        fwc_arena_free(&s->arena);
        free(s);
    }
}

/* Python's name of the value's type, as error messages write it. */
const char *fwc_value_type_name(const FwcValue *v)
{
    switch ((FwcType)v->type) {
    case FWC_T_NULL: return "NoneType";
    case FWC_T_BOOL: return "bool";
    case FWC_T_INT:
    case FWC_T_BIGINT: return "int";
    case FWC_T_FLOAT: return "float";
    case FWC_T_STR: return "str";
    case FWC_T_LIST: return "list";
    case FWC_T_DICT: return "dict";
    case FWC_T_TUPLE: return "tuple";
    case FWC_T_SET: return "set";
    case FWC_T_RANGE: return "range";
    }
    return "object";
}
