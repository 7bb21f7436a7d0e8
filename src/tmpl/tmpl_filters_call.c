/* tmpl_filters_call.c — what the filters and tests share (tmpl_filters*.c): calling the
 * expression engine's builtins, str methods and utils through small constant-argument
 * nodes, binding a filter's arguments, and the small text helpers.  No GIL. */
#include "tmpl/tmpl.h"

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)
#define TN(v)     fwc_value_type_name(v)

/* ---------- calling the expression engine with values ---------- */

static int call_core(ExprCtx *ctx, int kind, int op, const FwcValue *recv, const FwcValue *args,
                     int nargs, const char **kw, FwcValue *out)
{
    ExprNode consts[9], *argp[8], call, rnode;
    const char *nokw[8] = { NULL };
    if (nargs > 8) return FAIL("TypeError: too many arguments");
    memset(&call, 0, sizeof call);
    for (int i = 0; i < nargs; i++) {
        memset(&consts[i], 0, sizeof consts[i]);
        consts[i].kind = N_CONST;
        consts[i].k = args[i];
        argp[i] = &consts[i];
    }
    call.kind = (uint8_t)kind;
    call.op = (uint8_t)op;
    call.nargs = (uint16_t)nargs;
    call.args = argp;
    call.kwnames = kw ? kw : nokw;
    if (recv) {
        memset(&rnode, 0, sizeof rnode);
        rnode.kind = N_CONST;
        rnode.k = *recv;
        call.a = &rnode;
        call.name = fwc_expr_method_name(op);
        call.name_len = (uint32_t)strlen(call.name);
    }
    return fwc_expr_eval_node(ctx, &call, out);
}

int fwc_tmpl_builtin(ExprCtx *ctx, int id, const FwcValue *args, int nargs, FwcValue *out)
{
    return call_core(ctx, N_CALL_BUILTIN, id, NULL, args, nargs, NULL, out);
}
int fwc_tmpl_method(ExprCtx *ctx, int id, const FwcValue *recv, const FwcValue *args, int nargs,
                    FwcValue *out)
{
    return call_core(ctx, N_CALL_METHOD, id, recv, args, nargs, NULL, out);
}
int fwc_tmpl_util(ExprCtx *ctx, int id, const FwcValue *args, int nargs, const char **kw,
                  FwcValue *out)
{
    return call_core(ctx, N_CALL_UTIL, id, NULL, args, nargs, kw, out);
}

/* ---------- arguments ---------- */

/* Binds positional/keyword args onto params; missing optional ones keep their defaults
 * (the caller pre-fills slots). */
int fwc_tmpl_bind(ExprCtx *ctx, const char *fname, const char *const *params, FwcValue *args,
                  int nargs, const char **kw, FwcValue *slots, int *present)
{
    int np = 0;
    while (params[np]) np++;
    int pos = 0;
    for (int i = 0; i < nargs; i++) {
        if (!kw || !kw[i]) {
            if (pos >= np)
                return FAIL("TypeError: %s() takes up to %d arguments (%d given)", fname, np + 1,
                            nargs + 1);
            slots[pos] = args[i];
            if (present) present[pos] = 1;
            pos++;
            continue;
        }
        int j = 0;
        while (j < np && strcmp(params[j], kw[i]) != 0) j++;
        if (j == np)
            return FAIL("TypeError: %s() got an unexpected keyword argument '%s'", fname, kw[i]);
        slots[j] = args[i];
        if (present) present[j] = 1;
    }
    return 0;
}

/* the result string; its bytes are charged as work (every filter building text ends here) */
int fwc_tmpl_buf_value(ExprCtx *ctx, FwcBuf *b, FwcValue *out)
{
    int r = fwc_expr_charge(ctx, b->len) < 0
                ? -1
                : fwc_expr_new_str(ctx, b->data ? b->data : "", b->len, out);
    fwc_buf_free(b);
    return r;
}

/* lower-cased copy of a string (for case-insensitive sort/min/max/unique) */
int fwc_tmpl_ignore_case(ExprCtx *ctx, const FwcValue *v, int case_sensitive, FwcValue *out)
{
    if (case_sensitive || v->type != FWC_T_STR) {
        *out = *v;
        return 0;
    }
    return fwc_tmpl_method(ctx, M_LOWER, v, NULL, 0, out);
}

/* ---------- text and integers ---------- */

/* the code point at s[i] (a lone surrogate as its 3-byte form) and its byte length */
size_t fwc_tmpl_cp_at(const FwcValue *s, size_t i, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s->u.s;
    size_t k = 1;
    while (i + k < s->len && (u[i + k] & 0xC0) == 0x80) k++;
    uint32_t c = u[i];
    if (k > 1) c &= k == 2 ? 0x1F : k == 3 ? 0x0F : 0x07;
    for (size_t j = 1; j < k; j++) c = (c << 6) | (u[i + j] & 0x3Fu);
    *cp = c;
    return k;
}

/* v as an int for fname's argument (TypeError unless an int or bool) */
int fwc_tmpl_need_int(ExprCtx *ctx, const char *fname, const FwcValue *v, int64_t *out)
{
    if (v->type != FWC_T_INT && v->type != FWC_T_BOOL)
        return FAIL("TypeError: %s(): an integer is required, not '%s'", fname, TN(v));
    *out = v->u.i;
    return 0;
}

/* markupsafe asks a value for __html__; a frappe._dict answers None for any attribute,
 * so escaping one fails in Frappe. */
int fwc_tmpl_not_markup(ExprCtx *ctx)
{
    return FAIL("TypeError: 'NoneType' object is not callable");
}
