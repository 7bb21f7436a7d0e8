/* tmpl_render.c — rendering a compiled template on a document without the GIL, into an
 * FwcBuf, bounded in output size, loop iterations and evaluation steps.  Also the
 * evaluation of the Jinja-specific expression nodes (NJ_*) through the expression
 * engine's ext_eval hook, and Jinja's value semantics: str() and repr() output,
 * DebugUndefined, attribute access falling back to item access (and back), loop
 * variables (loop.cycle, loop.changed), `ns.attr` assignments. */
#include "tmpl/tmpl.h"

typedef struct {
    ExprCtx ctx;            /* first: the ext hook casts */
    const FwcTemplate *t;
    FwcValue *vars;
    FwcBuf *out;
    size_t out_start;
    int json_escape;
    int line;
    uint64_t iterations;
    struct { const void *items; uint32_t len, depth; } depth_memo[64];   /* see stored_depth */
} R;

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)

int fwc_tmpl_undefined(ExprCtx *ctx, const char *text, FwcValue *out)
{
    (void)ctx;
    *out = (FwcValue){.type = TMPL_T_UNDEF, .ascii = 0, .len = 0, .u.s = text};
    return 0;
}

static int undefined_fmt(ExprCtx *ctx, FwcValue *out, const char *fmt, ...)
{
    char tmp[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
    char *s = fwc_expr_alloc(ctx, (size_t)n + 1);
    if (!s) return -1;
    memcpy(s, tmp, (size_t)n);
    s[n] = '\0';
    return fwc_tmpl_undefined(ctx, s, out);
}

/* Jinja's object_type_repr */
static const char *type_repr(const FwcValue *v)
{
    switch (v->type) {
    case FWC_T_NULL: return "None";
    case FWC_T_BOOL: return "bool object";
    case FWC_T_INT: case FWC_T_BIGINT: return "int object";
    case FWC_T_FLOAT: return "float object";
    case FWC_T_STR: return "str object";
    case FWC_T_LIST: return "list object";
    case FWC_T_DICT: return "frappe._dict object";
    case FWC_T_TUPLE: return tmpl_is_group(v) ? "jinja2.filters._GroupTuple object" : "tuple object";
    case FWC_T_SET: return "set object";
    case FWC_T_RANGE: return "range object";
    case TMPL_T_LOOP: return "jinja2.runtime.LoopContext object";
    case TMPL_T_NS: return "jinja2.utils.Namespace object";
    default: return "object";
    }
}

const char *fwc_tmpl_type_name(const FwcValue *v)
{
    switch (v->type) {
    case TMPL_T_UNDEF: return "DebugUndefined";
    case TMPL_T_LOOP: return "LoopContext";
    case TMPL_T_NS: return "Namespace";
    case FWC_T_TUPLE: return tmpl_is_group(v) ? "_GroupTuple" : "tuple";
    default: return fwc_expr_type_name(v);
    }
}

/* "{{ no such element: list object[5] }}" */
typedef struct Seen Seen;
static int repr_special(FwcBuf *b, const FwcValue *v, int depth, const Seen *seen);

static int no_such_element(ExprCtx *ctx, const FwcValue *obj, const FwcValue *key, FwcValue *out)
{
    FwcBuf b = FWC_BUF_INIT;
    /* the key may be an Undefined itself: [1][x] -> "list object[Undefined]" */
    if (repr_special(&b, key, 0, NULL) < 0) {
        fwc_buf_free(&b);
        return fwc_expr_nomem(ctx);
    }
    int r = undefined_fmt(ctx, out, "{{ no such element: %s[%.*s] }}", type_repr(obj), (int)(b.len > 400 ? 400 : b.len),
                          b.data ? b.data : "");
    fwc_buf_free(&b);
    return r;
}

int fwc_tmpl_undefined_error(ExprCtx *ctx, const FwcValue *u)
{
    const char *s = u->u.s;
    if (u->ascii && strncmp(s, "{{ ", 3) == 0) {
        size_t n = strlen(s);
        return FAIL("UndefinedError: '%.*s' is undefined", (int)(n > 6 ? n - 6 : 0), s + 3);
    }
    return FAIL("UndefinedError: %s", *s ? s : "undefined value");
}

static int is_dict_method(const char *name, size_t n)
{
    static const char *const m[] = {"get", "keys", "values", "items", "pop", "update", "copy", "clear", "setdefault",
                                    "fromkeys", "popitem", NULL};
    for (int i = 0; m[i]; i++)
        if (strlen(m[i]) == n && memcmp(m[i], name, n) == 0) return 1;
    return 0;
}

static int loop_attr(ExprCtx *ctx, const TLoop *l, const char *name, size_t n, FwcValue *out)
{
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
    if (IS("index")) *out = fwc_int(l->index0 + 1);
    else if (IS("index0")) *out = fwc_int(l->index0);
    else if (IS("revindex")) *out = fwc_int(l->length - l->index0);
    else if (IS("revindex0")) *out = fwc_int(l->length - l->index0 - 1);
    else if (IS("first")) *out = fwc_bool(l->index0 == 0);
    else if (IS("last")) *out = fwc_bool(l->index0 == l->length - 1);
    else if (IS("length")) *out = fwc_int(l->length);
    else if (IS("depth")) *out = fwc_int(l->depth);
    else if (IS("depth0")) *out = fwc_int(l->depth - 1);
    else if (IS("previtem")) {
        if (l->index0 == 0) return fwc_tmpl_undefined(ctx, "{{ undefined value printed: there is no previous item }}", out);
        *out = l->items[l->index0 - 1];
    } else if (IS("nextitem")) {
        if (l->index0 >= l->length - 1) return fwc_tmpl_undefined(ctx, "{{ undefined value printed: there is no next item }}", out);
        *out = l->items[l->index0 + 1];
    } else {
        return undefined_fmt(ctx, out, "{{ no such element: jinja2.runtime.LoopContext object['%.*s'] }}", (int)n, name);
    }
    return 0;
#undef IS
}

static int str_key(ExprCtx *ctx, const char *name, size_t n, FwcValue *out)
{
    return fwc_expr_new_str(ctx, name, n, out);
}

/* Whether a str, list or tuple has the method (others are undefined attributes, as in
 * Jinja: "x".items is undefined, "x".upper a method). */
static int is_method_of(int id, int type)
{
    switch (id) {
    case M_GET: case M_KEYS: case M_VALUES: case M_ITEMS: return 0;
    case M_COUNT: case M_INDEX: return type == FWC_T_STR || type == FWC_T_LIST || type == FWC_T_TUPLE;
    default: return type == FWC_T_STR;
    }
}

int fwc_tmpl_getattr(ExprCtx *ctx, const FwcValue *obj, const char *name, size_t n, FwcValue *out)
{
    switch (obj->type) {
    case TMPL_T_UNDEF: return fwc_tmpl_undefined_error(ctx, obj);
    case TMPL_T_LOOP: return loop_attr(ctx, (const TLoop *)(const void *)obj->u.items, name, n, out);
    case TMPL_T_NS: {
        if (fwc_tmpl_namespace_get(obj, name, n, out)) return 0;
        FwcValue k;
        if (str_key(ctx, name, n, &k) < 0) return -1;
        return no_such_element(ctx, obj, &k, out);
    }
    case FWC_T_DICT:
        for (uint32_t i = obj->len; i-- > 0;) {
            const FwcValue *k = &obj->u.pairs[i].key;
            if (k->type == FWC_T_STR && k->len == n && memcmp(k->u.s, name, n) == 0) {
                *out = obj->u.pairs[i].value;
                return 0;
            }
        }
        if (is_dict_method(name, n)) return FAIL("TypeError: method '%.*s' must be called, e.g. doc.%.*s(...)", (int)n, name, (int)n, name);
        *out = fwc_null();   /* frappe._dict: a missing key is None */
        return 0;
    default: {
        if (tmpl_is_group(obj) && n == 7 && memcmp(name, "grouper", 7) == 0) {
            *out = obj->u.items[0];
            return 0;
        }
        if (tmpl_is_group(obj) && n == 4 && memcmp(name, "list", 4) == 0) {
            *out = obj->u.items[1];
            return 0;
        }
        int id = fwc_expr_method_id(name, n);
        if (id && is_method_of(id, obj->type)) return FAIL("TypeError: method '%.*s' must be called", (int)n, name);
        FwcValue k;
        if (str_key(ctx, name, n, &k) < 0) return -1;
        return no_such_element(ctx, obj, &k, out);
    }
    }
}

int fwc_tmpl_getitem(ExprCtx *ctx, const FwcValue *obj, const FwcValue *key, FwcValue *out)
{
    switch (obj->type) {
    case TMPL_T_UNDEF: return fwc_tmpl_undefined_error(ctx, obj);
    case TMPL_T_LOOP:
        if (key->type == FWC_T_STR) return loop_attr(ctx, (const TLoop *)(const void *)obj->u.items, key->u.s, key->len, out);
        return no_such_element(ctx, obj, key, out);
    case FWC_T_DICT:
        for (uint32_t i = obj->len; i-- > 0;)
            if (fwc_expr_equal(&obj->u.pairs[i].key, key)) {
                *out = obj->u.pairs[i].value;
                return 0;
            }
        if (key->type == FWC_T_STR) return fwc_tmpl_getattr(ctx, obj, key->u.s, key->len, out);
        return no_such_element(ctx, obj, key, out);
    case FWC_T_LIST: case FWC_T_TUPLE: case FWC_T_STR: {
        if (key->type != FWC_T_INT && key->type != FWC_T_BOOL) {
            if (key->type == FWC_T_STR) return fwc_tmpl_getattr(ctx, obj, key->u.s, key->len, out);
            return no_such_element(ctx, obj, key, out);
        }
        int64_t i = key->u.i;
        size_t n = obj->type == FWC_T_STR ? (obj->ascii ? obj->len : fwc_expr_utf8_len(obj->u.s, obj->len)) : obj->len;
        if (i < 0) i += (int64_t)n;
        if (i < 0 || (uint64_t)i >= n) return no_such_element(ctx, obj, key, out);
        if (obj->type != FWC_T_STR) {
            *out = obj->u.items[i];
            return 0;
        }
        size_t off = 0;
        for (int64_t c = 0; c < i; c++) {
            off++;
            while (off < obj->len && ((unsigned char)obj->u.s[off] & 0xC0) == 0x80) off++;
        }
        size_t k = 1;
        while (off + k < obj->len && ((unsigned char)obj->u.s[off + k] & 0xC0) == 0x80) k++;
        *out = (FwcValue){.type = FWC_T_STR, .ascii = (uint8_t)(k == 1), .len = (uint32_t)k, .u.s = obj->u.s + off};
        return 0;
    }
    default:
        if (key->type == FWC_T_STR) return fwc_tmpl_getattr(ctx, obj, key->u.s, key->len, out);
        return no_such_element(ctx, obj, key, out);
    }
}

int fwc_tmpl_items(ExprCtx *ctx, const FwcValue *v, FwcValue **items, uint32_t *n)
{
    switch (v->type) {
    case TMPL_T_UNDEF:
        *items = NULL;
        *n = 0;
        return 0;
    case FWC_T_LIST: case FWC_T_TUPLE: case FWC_T_SET:
        *items = v->u.items;
        *n = v->len;
        return 0;
    case FWC_T_DICT: {
        FwcValue *a = v->len ? fwc_expr_alloc(ctx, sizeof *a * v->len) : NULL;
        if (v->len && !a) return -1;
        for (uint32_t i = 0; i < v->len; i++) a[i] = v->u.pairs[i].key;
        *items = a;
        *n = v->len;
        return 0;
    }
    case FWC_T_RANGE: {
        FwcValue *a = v->len ? fwc_expr_alloc(ctx, sizeof *a * v->len) : NULL;
        if (v->len && !a) return -1;
        for (uint32_t i = 0; i < v->len; i++) a[i] = fwc_int(v->u.range[0] + (int64_t)i * v->u.range[1]);
        *items = a;
        *n = v->len;
        return 0;
    }
    case FWC_T_STR: {
        size_t cn = v->ascii ? v->len : fwc_expr_utf8_len(v->u.s, v->len);
        FwcValue *a = cn ? fwc_expr_alloc(ctx, sizeof *a * cn) : NULL;
        if (cn && !a) return -1;
        size_t off = 0;
        for (size_t i = 0; i < cn; i++) {
            size_t k = 1;
            while (off + k < v->len && ((unsigned char)v->u.s[off + k] & 0xC0) == 0x80) k++;
            a[i] = (FwcValue){.type = FWC_T_STR, .ascii = (uint8_t)(k == 1), .len = (uint32_t)k, .u.s = v->u.s + off};
            off += k;
        }
        *items = a;
        *n = (uint32_t)cn;
        return 0;
    }
    default:
        return FAIL("TypeError: '%s' object is not iterable", fwc_tmpl_type_name(v));
    }
}

/* Does a container hold template-only values (which have no Python repr here)? */
static int has_special(const FwcValue *v, int depth)
{
    if (v->type == TMPL_T_UNDEF || v->type == TMPL_T_LOOP || v->type == TMPL_T_NS) return 1;
    if (depth > FWC_MAX_DEPTH + FWC_EXPR_MAX_DEPTH) return 0;
    if (v->type == FWC_T_LIST || v->type == FWC_T_TUPLE || v->type == FWC_T_SET) {
        for (uint32_t i = 0; i < v->len; i++)
            if (has_special(&v->u.items[i], depth + 1)) return 1;
    } else if (v->type == FWC_T_DICT) {
        for (uint32_t i = 0; i < v->len; i++)
            if (has_special(&v->u.pairs[i].key, depth + 1) || has_special(&v->u.pairs[i].value, depth + 1)) return 1;
    }
    return 0;
}

/* the namespaces whose repr is in progress (Python's repr of a recursive dict: "{...}") */
struct Seen {
    const void *ns;
    const struct Seen *up;
};

/* repr() of a value that is or holds template-only values: repr(Undefined) is "Undefined",
 * a loop "<LoopContext 2/5>", a namespace "<Namespace {'a': 1}>" */
static int repr_special(FwcBuf *b, const FwcValue *v, int depth, const Seen *seen)
{
    if (depth > FWC_MAX_DEPTH + FWC_EXPR_MAX_DEPTH) return tmpl_puts(b, "...");   /* as fwc_expr_repr_append */
    if (v->type == TMPL_T_UNDEF) return tmpl_puts(b, "Undefined");
    if (v->type == TMPL_T_LOOP) {
        const TLoop *l = (const TLoop *)(const void *)v->u.items;
        char t[64];
        snprintf(t, sizeof t, "<LoopContext %lld/%lld>", (long long)(l->index0 + 1), (long long)l->length);
        return tmpl_puts(b, t);
    }
    if (v->type == TMPL_T_NS) {
        for (const Seen *s = seen; s; s = s->up)
            if (s->ns == (const void *)v->u.items) return tmpl_puts(b, "<Namespace {...}>");
        if (depth > FWC_MAX_DEPTH) return tmpl_puts(b, "<Namespace ...>");
        Seen me = {v->u.items, seen};
        FwcValue attrs = fwc_tmpl_namespace_attrs(v);
        if (tmpl_puts(b, "<Namespace ") < 0 || repr_special(b, &attrs, depth + 1, &me) < 0) return -1;
        return fwc_buf_putc(b, '>');
    }
    if (!has_special(v, depth)) return fwc_expr_repr_append(b, v, depth);
    if (v->type == FWC_T_DICT) {
        if (fwc_buf_putc(b, '{') < 0) return -1;
        for (uint32_t i = 0; i < v->len; i++)
            if ((i && tmpl_puts(b, ", ") < 0) || repr_special(b, &v->u.pairs[i].key, depth + 1, seen) < 0 ||
                tmpl_puts(b, ": ") < 0 || repr_special(b, &v->u.pairs[i].value, depth + 1, seen) < 0)
                return -1;
        return fwc_buf_putc(b, '}');
    }
    const char *open = v->type == FWC_T_LIST ? "[" : v->type == FWC_T_TUPLE ? "(" : "{";
    const char *close = v->type == FWC_T_LIST ? "]" : v->type == FWC_T_TUPLE ? ")" : "}";
    if (tmpl_puts(b, open) < 0) return -1;
    for (uint32_t i = 0; i < v->len; i++)
        if ((i && tmpl_puts(b, ", ") < 0) || repr_special(b, &v->u.items[i], depth + 1, seen) < 0) return -1;
    if (v->type == FWC_T_TUPLE && v->len == 1 && fwc_buf_putc(b, ',') < 0) return -1;
    return tmpl_puts(b, close);
}

int fwc_tmpl_str_append(ExprCtx *ctx, FwcBuf *b, const FwcValue *v)
{
    int r;
    if (v->type == FWC_T_STR) r = tmpl_append(b, v->u.s, v->len);
    else if (v->type == TMPL_T_UNDEF) r = tmpl_puts(b, v->u.s);
    else r = repr_special(b, v, 0, NULL);
    return r < 0 ? fwc_expr_nomem(ctx) : 0;
}

int fwc_tmpl_repr_append(ExprCtx *ctx, FwcBuf *b, const FwcValue *v)
{
    return repr_special(b, v, 0, NULL) < 0 ? fwc_expr_nomem(ctx) : 0;
}

int fwc_tmpl_equal(ExprCtx *ctx, const FwcValue *a, const FwcValue *b, int *res)
{
    int au = a->type == TMPL_T_UNDEF, bu = b->type == TMPL_T_UNDEF;
    if (au || bu) {
        *res = au && bu;   /* Undefined.__eq__: type(self) is type(other) */
        return 0;
    }
    if (a->type == TMPL_T_NS || b->type == TMPL_T_NS || a->type == TMPL_T_LOOP || b->type == TMPL_T_LOOP) {
        *res = a->type == b->type && a->u.items == b->u.items;   /* identity */
        return 0;
    }
    if (a->type == b->type && (a->type == FWC_T_LIST || a->type == FWC_T_TUPLE) && has_special(a, 0) + has_special(b, 0)) {
        *res = a->len == b->len;
        for (uint32_t i = 0; i < a->len && *res; i++)
            if (fwc_tmpl_equal(ctx, &a->u.items[i], &b->u.items[i], res) < 0) return -1;
        return 0;
    }
    return fwc_tmpl_compare(ctx, OP_EQ, a, b, res);
}

int fwc_tmpl_str_of(ExprCtx *ctx, const FwcValue *v, FwcValue *out)
{
    if (v->type == FWC_T_STR) {
        *out = *v;
        return 0;
    }
    FwcBuf b = FWC_BUF_INIT;
    if (fwc_tmpl_str_append(ctx, &b, v) < 0) {
        fwc_buf_free(&b);
        return -1;
    }
    int r = fwc_expr_new_str(ctx, b.data ? b.data : "", b.len, out);
    fwc_buf_free(&b);
    return r;
}

/* ---------- NJ_* nodes ---------- */

static int eval_args(ExprCtx *ctx, const ExprNode *n, FwcValue **args)
{
    *args = NULL;
    if (!n->nargs) return 0;
    FwcValue *a = fwc_expr_alloc(ctx, sizeof *a * n->nargs);
    if (!a) return -1;
    for (int i = 0; i < n->nargs; i++)
        if (fwc_expr_eval_node(ctx, n->args[i], &a[i]) < 0) return -1;
    *args = a;
    return 0;
}

static int ext_eval(ExprCtx *ctx, const ExprNode *n, FwcValue *out)
{
    R *r = (R *)ctx;
    switch (n->kind) {
    case NJ_UNDEF: return fwc_tmpl_undefined(ctx, n->name, out);
    case NJ_VAR: *out = r->vars[n->slot]; return 0;
    case NJ_GETATTR: {
        FwcValue obj;
        if (fwc_expr_eval_node(ctx, n->a, &obj) < 0) return -1;
        return fwc_tmpl_getattr(ctx, &obj, n->name, n->name_len, out);
    }
    case NJ_GETITEM: {
        FwcValue obj, key;
        if (fwc_expr_eval_node(ctx, n->a, &obj) < 0 || fwc_expr_eval_node(ctx, n->b, &key) < 0) return -1;
        return fwc_tmpl_getitem(ctx, &obj, &key, out);
    }
    case NJ_FILTER: {
        FwcValue in, *args;
        if (fwc_expr_eval_node(ctx, n->a, &in) < 0 || eval_args(ctx, n, &args) < 0) return -1;
        return fwc_tmpl_apply_filter(ctx, n->op, &in, args, n->nargs, n->kwnames, out);
    }
    case NJ_TEST: {
        FwcValue in, *args;
        int res;
        if (fwc_expr_eval_node(ctx, n->a, &in) < 0 || eval_args(ctx, n, &args) < 0) return -1;
        if (fwc_tmpl_apply_test(ctx, n->op, &in, args, n->nargs, &res) < 0) return -1;
        *out = fwc_bool(res);
        return 0;
    }
    case NJ_CONCAT: {
        FwcBuf b = FWC_BUF_INIT;
        for (int i = 0; i < n->nargs; i++) {
            FwcValue v;
            if (fwc_expr_eval_node(ctx, n->args[i], &v) < 0 || fwc_tmpl_str_append(ctx, &b, &v) < 0) {
                fwc_buf_free(&b);
                return -1;
            }
            if (b.len > FWC_EXPR_MAX_STR) {
                fwc_buf_free(&b);
                return FAIL("MemoryError: string result too long (limit %u bytes)", FWC_EXPR_MAX_STR);
            }
        }
        int rc = fwc_expr_new_str(ctx, b.data ? b.data : "", b.len, out);
        fwc_buf_free(&b);
        return rc;
    }
    case NJ_COND: {
        FwcValue c;
        if (fwc_expr_eval_node(ctx, n->b, &c) < 0) return -1;
        if (fwc_expr_truthy(&c)) return fwc_expr_eval_node(ctx, n->a, out);
        if (n->c) return fwc_expr_eval_node(ctx, n->c, out);
        return fwc_tmpl_undefined(ctx, "", out);
    }
    case NJ_CYCLE: {
        FwcValue obj, *args;
        if (fwc_expr_eval_node(ctx, n->a, &obj) < 0) return -1;
        if (obj.type == TMPL_T_UNDEF) return fwc_tmpl_undefined_error(ctx, &obj);
        if (obj.type != TMPL_T_LOOP) return FAIL("TypeError: only loop.cycle() can be called");
        if (!n->nargs) return FAIL("TypeError: no items for cycling given");
        if (eval_args(ctx, n, &args) < 0) return -1;
        const TLoop *l = (const TLoop *)(const void *)obj.u.items;
        *out = args[l->index0 % n->nargs];
        return 0;
    }
    case NJ_COMPARE: {
        FwcValue left, right;
        if (fwc_expr_eval_node(ctx, n->args[0], &left) < 0) return -1;
        for (int i = 0; i + 1 < n->nargs; i++) {
            if (fwc_expr_eval_node(ctx, n->args[i + 1], &right) < 0) return -1;
            int op = n->ops[i], res;
            int lu = left.type == TMPL_T_UNDEF, ru = right.type == TMPL_T_UNDEF;
            int lo = left.type == TMPL_T_NS || left.type == TMPL_T_LOOP, ro = right.type == TMPL_T_NS || right.type == TMPL_T_LOOP;
            if (op == OP_EQ || op == OP_NE) {
                /* Undefined: == only another Undefined; namespaces and loops: identity */
                if (fwc_tmpl_equal(ctx, &left, &right, &res) < 0) return -1;
                res = res == (op == OP_EQ);
            } else if (lu || ru) {
                /* Undefined iterates as empty; no ordering */
                if ((op == OP_IN || op == OP_NOTIN) && ru) res = op == OP_NOTIN;
                else if ((op == OP_IN || op == OP_NOTIN) && right.type != FWC_T_STR && right.type != FWC_T_DICT && right.type != FWC_T_SET) {
                    FwcValue *items;
                    uint32_t cnt, k = 0;
                    if (fwc_tmpl_items(ctx, &right, &items, &cnt) < 0) return -1;
                    while (k < cnt && items[k].type != TMPL_T_UNDEF) k++;
                    res = (k < cnt) == (op == OP_IN);
                } else {
                    return fwc_tmpl_undefined_error(ctx, lu ? &left : &right);
                }
            } else if (lo && (op == OP_IN || op == OP_NOTIN) && (right.type == FWC_T_LIST || right.type == FWC_T_TUPLE)) {
                /* a namespace in a list: identity */
                uint32_t k = 0;
                while (k < right.len && !(right.u.items[k].type == left.type && right.u.items[k].u.items == left.u.items)) k++;
                res = (k < right.len) == (op == OP_IN);
            } else if (ro && (op == OP_IN || op == OP_NOTIN)) {
                return FAIL("TypeError: argument of type '%s' is not iterable", fwc_tmpl_type_name(&right));
            } else if ((lo || ro) && op != OP_IN && op != OP_NOTIN) {
                static const char *const sym[] = {[OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">="};
                return FAIL("TypeError: '%s' not supported between instances of '%s' and '%s'", sym[op], fwc_tmpl_type_name(&left),
                            fwc_tmpl_type_name(&right));
            } else if (fwc_tmpl_compare(ctx, op, &left, &right, &res) < 0) {
                return -1;
            }
            if (!res) {
                *out = fwc_bool(0);
                return 0;
            }
            left = right;
        }
        *out = fwc_bool(1);
        return 0;
    }
    case NJ_CHANGED: {
        /* LoopContext.changed(*value): True when the arguments differ from the last call's */
        FwcValue obj, *args;
        if (fwc_expr_eval_node(ctx, n->a, &obj) < 0) return -1;
        if (obj.type == TMPL_T_UNDEF) return fwc_tmpl_undefined_error(ctx, &obj);
        if (obj.type != TMPL_T_LOOP) return FAIL("TypeError: only loop.changed() can be called");
        for (int i = 0; n->kwnames && i < n->nargs; i++)
            if (n->kwnames[i]) return FAIL("TypeError: LoopContext.changed() got an unexpected keyword argument '%s'", n->kwnames[i]);
        if (eval_args(ctx, n, &args) < 0) return -1;
        TLoop *l = (TLoop *)(void *)obj.u.items;
        int same = l->has_changed && l->nchanged == n->nargs;
        for (uint32_t i = 0; same && i < l->nchanged; i++)
            if (fwc_tmpl_equal(ctx, &l->changed[i], &args[i], &same) < 0) return -1;
        if (!same) {
            l->has_changed = 1;
            l->nchanged = n->nargs;
            l->changed = args;
        }
        *out = fwc_bool(!same);
        return 0;
    }
    case NJ_NAMESPACE: {
        FwcValue *args;
        if (eval_args(ctx, n, &args) < 0) return -1;
        return fwc_tmpl_namespace_new(ctx, args, n->nargs, n->kwnames, out);
    }
    case NJ_MOD: {
        /* Python's %: printf-style formatting when the left side is a str */
        FwcValue a, b;
        if (fwc_expr_eval_node(ctx, n->a, &a) < 0 || fwc_expr_eval_node(ctx, n->b, &b) < 0) return -1;
        if (a.type == FWC_T_STR) return fwc_tmpl_percent_format(ctx, &a, &b, out);
        if (a.type == TMPL_T_UNDEF || b.type == TMPL_T_UNDEF) return fwc_tmpl_undefined_error(ctx, a.type == TMPL_T_UNDEF ? &a : &b);
        ExprNode ca, cb, op;
        memset(&ca, 0, sizeof ca);
        memset(&cb, 0, sizeof cb);
        memset(&op, 0, sizeof op);
        ca.kind = cb.kind = N_CONST;
        ca.k = a;
        cb.k = b;
        op.kind = N_BINOP;
        op.op = OP_MOD;
        op.line = n->line;
        op.a = &ca;
        op.b = &cb;
        return fwc_expr_eval_node(ctx, &op, out);
    }
    }
    return FAIL("SystemError: corrupt template");
}

/* ---------- statements ---------- */

static int check_out(R *r)
{
    if (r->out->len - r->out_start > FWC_TMPL_MAX_OUTPUT) {
        ExprCtx *ctx = &r->ctx;
        return FAIL("RuntimeError: rendered output exceeds %u bytes", FWC_TMPL_MAX_OUTPUT);
    }
    return 0;
}

static int json_escape_append(ExprCtx *ctx, FwcBuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if (c == '"') rc = tmpl_append(b, "\\\"", 2);
        else if (c == '\\') rc = tmpl_append(b, "\\\\", 2);
        else if (c == '\n') rc = tmpl_append(b, "\\n", 2);
        else if (c == '\r') rc = tmpl_append(b, "\\r", 2);
        else if (c == '\t') rc = tmpl_append(b, "\\t", 2);
        else if (c == '\b') rc = tmpl_append(b, "\\b", 2);
        else if (c == '\f') rc = tmpl_append(b, "\\f", 2);
        else if (c < 0x20) {
            char t[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc = tmpl_append(b, t, 6);
        } else rc = fwc_buf_putc(b, (char)c);
        if (rc < 0) return fwc_expr_nomem(ctx);
    }
    return 0;
}

/* The depth of v (1 for a scalar), or more than FWC_TMPL_MAX_VALUE_DEPTH when it is
 * deeper (not explored further).  Namespaces are entered (their attributes may hold what
 * namespace(...) was given), except one already on the path (a cycle).  Large
 * containers are remembered by identity, so storing the same big value again in a loop
 * costs no second walk. */
static uint32_t stored_depth(R *r, const FwcValue *v, uint32_t depth, const Seen *seen)
{
    if (depth > FWC_TMPL_MAX_VALUE_DEPTH) return depth;
    if (v->type == TMPL_T_NS) {
        for (const Seen *s = seen; s; s = s->up)
            if (s->ns == (const void *)v->u.items) return depth;
        Seen me = {v->u.items, seen};
        FwcValue attrs = fwc_tmpl_namespace_attrs(v);
        return stored_depth(r, &attrs, depth, &me);
    }
    if (v->type != FWC_T_LIST && v->type != FWC_T_TUPLE && v->type != FWC_T_SET && v->type != FWC_T_DICT) return depth;
    size_t slot = ((uintptr_t)v->u.items >> 4) % (sizeof r->depth_memo / sizeof r->depth_memo[0]);
    int memo = v->len >= 8;
    if (memo && r->depth_memo[slot].items == v->u.items && r->depth_memo[slot].len == v->len)
        return depth - 1 + r->depth_memo[slot].depth;
    uint32_t max = depth;
    for (uint32_t i = 0; i < v->len && max <= FWC_TMPL_MAX_VALUE_DEPTH; i++) {
        uint32_t d = v->type == FWC_T_DICT ? stored_depth(r, &v->u.pairs[i].value, depth + 1, seen)
                                           : stored_depth(r, &v->u.items[i], depth + 1, seen);
        if (d > max) max = d;
        if (v->type == FWC_T_DICT && (d = stored_depth(r, &v->u.pairs[i].key, depth + 1, seen)) > max) max = d;
    }
    if (memo && max <= FWC_TMPL_MAX_VALUE_DEPTH && !seen) {
        r->depth_memo[slot].items = v->u.items;
        r->depth_memo[slot].len = v->len;
        r->depth_memo[slot].depth = max - depth + 1;
    }
    return max;
}

/* A value about to be stored: bounded in depth (see FWC_TMPL_MAX_VALUE_DEPTH) so that
 * what later compares, prints or serialises it recurses a bounded number of levels. */
static int check_stored(R *r, const FwcValue *v)
{
    ExprCtx *ctx = &r->ctx;
    if (stored_depth(r, v, 1, NULL) > FWC_TMPL_MAX_VALUE_DEPTH)
        return FAIL("ValueError: value nests too deeply (limit %d levels)", FWC_TMPL_MAX_VALUE_DEPTH);
    return 0;
}

/* one target: a name, or `ns.attr` (Jinja's NSRef: ns[attr] = v) */
static int assign(R *r, const TNode *n, int i, const FwcValue *v)
{
    ExprCtx *ctx = &r->ctx;
    if (!n->attrs[i]) {
        r->vars[n->slots[i]] = *v;
        return 0;
    }
    const FwcValue *ns = &r->vars[n->slots[i]];
    if (ns->type != TMPL_T_NS) return FAIL("TemplateRuntimeError: cannot assign attribute on non-namespace object");
    return fwc_tmpl_namespace_set(ctx, ns, n->attrs[i], strlen(n->attrs[i]), v);
}

/* Jinja checks every `ns.attr` target before it evaluates the value */
static int check_namespaces(R *r, const TNode *n)
{
    ExprCtx *ctx = &r->ctx;
    int k = n->nslots < 0 ? 1 : n->nslots;
    for (int i = 0; i < k; i++)
        if (n->attrs[i] && r->vars[n->slots[i]].type != TMPL_T_NS)
            return FAIL("TemplateRuntimeError: cannot assign attribute on non-namespace object");
    return 0;
}

static int bind(R *r, const TNode *n, const FwcValue *v)
{
    ExprCtx *ctx = &r->ctx;
    if (n->nslots < 0) return assign(r, n, 0, v);
    FwcValue *items;
    uint32_t cnt;
    if (v->type == TMPL_T_UNDEF) return fwc_tmpl_undefined_error(ctx, v);
    if (v->type != FWC_T_LIST && v->type != FWC_T_TUPLE && v->type != FWC_T_STR && v->type != FWC_T_DICT &&
        v->type != FWC_T_SET && v->type != FWC_T_RANGE)
        return FAIL("TypeError: cannot unpack non-iterable %s object", fwc_expr_type_name(v));
    if (fwc_tmpl_items(ctx, v, &items, &cnt) < 0) return -1;
    if ((int)cnt > n->nslots) return FAIL("ValueError: too many values to unpack (expected %d)", n->nslots);
    if ((int)cnt < n->nslots) return FAIL("ValueError: not enough values to unpack (expected %d, got %u)", n->nslots, cnt);
    for (int i = 0; i < n->nslots; i++)
        if (assign(r, n, i, &items[i]) < 0) return -1;
    return 0;
}

static int render_list(R *r, const TNode *n, int depth);

static int render_for(R *r, const TNode *n, int depth)
{
    ExprCtx *ctx = &r->ctx;
    FwcValue seq, *items;
    uint32_t cnt;
    if (fwc_expr_eval_node(ctx, n->expr, &seq) < 0) return -1;
    if (fwc_tmpl_items(ctx, &seq, &items, &cnt) < 0) return -1;
    int nv = r->t->nvars;
    FwcValue *saved = fwc_expr_alloc(ctx, sizeof *saved * (size_t)nv);
    if (!saved) return -1;
    memcpy(saved, r->vars, sizeof *saved * (size_t)nv);
    if (n->filter && cnt) {
        FwcValue *kept = fwc_expr_alloc(ctx, sizeof *kept * cnt);
        uint32_t k = 0;
        if (!kept) return -1;
        for (uint32_t i = 0; i < cnt; i++) {
            FwcValue c;
            if (++r->iterations > FWC_TMPL_MAX_ITER) return FAIL("RuntimeError: template loops exceeded %d iterations", FWC_TMPL_MAX_ITER);
            if (bind(r, n, &items[i]) < 0 || fwc_expr_eval_node(ctx, n->filter, &c) < 0) return -1;
            if (fwc_expr_truthy(&c)) kept[k++] = items[i];
        }
        items = kept;
        cnt = k;
        memcpy(r->vars, saved, sizeof *saved * (size_t)nv);
    }
    TLoop *loop = fwc_expr_alloc(ctx, sizeof *loop);
    if (!loop) return -1;
    loop->items = items;
    loop->length = cnt;
    loop->depth = 1;
    loop->has_changed = 0;
    loop->nchanged = 0;
    loop->changed = NULL;
    const FwcValue *outer = &saved[n->loop_slot];
    if (outer->type == TMPL_T_LOOP) loop->depth = ((const TLoop *)(const void *)outer->u.items)->depth + 1;
    FwcValue lv = {.type = TMPL_T_LOOP, .len = 1, .u.items = (FwcValue *)(void *)loop};
    for (uint32_t i = 0; i < cnt; i++) {
        if (++r->iterations > FWC_TMPL_MAX_ITER) return FAIL("RuntimeError: template loops exceeded %d iterations", FWC_TMPL_MAX_ITER);
        /* each iteration starts from the enclosing scope (Jinja's loop frame) */
        memcpy(r->vars, saved, sizeof *saved * (size_t)nv);
        loop->index0 = i;
        r->vars[n->loop_slot] = lv;
        if (bind(r, n, &items[i]) < 0) return -1;
        if (render_list(r, n->body, depth + 1) < 0) return -1;
    }
    memcpy(r->vars, saved, sizeof *saved * (size_t)nv);
    if (!cnt && n->orelse) return render_list(r, n->orelse, depth + 1);
    return 0;
}

static int render_list(R *r, const TNode *n, int depth)
{
    ExprCtx *ctx = &r->ctx;
    for (; n; n = n->next) {
        r->line = n->line;
        switch (n->kind) {
        case T_DATA:
            if (tmpl_append(r->out, n->text, n->len) < 0) return fwc_expr_nomem(ctx);
            break;
        case T_OUTPUT: {
            FwcValue v;
            if (fwc_expr_eval_node(ctx, n->expr, &v) < 0) return -1;
            if (r->json_escape && n->in_json_string) {
                FwcValue s;
                if (fwc_tmpl_str_of(ctx, &v, &s) < 0 || json_escape_append(ctx, r->out, s.u.s, s.len) < 0) return -1;
            } else if (fwc_tmpl_str_append(ctx, r->out, &v) < 0) {
                return -1;
            }
            break;
        }
        case T_IF: {
            FwcValue c;
            if (fwc_expr_eval_node(ctx, n->expr, &c) < 0) return -1;
            if (fwc_expr_truthy(&c)) {
                if (render_list(r, n->body, depth + 1) < 0) return -1;
            } else if (n->orelse && render_list(r, n->orelse, depth + 1) < 0) {
                return -1;
            }
            break;
        }
        case T_FOR:
            if (render_for(r, n, depth) < 0) return -1;
            break;
        case T_SET: {
            FwcValue v;
            if (check_namespaces(r, n) < 0 || fwc_expr_eval_node(ctx, n->expr, &v) < 0 || check_stored(r, &v) < 0 ||
                bind(r, n, &v) < 0)
                return -1;
            break;
        }
        case T_SETBLOCK: {
            FwcBuf *saved_out = r->out;
            size_t saved_start = r->out_start;
            FwcBuf b = FWC_BUF_INIT;
            r->out = &b;
            r->out_start = 0;
            int rc = render_list(r, n->body, depth + 1);
            r->out = saved_out;
            r->out_start = saved_start;
            FwcValue v;
            if (rc < 0 || fwc_expr_new_str(ctx, b.data ? b.data : "", b.len, &v) < 0) {
                fwc_buf_free(&b);
                return -1;
            }
            fwc_buf_free(&b);
            if (assign(r, n, 0, &v) < 0) return -1;
            break;
        }
        case T_WITH: {
            int nv = r->t->nvars;
            FwcValue *saved = fwc_expr_alloc(ctx, sizeof *saved * (size_t)nv);
            FwcValue vals[8];
            if (!saved) return -1;
            memcpy(saved, r->vars, sizeof *saved * (size_t)nv);
            for (int i = 0; i < n->nslots; i++)
                if (fwc_expr_eval_node(ctx, n->values[i], &vals[i]) < 0 || check_stored(r, &vals[i]) < 0) return -1;
            for (int i = 0; i < n->nslots; i++) r->vars[n->slots[i]] = vals[i];
            if (render_list(r, n->body, depth + 1) < 0) return -1;
            memcpy(r->vars, saved, sizeof *saved * (size_t)nv);
            break;
        }
        }
        if (check_out(r) < 0) return -1;
    }
    return 0;
}

FwcStatus fwc_tmpl_render(const FwcTemplate *t, const FwcValue *doc, int json_escape, FwcBuf *out, FwcError *err)
{
    FwcArena scratch = {0};
    FwcValue vars[FWC_TMPL_MAX_VARS];
    R r;
    memset(&r.ctx, 0, sizeof r.ctx);
    r.ctx.vars = vars;
    r.ctx.arena = &scratch;
    r.ctx.err = err;
    r.ctx.ext_eval = ext_eval;
    r.t = t;
    r.vars = vars;
    r.out = out;
    r.out_start = out->len;
    r.json_escape = json_escape;
    r.line = 1;
    r.iterations = 0;
    memset(r.depth_memo, 0, sizeof r.depth_memo);
    err->code = FWC_OK;
    err->line = err->col = 0;
    err->message[0] = '\0';
    FwcStatus st = FWC_OK;
    for (int i = 0; i < t->nvars; i++) {
        size_t n = strlen(t->var_names[i]);
        char *s = fwc_arena_alloc(&scratch, n + 7);
        if (!s) {
            st = fwc_error_set(err, FWC_ENOMEM, "out of memory");
            goto done;
        }
        memcpy(s, "{{ ", 3);
        memcpy(s + 3, t->var_names[i], n);
        memcpy(s + 3 + n, " }}", 4);
        vars[i] = (FwcValue){.type = TMPL_T_UNDEF, .ascii = 1, .len = 0, .u.s = s};
    }
    vars[t->doc_slot] = *doc;
    if (render_list(&r, t->root, 0) < 0) {
        if (err->code == FWC_ENOMEM) {
            st = FWC_ENOMEM;
        } else {
            char msg[sizeof err->message];
            snprintf(msg, sizeof msg, "%s", err->message);
            st = fwc_error_set(err, FWC_ETEMPLATE, "line %d: %s", r.line, msg);
            err->line = r.line;
        }
    }
done:
    fwc_arena_free(&scratch);
    return st;
}
