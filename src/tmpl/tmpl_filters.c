/* tmpl_filters.c — Jinja's built-in filters and tests (jinja2/filters.py, tests.py) as
 * Frappe's environment has them: its json/len/int/str/flt replace or add to Jinja's
 * (int is Frappe's cint).  Python semantics come from the expression engine: filters
 * call its builtins, str methods and utils through small constant-argument nodes.
 * No GIL. */
#include "tmpl/tmpl.h"
#include <math.h>

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)

enum {
    F_ABS = 1,
    F_ATTR,
    F_BATCH,
    F_CAPITALIZE,
    F_CENTER,
    F_COUNT,
    F_DEFAULT,
    F_D,
    F_DICTSORT,
    F_ESCAPE,
    F_E,
    F_FIRST,
    F_FLOAT,
    F_INDENT,
    F_INT,
    F_JOIN,
    F_LAST,
    F_LENGTH,
    F_LIST,
    F_LOWER,
    F_MAP,
    F_MAX,
    F_MIN,
    F_REJECT,
    F_REJECTATTR,
    F_REPLACE,
    F_REVERSE,
    F_ROUND,
    F_SAFE,
    F_SELECT,
    F_SELECTATTR,
    F_SLICE,
    F_SORT,
    F_STRING,
    F_STRIPTAGS,
    F_SUM,
    F_TITLE,
    F_TOJSON,
    F_TRIM,
    F_TRUNCATE,
    F_UNIQUE,
    F_UPPER,
    F_URLENCODE,
    F_WORDCOUNT,
    F_JSON,
    F_LEN,
    F_STR,
    F_FLT,
    F_FORMAT,
    F_GROUPBY,
};

static const char *const FILTERS[] = {
    "",          "abs",       "attr",      "batch",      "capitalize", "center",   "count",
    "default",   "d",         "dictsort",  "escape",     "e",          "first",    "float",
    "indent",    "int",       "join",      "last",       "length",     "list",     "lower",
    "map",       "max",       "min",       "reject",     "rejectattr", "replace",  "reverse",
    "round",     "safe",      "select",    "selectattr", "slice",      "sort",     "string",
    "striptags", "sum",       "title",     "tojson",     "trim",       "truncate", "unique",
    "upper",     "urlencode", "wordcount", "json",       "len",        "str",      "flt",
    "format",    "groupby",   NULL,
};

enum {
    X_DEFINED = 1,
    X_UNDEFINED,
    X_NONE,
    X_NUMBER,
    X_STRING,
    X_MAPPING,
    X_SEQUENCE,
    X_ITERABLE,
    X_BOOLEAN,
    X_TRUE,
    X_FALSE,
    X_INTEGER,
    X_FLOAT,
    X_EVEN,
    X_ODD,
    X_DIVISIBLEBY,
    X_EQ,
    X_NE,
    X_LT,
    X_LE,
    X_GT,
    X_GE,
    X_IN,
    X_LOWER,
    X_UPPER,
    X_SAMEAS,
    X_EQUALTO,
    X_GREATERTHAN,
    X_LESSTHAN,
};

static const char *const TESTS[] = {
    "",        "defined",  "undefined", "none",    "number",      "string",
    "mapping", "sequence", "iterable",  "boolean", "true",        "false",
    "integer", "float",    "even",      "odd",     "divisibleby", "eq",
    "ne",      "lt",       "le",        "gt",      "ge",          "in",
    "lower",   "upper",    "sameas",    "equalto", "greaterthan", "lessthan",
    NULL,
};

static int find(const char *const *names, const char *s, size_t n)
{
    for (int i = 1; names[i]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) return i;
    return 0;
}

int fwc_tmpl_filter_id(const char *name, size_t n) { return find(FILTERS, name, n); }
int fwc_tmpl_test_id(const char *name, size_t n) { return find(TESTS, name, n); }

/* ---------- select/reject/map: filters that call tests and filters by name ---------- */

static int run_test_by_name(ExprCtx *ctx, const FwcValue *name, const FwcValue *item,
                            FwcValue *args, int nargs, int *res)
{
    if (name->type != FWC_T_STR) return FAIL("TypeError: test name must be a string");
    int id = fwc_tmpl_test_id(name->u.s, name->len);
    if (!id) return FAIL("TemplateRuntimeError: No test named '%.*s'.", (int)name->len, name->u.s);
    return fwc_tmpl_apply_test(ctx, id, item, args, nargs, res);
}

/* by_attr: selectattr/rejectattr; want: the test result kept (1 select, 0 reject) */
static int select_filter(ExprCtx *ctx, int by_attr, int want, const FwcValue *in, FwcValue *args,
                         int nargs, FwcValue *out)
{
    FwcValue *items;
    uint32_t n;
    if (!fwc_expr_truthy(in)) { /* Jinja: `if value:` before anything else */
        *out = tmpl_list_value(FWC_T_LIST, NULL, 0);
        return 0;
    }
    if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
    if (by_attr && nargs < 1) return FAIL("TypeError: Missing parameter for attribute name");
    FwcValue *res = n ? fwc_expr_alloc(ctx, sizeof *res * n) : NULL;
    if (n && !res) return -1;
    uint32_t k = 0;
    int off = by_attr ? 1 : 0;
    for (uint32_t i = 0; i < n; i++) {
        FwcValue v = items[i];
        if (by_attr && fwc_tmpl_get_path(ctx, &items[i], &args[0], NULL, &v) < 0) return -1;
        int t;
        if (nargs > off) {
            if (run_test_by_name(ctx, &args[off], &v, args + off + 1, nargs - off - 1, &t) < 0)
                return -1;
        } else {
            t = fwc_expr_truthy(&v);
        }
        if (t == want) res[k++] = items[i];
    }
    *out = tmpl_list_value(FWC_T_LIST, res, k);
    return 0;
}

static int map_filter(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                      FwcValue *out)
{
    if (!fwc_expr_truthy(in)) {
        *out = tmpl_list_value(FWC_T_LIST, NULL, 0);
        return 0;
    }
    FwcValue *items;
    uint32_t n;
    if (fwc_tmpl_items(ctx, in, &items, &n) < 0) return -1;
    FwcValue *res = n ? fwc_expr_alloc(ctx, sizeof *res * n) : NULL;
    if (n && !res) return -1;
    int attr_i = -1, dflt_i = -1;
    for (int i = 0; kw && i < nargs; i++) {
        if (kw[i] && !strcmp(kw[i], "attribute")) attr_i = i;
        else if (kw[i] && !strcmp(kw[i], "default")) dflt_i = i;
        else if (kw[i])
            return FAIL("TypeError: map() got an unexpected keyword argument '%s'", kw[i]);
    }
    if (attr_i < 0 && (nargs < 1 || (kw && kw[0])))
        return FAIL("FilterArgumentError: map requires a filter argument");
    int fid = 0;
    if (attr_i < 0) {
        if (args[0].type != FWC_T_STR || !(fid = fwc_tmpl_filter_id(args[0].u.s, args[0].len)))
            return FAIL("TemplateRuntimeError: No filter named '%.*s'.",
                        (int)(args[0].type == FWC_T_STR ? args[0].len : 0),
                        args[0].type == FWC_T_STR ? args[0].u.s : "");
    }
    for (uint32_t i = 0; i < n; i++) {
        if (attr_i >= 0) {
            if (fwc_tmpl_get_path(ctx, &items[i], &args[attr_i], NULL, &res[i]) < 0) return -1;
            if (dflt_i >= 0 && tmpl_is_undef(&res[i])) res[i] = args[dflt_i];
        } else if (fwc_tmpl_apply_filter(ctx, fid, &items[i], args + 1, nargs - 1,
                                         kw ? kw + 1 : NULL, &res[i]) < 0) {
            return -1;
        }
    }
    *out = tmpl_list_value(FWC_T_LIST, res, n);
    return 0;
}

/* select, reject, selectattr, rejectattr */
static int select_kw(ExprCtx *ctx, const char *fname, int by_attr, int want, const FwcValue *in,
                     FwcValue *args, int nargs, const char **kw, FwcValue *out)
{
    for (int i = 0; kw && i < nargs; i++)
        if (kw[i]) return FAIL("TypeError: %s() takes no keyword arguments", fname);
    return select_filter(ctx, by_attr, want, in, args, nargs, out);
}

static int f_select(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                    FwcValue *out)
{
    return select_kw(ctx, "select", 0, 1, in, args, nargs, kw, out);
}

static int f_reject(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs, const char **kw,
                    FwcValue *out)
{
    return select_kw(ctx, "reject", 0, 0, in, args, nargs, kw, out);
}

static int f_selectattr(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                        const char **kw, FwcValue *out)
{
    return select_kw(ctx, "selectattr", 1, 1, in, args, nargs, kw, out);
}

static int f_rejectattr(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int nargs,
                        const char **kw, FwcValue *out)
{
    return select_kw(ctx, "rejectattr", 1, 0, in, args, nargs, kw, out);
}

/* ---------- the filter table ---------- */

static const TmplFilterFn FILTER_FNS[] = {
    [F_ABS] = fwc_tmpl_f_abs,
    [F_ATTR] = fwc_tmpl_f_attr,
    [F_BATCH] = fwc_tmpl_f_batch,
    [F_CAPITALIZE] = fwc_tmpl_f_capitalize,
    [F_CENTER] = fwc_tmpl_f_center,
    [F_COUNT] = fwc_tmpl_f_count,
    [F_DEFAULT] = fwc_tmpl_f_default,
    [F_D] = fwc_tmpl_f_default,
    [F_DICTSORT] = fwc_tmpl_f_dictsort,
    [F_ESCAPE] = fwc_tmpl_f_escape,
    [F_E] = fwc_tmpl_f_escape,
    [F_FIRST] = fwc_tmpl_f_first,
    [F_FLOAT] = fwc_tmpl_f_float,
    [F_INDENT] = fwc_tmpl_f_indent,
    [F_INT] = fwc_tmpl_f_int,
    [F_JOIN] = fwc_tmpl_f_join,
    [F_LAST] = fwc_tmpl_f_last,
    [F_LENGTH] = fwc_tmpl_f_length,
    [F_LIST] = fwc_tmpl_f_list,
    [F_LOWER] = fwc_tmpl_f_lower,
    [F_MAP] = map_filter,
    [F_MAX] = fwc_tmpl_f_max,
    [F_MIN] = fwc_tmpl_f_min,
    [F_REJECT] = f_reject,
    [F_REJECTATTR] = f_rejectattr,
    [F_REPLACE] = fwc_tmpl_f_replace,
    [F_REVERSE] = fwc_tmpl_f_reverse,
    [F_ROUND] = fwc_tmpl_f_round,
    [F_SAFE] = fwc_tmpl_f_safe,
    [F_SELECT] = f_select,
    [F_SELECTATTR] = f_selectattr,
    [F_SLICE] = fwc_tmpl_f_slice,
    [F_SORT] = fwc_tmpl_f_sort,
    [F_STRING] = fwc_tmpl_f_string,
    [F_STRIPTAGS] = fwc_tmpl_f_striptags,
    [F_SUM] = fwc_tmpl_f_sum,
    [F_TITLE] = fwc_tmpl_f_title,
    [F_TOJSON] = fwc_tmpl_f_tojson,
    [F_TRIM] = fwc_tmpl_f_trim,
    [F_TRUNCATE] = fwc_tmpl_f_truncate,
    [F_UNIQUE] = fwc_tmpl_f_unique,
    [F_UPPER] = fwc_tmpl_f_upper,
    [F_URLENCODE] = fwc_tmpl_f_urlencode,
    [F_WORDCOUNT] = fwc_tmpl_f_wordcount,
    [F_JSON] = fwc_tmpl_f_json,
    [F_LEN] = fwc_tmpl_f_len,
    [F_STR] = fwc_tmpl_f_str,
    [F_FLT] = fwc_tmpl_f_flt,
    [F_FORMAT] = fwc_tmpl_filter_format,
    [F_GROUPBY] = fwc_tmpl_filter_groupby,
};

int fwc_tmpl_apply_filter(ExprCtx *ctx, int id, const FwcValue *in, FwcValue *args, int nargs,
                          const char **kw, FwcValue *out)
{
    TmplFilterFn fn =
        id > 0 && (size_t)id < sizeof FILTER_FNS / sizeof FILTER_FNS[0] ? FILTER_FNS[id] : NULL;
    if (!fn) return FAIL("SystemError: unknown filter");
    return fn(ctx, in, args, nargs, kw, out);
}

/* ---------- tests ---------- */

static int is_number(const FwcValue *v)
{
    return v->type == FWC_T_INT || v->type == FWC_T_BIGINT || v->type == FWC_T_FLOAT ||
           v->type == FWC_T_BOOL;
}

/* A test: in is name(args) into *out (0/1); 0, or -1 with the error set.  The argument
 * count is checked before (fwc_tmpl_apply_test). */
typedef int (*TmplTestFn)(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out);

static int x_defined(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    *out = in->type != TMPL_T_UNDEF;
    return 0;
}
static int x_undefined(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    *out = in->type == TMPL_T_UNDEF;
    return 0;
}
static int x_none(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    *out = in->type == FWC_T_NULL;
    return 0;
}
static int x_number(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    *out = is_number(in);
    return 0;
}
static int x_string(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    *out = in->type == FWC_T_STR;
    return 0;
}
static int x_mapping(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    *out = in->type == FWC_T_DICT;
    return 0;
}
static int x_sequence(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    int t = in->type;
    *out = t == FWC_T_STR || t == FWC_T_LIST || t == FWC_T_TUPLE || t == FWC_T_DICT ||
           t == FWC_T_RANGE || t == TMPL_T_UNDEF;
    return 0;
}
static int x_iterable(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    int t = in->type;
    *out = t == FWC_T_STR || t == FWC_T_LIST || t == FWC_T_TUPLE || t == FWC_T_DICT ||
           t == FWC_T_SET || t == FWC_T_RANGE || t == TMPL_T_UNDEF || t == TMPL_T_LOOP;
    return 0;
}
static int x_boolean(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    *out = in->type == FWC_T_BOOL;
    return 0;
}
static int x_true(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    *out = in->type == FWC_T_BOOL && in->u.i;
    return 0;
}
static int x_false(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    *out = in->type == FWC_T_BOOL && !in->u.i;
    return 0;
}
static int x_integer(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    *out = in->type == FWC_T_INT || in->type == FWC_T_BIGINT;
    return 0;
}
static int x_float(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    *out = in->type == FWC_T_FLOAT;
    return 0;
}

/* even, odd, divisibleby: in % divisor == rem */
static int mod_test(ExprCtx *ctx, const FwcValue *in, const FwcValue *divisor, int rem, int *out)
{
    FwcValue r, want = fwc_int(rem);
    ExprNode ca, cb, op;
    memset(&ca, 0, sizeof ca);
    memset(&cb, 0, sizeof cb);
    memset(&op, 0, sizeof op);
    ca.kind = cb.kind = N_CONST;
    ca.k = *in;
    cb.k = *divisor;
    op.kind = N_BINOP;
    op.op = OP_MOD;
    op.a = &ca;
    op.b = &cb;
    if (fwc_expr_eval_node(ctx, &op, &r) < 0) return -1;
    int eq;
    if (fwc_tmpl_compare(ctx, OP_EQ, &r, &want, &eq) < 0) return -1;
    *out = eq;
    return 0;
}
static int x_even(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    FwcValue two = fwc_int(2);
    return mod_test(ctx, in, &two, 0, out);
}
/* Jinja: odd is `value % 2 == 1` (not "not even": 1.5 is neither) */
static int x_odd(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    FwcValue two = fwc_int(2);
    return mod_test(ctx, in, &two, 1, out);
}
static int x_divisibleby(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    return mod_test(ctx, in, &args[0], 0, out);
}

static int x_eq(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    return fwc_tmpl_compare(ctx, OP_EQ, in, &args[0], out);
}
static int x_ne(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    return fwc_tmpl_compare(ctx, OP_NE, in, &args[0], out);
}
static int x_lt(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    return fwc_tmpl_compare(ctx, OP_LT, in, &args[0], out);
}
static int x_le(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    return fwc_tmpl_compare(ctx, OP_LE, in, &args[0], out);
}
static int x_gt(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    return fwc_tmpl_compare(ctx, OP_GT, in, &args[0], out);
}
static int x_ge(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    return fwc_tmpl_compare(ctx, OP_GE, in, &args[0], out);
}
static int x_in(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    return fwc_tmpl_compare(ctx, OP_IN, in, &args[0], out);
}

/* lower, upper: str(in) equals its lower (upper) case and not the other */
static int case_test(ExprCtx *ctx, const FwcValue *in, int upper, int *out)
{
    FwcValue s, l, u;
    if (fwc_tmpl_str_of(ctx, in, &s) < 0 || fwc_tmpl_method(ctx, M_LOWER, &s, NULL, 0, &l) < 0 ||
        fwc_tmpl_method(ctx, M_UPPER, &s, NULL, 0, &u) < 0)
        return -1;
    int eq_l = fwc_expr_equal(&s, &l), eq_u = fwc_expr_equal(&s, &u);
    *out = !upper ? eq_l && !eq_u : eq_u && !eq_l;
    return 0;
}
static int x_lower(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    return case_test(ctx, in, 0, out);
}
static int x_upper(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    return case_test(ctx, in, 1, out);
}

static int x_sameas(ExprCtx *ctx, const FwcValue *in, FwcValue *args, int *out)
{
    const FwcValue *o = &args[0];
    int t = in->type;
    *out = (t == FWC_T_NULL && o->type == FWC_T_NULL) ||
           (t == FWC_T_BOOL && o->type == FWC_T_BOOL && in->u.i == o->u.i) ||
           (t == TMPL_T_UNDEF && o->type == TMPL_T_UNDEF && in->u.s == o->u.s) ||
           (t == FWC_T_INT && o->type == FWC_T_INT && in->u.i == o->u.i && in->u.i >= -5 &&
            in->u.i <= 256) ||
           ((t == FWC_T_LIST || t == FWC_T_DICT) && o->type == t && in->u.items == o->u.items &&
            in->len == o->len) ||
           ((t == TMPL_T_NS || t == TMPL_T_LOOP) && o->type == t && in->u.items == o->u.items);
    return 0;
}

static const TmplTestFn TEST_FNS[] = {
    [X_DEFINED] = x_defined,
    [X_UNDEFINED] = x_undefined,
    [X_NONE] = x_none,
    [X_NUMBER] = x_number,
    [X_STRING] = x_string,
    [X_MAPPING] = x_mapping,
    [X_SEQUENCE] = x_sequence,
    [X_ITERABLE] = x_iterable,
    [X_BOOLEAN] = x_boolean,
    [X_TRUE] = x_true,
    [X_FALSE] = x_false,
    [X_INTEGER] = x_integer,
    [X_FLOAT] = x_float,
    [X_EVEN] = x_even,
    [X_ODD] = x_odd,
    [X_DIVISIBLEBY] = x_divisibleby,
    [X_EQ] = x_eq,
    [X_NE] = x_ne,
    [X_LT] = x_lt,
    [X_LE] = x_le,
    [X_GT] = x_gt,
    [X_GE] = x_ge,
    [X_IN] = x_in,
    [X_LOWER] = x_lower,
    [X_UPPER] = x_upper,
    [X_SAMEAS] = x_sameas,
    [X_EQUALTO] = x_eq,
    [X_GREATERTHAN] = x_gt,
    [X_LESSTHAN] = x_lt,
};

int fwc_tmpl_apply_test(ExprCtx *ctx, int id, const FwcValue *in, FwcValue *args, int nargs,
                        int *out)
{
    int needs =
        id == X_DIVISIBLEBY || (id >= X_EQ && id <= X_IN) || id == X_SAMEAS || id >= X_EQUALTO;
    if (needs && nargs != 1)
        return FAIL("TypeError: test '%s' takes exactly one argument", TESTS[id]);
    if (!needs && nargs) return FAIL("TypeError: test '%s' takes no arguments", TESTS[id]);
    TmplTestFn fn =
        id > 0 && (size_t)id < sizeof TEST_FNS / sizeof TEST_FNS[0] ? TEST_FNS[id] : NULL;
    if (!fn) return FAIL("SystemError: unknown test");
    return fn(ctx, in, args, out);
}
