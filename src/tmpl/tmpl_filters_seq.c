/* tmpl_filters_seq.c — Jinja's filters of sequences, mappings and numbers (default,
 * length/count/len, join, first/last, list, reverse, abs, round, sum, min/max, sort,
 * unique, dictsort, attr, batch/slice), called through the filter table of
 * tmpl_filters.c.  No GIL. */
#include "tmpl/tmpl.h"
#include <math.h>

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)
#define TN(v)     fwc_value_type_name(v)

/* sort / unique / min / max / dictsort share keyed sorting */
static int sorted_items(ExprCtx *ctx, FwcValue *items, uint32_t n, int case_sensitive,
                        const FwcValue *attr, int reverse, TKV **out)
{
    if (n == 0) return 0; /* nothing to sort (and no kv + n on a NULL kv) */
    TKV *kv = fwc_expr_alloc(ctx, sizeof *kv * n * 2);
    if (!kv) return -1;
    for (uint32_t i = 0; i < n; i++) {
        FwcValue k = items[i];
        if (attr && fwc_tmpl_get_path(ctx, &items[i], attr, NULL, &k) < 0) return -1;
        if (fwc_tmpl_ignore_case(ctx, &k, case_sensitive, &kv[i].key) < 0) return -1;
        kv[i].val = items[i];
    }
    if (fwc_tmpl_kv_sort(ctx, kv, kv + n, n, reverse) < 0) return -1;
    *out = kv;
    return 0;
}

int fwc_tmpl_f_default(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                       FwcValue *out)
{
    static const char *const P[] = { "default_value", "boolean", NULL };
    FwcValue sl[2] = { tmpl_cstr(""), fwc_bool(0) };
    if (fwc_tmpl_bind(ctx, "default", P, args, nargs, kw, sl, NULL) < 0) return -1;
    *out = tmpl_is_undef(in) || (fwc_expr_truthy(&sl[1]) && !fwc_expr_truthy(in)) ? sl[0] : *in;
    return 0;
}

/* length, count, len */
static int len_filter(ExprCtx *ctx, const char *fname, const FwcValue *in, FwcValue *args,
                      int nargs, const char **kw, FwcValue *out)
{
    if (nargs) return FAIL("TypeError: %s() takes no arguments", fname);
    if (tmpl_is_undef(in)) { /* Undefined.__len__ is 0 (Frappe's len filter is Python's len) */
        *out = fwc_int(0);
        return 0;
    }
    return fwc_tmpl_builtin(ctx, B_LEN, in, 1, out);
}

int fwc_tmpl_f_length(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                      FwcValue *out)
{
    return len_filter(ctx, "length", in, args, nargs, kw, out);
}

int fwc_tmpl_f_count(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                     FwcValue *out)
{
    return len_filter(ctx, "count", in, args, nargs, kw, out);
}

int fwc_tmpl_f_len(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                   FwcValue *out)
{
    return len_filter(ctx, "len", in, args, nargs, kw, out);
}

int fwc_tmpl_f_join(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                    FwcValue *out)
{
    static const char *const P[] = { "d", "attribute", NULL };
    FwcValue sl[2] = { tmpl_cstr(""), fwc_null() };
    int pr[2] = { 0, 0 };
    FwcValue *items;
    uint32_t n;
    if (fwc_tmpl_bind(ctx, "join", P, args, nargs, kw, sl, pr) < 0 ||
        fwc_tmpl_items(ctx, in, &items, &n) < 0 || fwc_expr_charge(ctx, (uint64_t)n * 8) < 0)
        return -1;
    FwcValue sep;
    if (fwc_tmpl_str_of(ctx, &sl[0], &sep) < 0) return -1;
    FwcBuf b = FWC_BUF_INIT;
    for (uint32_t i = 0; i < n; i++) {
        FwcValue v = items[i];
        if ((pr[1] && fwc_tmpl_get_path(ctx, &items[i], &sl[1], NULL, &v) < 0) ||
            (i && tmpl_append(&b, sep.u.s, sep.len) < 0) || fwc_tmpl_str_append(ctx, &b, &v) < 0) {
            fwc_buf_free(&b);
            return -1;
        }
        if (b.len > FWC_EXPR_MAX_STR) {
            fwc_buf_free(&b);
            return FAIL("MemoryError: string result too long");
        }
    }
    return fwc_tmpl_buf_value(ctx, &b, out);
}

/* first, last */
static int first_last(ExprCtx *ctx, int last, const FwcValue *in, FwcValue *args, int nargs,
                      const char **kw, FwcValue *out)
{
    FwcValue *items;
    uint32_t n;
    if (last && in->type == FWC_T_SET) return FAIL("TypeError: 'set' object is not reversible");
    if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
    if (!n)
        return fwc_tmpl_undefined(
            ctx,
            !last ? "{{ undefined value printed: No first item, sequence was empty. }}"
                  : "{{ undefined value printed: No last item, sequence was empty. }}",
            out);
    *out = items[!last ? 0 : n - 1];
    return 0;
}

int fwc_tmpl_f_first(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                     FwcValue *out)
{
    return first_last(ctx, 0, in, args, nargs, kw, out);
}

int fwc_tmpl_f_last(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                    FwcValue *out)
{
    return first_last(ctx, 1, in, args, nargs, kw, out);
}

int fwc_tmpl_f_list(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                    FwcValue *out)
{
    FwcValue *items;
    uint32_t n;
    if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
    *out = tmpl_list_value(FWC_T_LIST, items, n);
    return 0;
}

int fwc_tmpl_f_reverse(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                       FwcValue *out)
{
    if (in->type == FWC_T_STR) {
        FwcValue *items;
        uint32_t n;
        if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
        FwcBuf b = FWC_BUF_INIT;
        for (uint32_t i = n; i-- > 0;)
            if (tmpl_append(&b, items[i].u.s, items[i].len) < 0) {
                fwc_buf_free(&b);
                return fwc_expr_nomem(ctx);
            }
        return fwc_tmpl_buf_value(ctx, &b, out);
    }
    FwcValue *items;
    uint32_t n;
    if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
    FwcValue *r = n ? fwc_expr_alloc(ctx, sizeof *r * n) : NULL;
    if (n && !r) return -1;
    for (uint32_t i = 0; i < n; i++) r[i] = items[n - 1 - i];
    *out = tmpl_list_value(FWC_T_LIST, r, n);
    return 0;
}

int fwc_tmpl_f_abs(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                   FwcValue *out)
{
    return fwc_tmpl_builtin(ctx, B_ABS, in, 1, out);
}

int fwc_tmpl_f_round(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                     FwcValue *out)
{
    static const char *const P[] = { "precision", "method", NULL };
    FwcValue sl[2] = { fwc_int(0), tmpl_cstr("common") };
    if (fwc_tmpl_bind(ctx, "round", P, args, nargs, kw, sl, NULL) < 0) return -1;
    if (sl[1].type != FWC_T_STR)
        return FAIL("FilterArgumentError: method must be common, ceil or floor");
    if (sl[1].len == 6 && !memcmp(sl[1].u.s, "common", 6)) {
        FwcValue a[2] = { *in, sl[0] };
        return fwc_tmpl_builtin(ctx, B_ROUND, a, 2, out);
    }
    int ceil_ = sl[1].len == 4 && !memcmp(sl[1].u.s, "ceil", 4);
    if (!ceil_ && !(sl[1].len == 5 && !memcmp(sl[1].u.s, "floor", 5)))
        return FAIL("FilterArgumentError: method must be common, ceil or floor");
    double x, m;
    int64_t p, r;
    if (fwc_tmpl_need_int(ctx, "round", &sl[0], &p) < 0 || fwc_expr_to_float(ctx, in, &x) < 0)
        return -1;
    if (p < 0 || p > 300) return FAIL("ValueError: precision out of supported range");
    m = pow(10.0, (double)p);
    if (fwc_expr_floor_to_int(ctx, x * m, &r, ceil_) < 0) return -1;
    *out = fwc_float((double)r / m);
    return 0;
}

int fwc_tmpl_f_sum(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                   FwcValue *out)
{
    static const char *const P[] = { "attribute", "start", NULL };
    FwcValue sl[2] = { fwc_null(), fwc_int(0) };
    int pr[2] = { 0, 0 };
    FwcValue *items;
    uint32_t n;
    if (fwc_tmpl_bind(ctx, "sum", P, args, nargs, kw, sl, pr) < 0 ||
        fwc_tmpl_items(ctx, in, &items, &n) < 0)
        return -1;
    FwcValue *vals = items;
    if (pr[0] && n) {
        if (!(vals = fwc_expr_alloc(ctx, sizeof *vals * n))) return -1;
        for (uint32_t i = 0; i < n; i++)
            if (fwc_tmpl_get_path(ctx, &items[i], &sl[0], NULL, &vals[i]) < 0) return -1;
    }
    FwcValue a[2] = { tmpl_list_value(FWC_T_LIST, vals, n), sl[1] };
    return fwc_tmpl_builtin(ctx, B_SUM, a, 2, out);
}

/* min, max */
static int min_max(ExprCtx *ctx, const char *fname, int max, const FwcValue *in, FwcValue *args,
                   int nargs, const char **kw, FwcValue *out)
{
    static const char *const P[] = { "case_sensitive", "attribute", NULL };
    FwcValue sl[2] = { fwc_bool(0), fwc_null() };
    int pr[2] = { 0, 0 };
    FwcValue *items;
    uint32_t n;
    TKV *kv;
    if (fwc_tmpl_bind(ctx, fname, P, args, nargs, kw, sl, pr) < 0 ||
        fwc_tmpl_items(ctx, in, &items, &n) < 0)
        return -1;
    if (!n)
        return fwc_tmpl_undefined(
            ctx,
            !max ? "{{ undefined value printed: No aggregated item, sequence was empty. }}"
                 : "{{ undefined value printed: No aggregated item, sequence was empty. }}",
            out);
    if (sorted_items(ctx, items, n, fwc_expr_truthy(&sl[0]), pr[1] ? &sl[1] : NULL, 0, &kv) < 0)
        return -1;
    if (!max) {
        *out = kv[0].val;
    } else {
        /* max returns the first of the largest: the last run's first element */
        uint32_t i = n - 1;
        while (i > 0) {
            int lt;
            if (fwc_tmpl_lt(ctx, &kv[i - 1].key, &kv[i].key, &lt) < 0) return -1;
            if (lt) break;
            i--;
        }
        *out = kv[i].val;
    }
    return 0;
}

int fwc_tmpl_f_min(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                   FwcValue *out)
{
    return min_max(ctx, "min", 0, in, args, nargs, kw, out);
}

int fwc_tmpl_f_max(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                   FwcValue *out)
{
    return min_max(ctx, "max", 1, in, args, nargs, kw, out);
}

int fwc_tmpl_f_sort(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                    FwcValue *out)
{
    static const char *const P[] = { "reverse", "case_sensitive", "attribute", NULL };
    FwcValue sl[3] = { fwc_bool(0), fwc_bool(0), fwc_null() };
    int pr[3] = { 0, 0, 0 };
    FwcValue *items;
    uint32_t n;
    TKV *kv;
    if (fwc_tmpl_bind(ctx, "sort", P, args, nargs, kw, sl, pr) < 0 ||
        fwc_tmpl_items(ctx, in, &items, &n) < 0)
        return -1;
    if (sorted_items(ctx, items, n, fwc_expr_truthy(&sl[1]), pr[2] ? &sl[2] : NULL,
                     fwc_expr_truthy(&sl[0]), &kv) < 0)
        return -1;
    FwcValue *r = n ? fwc_expr_alloc(ctx, sizeof *r * n) : NULL;
    if (n && !r) return -1;
    for (uint32_t i = 0; i < n; i++) r[i] = kv[i].val;
    *out = tmpl_list_value(FWC_T_LIST, r, n);
    return 0;
}

int fwc_tmpl_f_unique(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                      FwcValue *out)
{
    static const char *const P[] = { "case_sensitive", "attribute", NULL };
    FwcValue sl[2] = { fwc_bool(0), fwc_null() };
    int pr[2] = { 0, 0 };
    FwcValue *items;
    uint32_t n, k = 0;
    if (fwc_tmpl_bind(ctx, "unique", P, args, nargs, kw, sl, pr) < 0 ||
        fwc_tmpl_items(ctx, in, &items, &n) < 0)
        return -1;
    FwcValue *r = n ? fwc_expr_alloc(ctx, sizeof *r * n) : NULL,
             *keys = n ? fwc_expr_alloc(ctx, sizeof *keys * n) : NULL;
    if (n && (!r || !keys)) return -1;
    /* a set of the keys seen (Jinja keeps one): hashed, so linear, not one comparison
     * per pair; open addressing, slot = key index + 1 */
    uint32_t cap = 8;
    while (cap < 2 * n) cap *= 2;
    uint32_t *slot = fwc_expr_alloc(ctx, sizeof *slot * cap);
    if (!slot || fwc_expr_charge(ctx, (uint64_t)n * 32) < 0) return -1;
    memset(slot, 0, sizeof *slot * cap);
    for (uint32_t i = 0; i < n; i++) {
        FwcValue key = items[i];
        if (pr[1] && fwc_tmpl_get_path(ctx, &items[i], &sl[1], NULL, &key) < 0) return -1;
        if (fwc_tmpl_ignore_case(ctx, &key, fwc_expr_truthy(&sl[0]), &key) < 0) return -1;
        if (key.type == FWC_T_LIST || key.type == FWC_T_DICT || key.type == FWC_T_SET)
            return FAIL("TypeError: unhashable type: '%s'", TN(&key));
        keys[k] = key;
        /* Undefined equals any Undefined (hashes alike by type); a namespace or loop
         * is compared by identity (hashed by address) */
        uint64_t h = key.type == TMPL_T_NS || key.type == TMPL_T_LOOP
                         ? (uint64_t)(uintptr_t)key.u.items * 0x9E3779B97F4A7C15ull
                         : fwc_expr_hash(&keys[k]);
        uint32_t j = (uint32_t)(h ^ (h >> 32)) & (cap - 1);
        int seen = 0;
        while (slot[j] && !seen) {
            if (fwc_tmpl_equal(ctx, &keys[slot[j] - 1], &keys[k], &seen) < 0) return -1;
            j = (j + 1) & (cap - 1);
        }
        if (!seen) {
            slot[j] = k + 1;
            r[k++] = items[i];
        }
    }
    *out = tmpl_list_value(FWC_T_LIST, r, k);
    return 0;
}

int fwc_tmpl_f_dictsort(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                        const char **kw, FwcValue *out)
{
    static const char *const P[] = { "case_sensitive", "by", "reverse", NULL };
    FwcValue sl[3] = { fwc_bool(0), tmpl_cstr("key"), fwc_bool(0) };
    if (fwc_tmpl_bind(ctx, "dictsort", P, args, nargs, kw, sl, NULL) < 0) return -1;
    if (in->type != FWC_T_DICT)
        return FAIL("AttributeError: '%s' object has no attribute 'items'", TN(in));
    int by_value = sl[1].type == FWC_T_STR && sl[1].len == 5 && !memcmp(sl[1].u.s, "value", 5);
    if (!by_value && !(sl[1].type == FWC_T_STR && sl[1].len == 3 && !memcmp(sl[1].u.s, "key", 3)))
        return FAIL("FilterArgumentError: You can only sort by either \"key\" or \"value\"");
    uint32_t n = in->len;
    TKV *kv = n ? fwc_expr_alloc(ctx, sizeof *kv * n * 2) : NULL;
    FwcValue *r = n ? fwc_expr_alloc(ctx, sizeof *r * n) : NULL;
    if (n && (!kv || !r)) return -1;
    for (uint32_t i = 0; i < n; i++) {
        FwcValue *pair = fwc_expr_alloc(ctx, sizeof *pair * 2);
        if (!pair) return -1;
        pair[0] = in->u.pairs[i].key;
        pair[1] = in->u.pairs[i].value;
        kv[i].val = tmpl_list_value(FWC_T_TUPLE, pair, 2);
        if (fwc_tmpl_ignore_case(ctx, &pair[by_value], fwc_expr_truthy(&sl[0]), &kv[i].key) < 0)
            return -1;
    }
    if (fwc_tmpl_kv_sort(ctx, kv, kv + n, n, fwc_expr_truthy(&sl[2])) < 0) return -1;
    for (uint32_t i = 0; i < n; i++) r[i] = kv[i].val;
    *out = tmpl_list_value(FWC_T_LIST, r, n);
    return 0;
}

int fwc_tmpl_f_attr(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                    FwcValue *out)
{
    if (nargs != 1 || args[0].type != FWC_T_STR)
        return FAIL("TypeError: attr() takes one string argument");
    if (args[0].len && args[0].u.s[0] == '_')
        return FAIL("SecurityError: access to attribute '%.*s' is unsafe", (int)args[0].len,
                    args[0].u.s);
    return fwc_tmpl_getattr(ctx, in, args[0].u.s, args[0].len, out);
}

/* batch, slice */
static int batch_slice(ExprCtx *ctx, const char *fname, int batch, const FwcValue *in,
                       FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    static const char *const PB[] = { "linecount", "fill_with", NULL }, *const PS[] = { "slices",
                                                                                        "fill_with",
                                                                                        NULL };
    FwcValue sl[2] = { fwc_null(), fwc_null() };
    int pr[2] = { 0, 0 };
    int64_t size;
    FwcValue *items;
    uint32_t n;
    if (fwc_tmpl_bind(ctx, fname, batch ? PB : PS, args, nargs, kw, sl, pr) < 0) return -1;
    if (!pr[0] || fwc_tmpl_need_int(ctx, fname, &sl[0], &size) < 0) return -1;
    if (size <= 0) return FAIL("ValueError: %s size must be positive", fname);
    if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
    /* a batch longer than the items is all of them (unless filled): no uint32 wrap of
     * the size ([1]|batch(2**32) stepped by 0 forever) */
    if (batch && !pr[1] && size > (int64_t)n) size = n ? n : 1;
    if (batch && pr[1] && n && size > (int64_t)FWC_EXPR_MAX_ITEMS)
        return FAIL("MemoryError: list result too long (limit %d items)", FWC_EXPR_MAX_ITEMS);
    if (fwc_expr_charge(ctx, ((uint64_t)n + (uint64_t)(size < 100000 ? size : 100000)) * 4) < 0)
        return -1;
    FwcValue *groups =
        fwc_expr_alloc(ctx, sizeof *groups * (n + (uint32_t)(size < 100000 ? size : 100000) + 1));
    if (!groups) return -1;
    uint32_t ng = 0;
    if (batch) {
        for (uint32_t i = 0; i < n; i += (uint32_t)size) {
            uint32_t cnt = n - i < size ? n - i : (uint32_t)size,
                     tot = pr[1] ? (uint32_t)size : cnt;
            FwcValue *g = fwc_expr_alloc(ctx, sizeof *g * tot);
            if (!g) return -1;
            for (uint32_t j = 0; j < tot; j++) g[j] = j < cnt ? items[i + j] : sl[1];
            groups[ng++] = tmpl_list_value(FWC_T_LIST, g, tot);
        }
    } else {
        if (size > 100000) return FAIL("MemoryError: too many slices");
        uint32_t per = n / (uint32_t)size, extra = n % (uint32_t)size, off = 0;
        for (uint32_t k = 0; k < (uint32_t)size; k++) {
            uint32_t cnt = per + (k < extra ? 1 : 0),
                     tot = cnt + (pr[1] && extra && k >= extra ? 1 : 0);
            FwcValue *g = tot ? fwc_expr_alloc(ctx, sizeof *g * tot) : NULL;
            if (tot && !g) return -1;
            for (uint32_t j = 0; j < cnt; j++) g[j] = items[off + j];
            if (tot > cnt) g[cnt] = sl[1];
            off += cnt;
            groups[ng++] = tmpl_list_value(FWC_T_LIST, g, tot);
        }
    }
    *out = tmpl_list_value(FWC_T_LIST, groups, ng);
    return 0;
}

int fwc_tmpl_f_batch(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                     FwcValue *out)
{
    return batch_slice(ctx, "batch", 1, in, args, nargs, kw, out);
}

int fwc_tmpl_f_slice(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                     FwcValue *out)
{
    return batch_slice(ctx, "slice", 0, in, args, nargs, kw, out);
}
