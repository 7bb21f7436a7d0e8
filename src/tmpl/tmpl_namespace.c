/* tmpl_namespace.c — Jinja's namespace() objects (jinja2.utils.Namespace): attributes
 * from dict(*args, **kwargs), read as ns.attr / ns["attr"], written by
 * {% set ns.attr = value %}, shared by reference so a loop body can carry state out of
 * the loop.  A namespace lives in the render's scratch arena and dies with the render.
 * Here: making one and writing it; reading (ns.attr, repr) is in tmpl_value.c, below
 * this file.  No GIL. */
#include "tmpl/tmpl.h"

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)

static int hashable(ExprCtx *ctx, const FwcValue *k)
{
    if (k->type == FWC_T_LIST || k->type == FWC_T_DICT || k->type == FWC_T_SET)
        return FAIL("TypeError: unhashable type: '%s'", fwc_tmpl_type_name(k));
    return 0;
}

/* attrs[key] = value: an equal key keeps its position and takes the value */
static int put(ExprCtx *ctx, TNamespace *ns, const FwcValue *key, const FwcValue *value)
{
    if (hashable(ctx, key) < 0) return -1;
    for (uint32_t i = 0; i < ns->len; i++) {
        int eq;
        if (fwc_tmpl_equal(ctx, &ns->pairs[i].key, key, &eq) < 0) return -1;
        if (eq) {
            ns->pairs[i].value = *value;
            return 0;
        }
    }
    if (ns->len == ns->cap) {
        if (ns->cap >= FWC_EXPR_MAX_ITEMS)
            return FAIL("MemoryError: namespace too large (limit %d attributes)",
                        FWC_EXPR_MAX_ITEMS);
        uint32_t cap = ns->cap ? ns->cap * 2 : 4;
        FwcPair *p = fwc_expr_alloc(ctx, sizeof *p * cap);
        if (!p) return -1;
        if (ns->len) memcpy(p, ns->pairs, sizeof *p * ns->len);
        ns->pairs = p;
        ns->cap = cap;
    }
    ns->pairs[ns->len].key = *key;
    ns->pairs[ns->len].value = *value;
    ns->len++;
    return 0;
}

/* dict.update(arg) for the positional argument of dict(): a mapping, or pairs */
static int update_from(ExprCtx *ctx, TNamespace *ns, const FwcValue *arg)
{
    if (arg->type == FWC_T_DICT) {
        for (uint32_t i = 0; i < arg->len; i++)
            if (put(ctx, ns, &arg->u.pairs[i].key, &arg->u.pairs[i].value) < 0) return -1;
        return 0;
    }
    /* dict() asks an object for .keys first: Undefined's attribute access raises */
    if (arg->type == TMPL_T_UNDEF) return fwc_tmpl_undefined_error(ctx, arg);
    FwcValue *items;
    uint32_t n;
    if (fwc_tmpl_items(ctx, arg, &items, &n) < 0) return -1;
    for (uint32_t i = 0; i < n; i++) {
        const FwcValue *e = &items[i];
        FwcValue *kv;
        uint32_t k;
        if (e->type != FWC_T_LIST && e->type != FWC_T_TUPLE && e->type != FWC_T_STR &&
            e->type != FWC_T_DICT && e->type != FWC_T_SET && e->type != FWC_T_RANGE &&
            e->type != TMPL_T_UNDEF)
            return FAIL(
                "TypeError: cannot convert dictionary update sequence element #%u to a sequence",
                i);
        if (fwc_tmpl_items(ctx, e, &kv, &k) < 0) return -1;
        if (k != 2)
            return FAIL(
                "ValueError: dictionary update sequence element #%u has length %u; 2 is required",
                i, k);
        if (put(ctx, ns, &kv[0], &kv[1]) < 0) return -1;
    }
    return 0;
}

int fwc_tmpl_namespace_new(ExprCtx *ctx, FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    TNamespace *ns = fwc_expr_alloc(ctx, sizeof *ns);
    if (!ns) return -1;
    ns->pairs = NULL;
    ns->len = ns->cap = 0;
    int npos = 0;
    for (int i = 0; i < nargs; i++) npos += !(kw && kw[i]);
    if (npos > 1) return FAIL("TypeError: dict expected at most 1 argument, got %d", npos);
    for (int i = 0; i < nargs; i++)
        if (!(kw && kw[i]) && update_from(ctx, ns, &args[i]) < 0) return -1;
    for (int i = 0; kw && i < nargs; i++) {
        if (!kw[i]) continue;
        FwcValue key;
        if (fwc_expr_new_str(ctx, kw[i], strlen(kw[i]), &key) < 0 ||
            put(ctx, ns, &key, &args[i]) < 0)
            return -1;
    }
    *out = (FwcValue){ .type = TMPL_T_NS, .ascii = 0, .len = 1, .u.items = (FwcValue *)(void *)ns };
    return 0;
}

int fwc_tmpl_namespace_set(ExprCtx *ctx, const FwcValue *v, const char *name, size_t n,
                           const FwcValue *value)
{
    FwcValue key;
    if (fwc_expr_new_str(ctx, name, n, &key) < 0) return -1;
    return put(ctx, tmpl_ns_of(v), &key, value);
}
