/* tmpl_render.c — rendering a compiled template on a document without the GIL, into an
 * FwcBuf, bounded in output size, loop iterations and evaluation steps: the statements
 * (output, if, for with its loop variable, set, set blocks, with, `ns.attr`
 * assignments, the depth bound on stored values) and the evaluation of the
 * Jinja-specific expression nodes (NJ_*) through the expression engine's ext_eval hook,
 * with loop.cycle and loop.changed.  The top of rendering: it calls the
 * filters, formatting and namespace(), and Jinja's value semantics (str() and repr()
 * output, DebugUndefined, attribute access, comparisons) in tmpl_value.c. */
#include "tmpl/tmpl.h"

typedef struct {
    ExprCtx ctx; /* first: the ext hook casts */
    const FwcTemplate *t;
    FwcValue *vars;
    FwcBuf *out;
    size_t out_start;
    int json_escape;
    int line;
    uint64_t iterations;
    struct {
        const void *items;
        uint32_t len, depth;
    } depth_memo[64]; /* see stored_depth */
} R;

#define FAIL(...) fwc_expr_fail(ctx, __VA_ARGS__)

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
        if (fwc_expr_eval_node(ctx, n->a, &obj) < 0 || fwc_expr_eval_node(ctx, n->b, &key) < 0)
            return -1;
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
            if (fwc_expr_eval_node(ctx, n->args[i], &v) < 0 ||
                fwc_tmpl_str_append(ctx, &b, &v) < 0) {
                fwc_buf_free(&b);
                return -1;
            }
            if (b.len > FWC_EXPR_MAX_STR) {
                fwc_buf_free(&b);
                return FAIL("MemoryError: string result too long (limit %u bytes)",
                            FWC_EXPR_MAX_STR);
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
            int lo = left.type == TMPL_T_NS || left.type == TMPL_T_LOOP,
                ro = right.type == TMPL_T_NS || right.type == TMPL_T_LOOP;
            if (op == OP_EQ || op == OP_NE) {
                /* Undefined: == only another Undefined; namespaces and loops: identity */
                if (fwc_tmpl_equal(ctx, &left, &right, &res) < 0) return -1;
                res = res == (op == OP_EQ);
            } else if (lu || ru) {
                /* Undefined iterates as empty; no ordering */
                if ((op == OP_IN || op == OP_NOTIN) && ru) res = op == OP_NOTIN;
                else if ((op == OP_IN || op == OP_NOTIN) && right.type != FWC_T_STR &&
                         right.type != FWC_T_DICT && right.type != FWC_T_SET) {
                    FwcValue *items;
                    uint32_t cnt, k = 0;
                    if (fwc_tmpl_items(ctx, &right, &items, &cnt) < 0) return -1;
                    while (k < cnt && items[k].type != TMPL_T_UNDEF) k++;
                    res = (k < cnt) == (op == OP_IN);
                } else {
                    return fwc_tmpl_undefined_error(ctx, lu ? &left : &right);
                }
            } else if (lo && (op == OP_IN || op == OP_NOTIN) &&
                       (right.type == FWC_T_LIST || right.type == FWC_T_TUPLE)) {
                /* a namespace in a list: identity */
                uint32_t k = 0;
                while (k < right.len && !(right.u.items[k].type == left.type &&
                                          right.u.items[k].u.items == left.u.items))
                    k++;
                res = (k < right.len) == (op == OP_IN);
            } else if (ro && (op == OP_IN || op == OP_NOTIN)) {
                return FAIL("TypeError: argument of type '%s' is not iterable",
                            fwc_tmpl_type_name(&right));
            } else if ((lo || ro) && op != OP_IN && op != OP_NOTIN) {
                static const char *const sym[] = {
                    [OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">="
                };
                return FAIL("TypeError: '%s' not supported between instances of '%s' and '%s'",
                            sym[op], fwc_tmpl_type_name(&left), fwc_tmpl_type_name(&right));
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
            if (n->kwnames[i])
                return FAIL(
                    "TypeError: LoopContext.changed() got an unexpected keyword argument '%s'",
                    n->kwnames[i]);
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
        if (fwc_expr_eval_node(ctx, n->a, &a) < 0 || fwc_expr_eval_node(ctx, n->b, &b) < 0)
            return -1;
        if (a.type == FWC_T_STR) return fwc_tmpl_percent_format(ctx, &a, &b, out);
        if (a.type == TMPL_T_UNDEF || b.type == TMPL_T_UNDEF)
            return fwc_tmpl_undefined_error(ctx, a.type == TMPL_T_UNDEF ? &a : &b);
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
            char t[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
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
static uint32_t stored_depth(R *r, const FwcValue *v, uint32_t depth, const TSeen *seen)
{
    if (depth > FWC_TMPL_MAX_VALUE_DEPTH) return depth;
    if (v->type == TMPL_T_NS) {
        for (const TSeen *s = seen; s; s = s->up)
            if (s->ns == (const void *)v->u.items) return depth;
        TSeen me = { v->u.items, seen };
        FwcValue attrs = fwc_tmpl_namespace_attrs(v);
        return stored_depth(r, &attrs, depth, &me);
    }
    if (v->type != FWC_T_LIST && v->type != FWC_T_TUPLE && v->type != FWC_T_SET &&
        v->type != FWC_T_DICT)
        return depth;
    size_t slot = ((uintptr_t)v->u.items >> 4) % (sizeof r->depth_memo / sizeof r->depth_memo[0]);
    int memo = v->len >= 8;
    if (memo && r->depth_memo[slot].items == v->u.items && r->depth_memo[slot].len == v->len)
        return depth - 1 + r->depth_memo[slot].depth;
    uint32_t max = depth;
    for (uint32_t i = 0; i < v->len && max <= FWC_TMPL_MAX_VALUE_DEPTH; i++) {
        uint32_t d = v->type == FWC_T_DICT ? stored_depth(r, &v->u.pairs[i].value, depth + 1, seen)
                                           : stored_depth(r, &v->u.items[i], depth + 1, seen);
        if (d > max) max = d;
        if (v->type == FWC_T_DICT &&
            (d = stored_depth(r, &v->u.pairs[i].key, depth + 1, seen)) > max)
            max = d;
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
        return FAIL("ValueError: value nests too deeply (limit %d levels)",
                    FWC_TMPL_MAX_VALUE_DEPTH);
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
    if (ns->type != TMPL_T_NS)
        return FAIL("TemplateRuntimeError: cannot assign attribute on non-namespace object");
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
    if (v->type != FWC_T_LIST && v->type != FWC_T_TUPLE && v->type != FWC_T_STR &&
        v->type != FWC_T_DICT && v->type != FWC_T_SET && v->type != FWC_T_RANGE)
        return FAIL("TypeError: cannot unpack non-iterable %s object", fwc_value_type_name(v));
    if (fwc_tmpl_items(ctx, v, &items, &cnt) < 0) return -1;
    if ((int)cnt > n->nslots)
        return FAIL("ValueError: too many values to unpack (expected %d)", n->nslots);
    if ((int)cnt < n->nslots)
        return FAIL("ValueError: not enough values to unpack (expected %d, got %u)", n->nslots,
                    cnt);
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
            if (++r->iterations > FWC_TMPL_MAX_ITER)
                return FAIL("RuntimeError: template loops exceeded %d iterations",
                            FWC_TMPL_MAX_ITER);
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
    if (outer->type == TMPL_T_LOOP)
        loop->depth = ((const TLoop *)(const void *)outer->u.items)->depth + 1;
    FwcValue lv = { .type = TMPL_T_LOOP, .len = 1, .u.items = (FwcValue *)(void *)loop };
    for (uint32_t i = 0; i < cnt; i++) {
        if (++r->iterations > FWC_TMPL_MAX_ITER)
            return FAIL("RuntimeError: template loops exceeded %d iterations", FWC_TMPL_MAX_ITER);
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
                if (fwc_tmpl_str_of(ctx, &v, &s) < 0 ||
                    json_escape_append(ctx, r->out, s.u.s, s.len) < 0)
                    return -1;
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
            if (check_namespaces(r, n) < 0 || fwc_expr_eval_node(ctx, n->expr, &v) < 0 ||
                check_stored(r, &v) < 0 || bind(r, n, &v) < 0)
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
                if (fwc_expr_eval_node(ctx, n->values[i], &vals[i]) < 0 ||
                    check_stored(r, &vals[i]) < 0)
                    return -1;
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

FwcStatus fwc_tmpl_render(const FwcTemplate *t, const FwcValue *doc, int json_escape, FwcBuf *out,
                          FwcError *err)
{
    FwcArena scratch = { 0 };
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
        vars[i] = (FwcValue){ .type = TMPL_T_UNDEF, .ascii = 1, .len = 0, .u.s = s };
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
