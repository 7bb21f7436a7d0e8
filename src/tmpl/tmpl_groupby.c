/* tmpl_groupby.c — Jinja's groupby filter (sync_do_groupby): the items sorted by an
 * attribute path (case-insensitively by default), then grouped by equal keys as
 * itertools.groupby does, as a list of _GroupTuple(grouper, list) -- tuples that print as
 * tuples and also answer .grouper and .list (tmpl_is_group).  No GIL. */
#include "tmpl/tmpl.h"

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)

/* the sort key: the attribute (default for undefined parts), lower-cased if a str and
 * case-insensitive (Jinja's ignore_case postprocess) */
static int key_of(ExprCtx *ctx, const FwcValue *item, const FwcValue *attr, const FwcValue *dflt,
                  int case_sensitive, FwcValue *out)
{
    if (fwc_tmpl_get_path(ctx, item, attr, dflt, out) < 0) return -1;
    if (case_sensitive || out->type != FWC_T_STR) return 0;
    ExprNode recv, call;
    memset(&recv, 0, sizeof recv);
    memset(&call, 0, sizeof call);
    recv.kind = N_CONST;
    recv.k = *out;
    call.kind = N_CALL_METHOD;
    call.op = M_LOWER;
    call.a = &recv;
    call.name = "lower";
    call.name_len = 5;
    return fwc_expr_eval_node(ctx, &call, out);
}

/* Stable sort of keys[0..n) (Python's sorted order, TypeError for mixed types), carrying
 * vals along; reverse keeps equal keys in their order, as sorted(reverse=True). */
static int sort_by_key(ExprCtx *ctx, FwcValue *keys, FwcValue *vals, uint32_t n, int reverse)
{
    if (n == 0) return 0; /* nothing to sort (and no kv + n on a NULL kv) */
    TKV *kv = fwc_expr_alloc(ctx, sizeof *kv * n * 2);
    if (!kv) return -1;
    for (uint32_t i = 0; i < n; i++) {
        kv[i].key = keys[i];
        kv[i].val = vals[i];
    }
    if (fwc_tmpl_kv_sort(ctx, kv, kv + n, n, reverse) < 0) return -1;
    for (uint32_t i = 0; i < n; i++) {
        keys[i] = kv[i].key;
        vals[i] = kv[i].val;
    }
    return 0;
}

int fwc_tmpl_filter_groupby(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                            const char **kw, FwcValue *out)
{
    static const char *const P[] = { "attribute", "default", "case_sensitive", NULL };
    FwcValue sl[3] = { fwc_null(), fwc_null(), fwc_bool(0) };
    int present[3] = { 0, 0, 0 }, pos = 0;
    for (int i = 0; i < nargs; i++) {
        int j = pos;
        if (kw && kw[i]) {
            for (j = 0; P[j] && strcmp(P[j], kw[i]) != 0; j++) {
            }
            if (!P[j])
                return FAIL("TypeError: sync_do_groupby() got an unexpected keyword argument '%s'",
                            kw[i]);
            if (present[j])
                return FAIL("TypeError: sync_do_groupby() got multiple values for argument '%s'",
                            P[j]);
        } else if (pos++ >= 3) {
            return FAIL("TypeError: sync_do_groupby() takes from 3 to 5 positional arguments but "
                        "%d were given",
                        nargs + 2);
        }
        sl[j] = args[i];
        present[j] = 1;
    }
    if (!present[0])
        return FAIL(
            "TypeError: sync_do_groupby() missing 1 required positional argument: 'attribute'");
    int case_sensitive = fwc_expr_truthy(&sl[2]);
    FwcValue *items;
    uint32_t n;
    if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
    FwcValue *keys = n ? fwc_expr_alloc(ctx, sizeof *keys * n) : NULL,
             *vals = n ? fwc_expr_alloc(ctx, sizeof *vals * n) : NULL;
    if (n && (!keys || !vals)) return -1;
    for (uint32_t i = 0; i < n; i++) {
        vals[i] = items[i];
        if (key_of(ctx, &items[i], &sl[0], &sl[1], case_sensitive, &keys[i]) < 0) return -1;
    }
    /* sorted(value, key=expr), then itertools.groupby(..., expr) */
    if (sort_by_key(ctx, keys, vals, n, 0) < 0) return -1;
    FwcValue *groups = n ? fwc_expr_alloc(ctx, sizeof *groups * n) : NULL;
    if (n && !groups) return -1;
    uint32_t ng = 0;
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i + 1;
        for (;;) {
            int eq = 0;
            if (j < n && fwc_tmpl_equal(ctx, &keys[i], &keys[j], &eq) < 0) return -1;
            if (!eq) break;
            j++;
        }
        FwcValue *pair = fwc_expr_alloc(ctx, sizeof *pair * 2);
        if (!pair) return -1;
        /* the grouper: the first item's attribute as it is (not lower-cased) */
        if (fwc_tmpl_get_path(ctx, &vals[i], &sl[0], &sl[1], &pair[0]) < 0) return -1;
        pair[1] = (FwcValue){ .type = FWC_T_LIST, .ascii = 1, .len = j - i, .u.items = vals + i };
        groups[ng++] =
            (FwcValue){ .type = FWC_T_TUPLE, .ascii = TMPL_GROUP_TUPLE, .len = 2, .u.items = pair };
        i = j;
    }
    *out = (FwcValue){ .type = FWC_T_LIST, .ascii = 1, .len = ng, .u.items = groups };
    return 0;
}
