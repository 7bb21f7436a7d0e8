/* tmpl_parse.c — Jinja statements and Jinja's expression grammar, on the expression
 * engine's lexer and node tree.  Statements: if/elif/else, for (tuple targets, inline
 * if filter, else, loop.*), set (both forms; `ns.attr` targets), with.  Expressions
 * follow Jinja's parser (jinja2/parser.py): precedence or < and < not < compare < + - <
 * ~ < * / // % < ** < unary, filters and tests bind to the unary operand, `a if b`
 * without else, true/false/none, namespace(...).  Every name is a template variable slot
 * (doc, set/for/with targets, loop, and unknown names, which hold Jinja's
 * DebugUndefined).  No GIL. */
#include "tmpl/tmpl.h"

typedef struct {
    FwcTemplate *t;
    const char *text;
    size_t text_len;
    TSeg *segs;
    size_t nsegs, i;
    ExprParser ep; /* current tag */
    FwcError *err;
    int depth;
    int json_in_str; /* JSON string-literal state of the data seen so far */
} P;

static int fail_at(P *ps, int line, const char *fmt, ...)
{
    if (ps->err->code == FWC_OK || ps->err->code == FWC_EVALUE) {
        if (ps->err->code == FWC_OK) {
            va_list ap;
            va_start(ap, fmt);
            ps->err->code = FWC_EVALUE;
            vsnprintf(ps->err->message, sizeof ps->err->message, fmt, ap);
            va_end(ap);
            ps->err->line = line;
            ps->err->col = 0;
        }
    }
    ps->ep.failed = 1;
    return -1;
}

#define TOK        (ps->ep.tok)
#define FAILT(...) fail_at(ps, TOK.line, __VA_ARGS__)

static int next(P *ps) { return fwc_expr_lex_next(&ps->ep); }
static int is_op(P *ps, int op) { return TOK.kind == TK_OP && TOK.op == op; }
static int is_name(P *ps, const char *kw)
{
    size_t n = strlen(kw);
    return TOK.kind == TK_NAME && TOK.slen == n && memcmp(TOK.s, kw, n) == 0;
}
static int name_eq(const char *s, size_t n, const char *kw)
{
    return strlen(kw) == n && memcmp(s, kw, n) == 0;
}

static ExprNode *mk(P *ps, int kind, int line)
{
    ExprNode *n = fwc_arena_alloc(&ps->t->arena, sizeof *n);
    if (!n) {
        fwc_error_set(ps->err, FWC_ENOMEM, "out of memory");
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->line = line;
    n->col = 0;
    n->depth = 1;
    return n;
}

/* n with its children attached, its depth checked (see fwc_expr_seal): chains of
 * filters, tests, attributes, subscripts and operators count, as nesting does. */
static ExprNode *sealed(P *ps, ExprNode *n)
{
    if (n && fwc_expr_seal(n) > FWC_EXPR_MAX_DEPTH) {
        fail_at(ps, n->line, "expression nests too deeply (limit %d)", FWC_EXPR_MAX_DEPTH);
        return NULL;
    }
    return n;
}

/* The slot of a variable name (created on first use). */
static int var_slot(P *ps, const char *s, size_t n, int line)
{
    FwcTemplate *t = ps->t;
    for (int i = 0; i < t->nvars; i++)
        if (strlen(t->var_names[i]) == n && memcmp(t->var_names[i], s, n) == 0) return i;
    if (t->nvars == FWC_TMPL_MAX_VARS)
        return fail_at(ps, line, "too many variables in one template (limit %d)",
                       FWC_TMPL_MAX_VARS);
    char *c = fwc_arena_strdup(&t->arena, s, n);
    if (!c) return fwc_error_set(ps->err, FWC_ENOMEM, "out of memory"), -1;
    t->var_names[t->nvars] = c;
    return t->nvars++;
}

/* ---------- node lists ---------- */

static int npush(P *ps, FwcNodeList *l, ExprNode *x, const char *kw)
{
    int r = fwc_node_list_push(&ps->t->arena, l, x, kw);
    if (r == -2) return FAILT("too many items");
    if (r < 0) return fwc_error_set(ps->err, FWC_ENOMEM, "out of memory"), -1;
    return 0;
}

static const char *tok_desc(P *ps, char *buf, size_t n)
{
    switch (TOK.kind) {
    case TK_EOF: return "end of statement";
    case TK_NAME: snprintf(buf, n, "%.*s", (int)(TOK.slen > 60 ? 60 : TOK.slen), TOK.s); return buf;
    case TK_INT: return "integer";
    case TK_FLOAT: return "float";
    case TK_STR: return "string";
    default:
        snprintf(buf, n, "%.*s", (int)(TOK.end - TOK.start), ps->ep.src + TOK.start);
        return buf;
    }
}

static ExprNode *parse_expression(P *ps);
static ExprNode *parse_or(P *ps);
static ExprNode *parse_unary(P *ps, int with_filter);

static int enter(P *ps)
{
    if (++ps->ep.depth > FWC_EXPR_MAX_DEPTH)
        return FAILT("expression nests too deeply (limit %d)", FWC_EXPR_MAX_DEPTH);
    return 0;
}

/* (args) of a call, filter or test, after '(' */
static int parse_call_args(P *ps, FwcNodeList *args)
{
    if (next(ps) < 0) return -1;
    int seen_kw = 0;
    while (!is_op(ps, OP_RPAR)) {
        if (is_op(ps, OP_MUL) || is_op(ps, OP_POW))
            return FAILT("star arguments are not supported");
        const char *kw = NULL;
        if (TOK.kind == TK_NAME) {
            ExprParser save = ps->ep;
            ExprToken nt = TOK;
            if (next(ps) < 0) return -1;
            if (is_op(ps, OP_ASSIGN)) {
                if (nt.slen && nt.s[0] == '_')
                    return fail_at(ps, nt.line, "names starting with '_' are not allowed: '%.*s'",
                                   (int)nt.slen, nt.s);
                if (!(kw = fwc_arena_strdup(&ps->t->arena, nt.s, nt.slen)))
                    return fwc_error_set(ps->err, FWC_ENOMEM, "out of memory"), -1;
                if (next(ps) < 0) return -1;
            } else {
                FwcArena *a = ps->ep.arena;
                ps->ep = save;
                ps->ep.arena = a;
            }
        }
        if (!kw && seen_kw) return FAILT("positional argument follows keyword argument");
        seen_kw |= kw != NULL;
        ExprNode *a = parse_expression(ps);
        if (!a || npush(ps, args, a, kw) < 0) return -1;
        if (is_op(ps, OP_COMMA)) {
            if (next(ps) < 0) return -1;
            continue;
        }
        if (!is_op(ps, OP_RPAR)) {
            char b[64];
            return FAILT("expected token ',', got '%s'", tok_desc(ps, b, sizeof b));
        }
    }
    return next(ps);
}

static int any_kw(FwcNodeList *l)
{
    for (int i = 0; i < l->n; i++)
        if (l->kw[i]) return 1;
    return 0;
}

static ExprNode *with_args(P *ps, ExprNode *n, FwcNodeList *l)
{
    n->args = l->items;
    n->kwnames = l->n && any_kw(l) ? l->kw : NULL;
    n->nargs = (uint16_t)l->n;
    return sealed(ps, n);
}

static ExprNode *parse_tuple_in_parens(P *ps, int line)
{
    /* after '(' */
    if (next(ps) < 0) return NULL;
    FwcNodeList items = { 0 };
    int comma = 0;
    while (!is_op(ps, OP_RPAR)) {
        ExprNode *x = parse_expression(ps);
        if (!x || npush(ps, &items, x, NULL) < 0) return NULL;
        if (is_op(ps, OP_COMMA)) {
            comma = 1;
            if (next(ps) < 0) return NULL;
            continue;
        }
        if (!is_op(ps, OP_RPAR)) {
            char b[64];
            FAILT("expected token ')', got '%s'", tok_desc(ps, b, sizeof b));
            return NULL;
        }
    }
    if (next(ps) < 0) return NULL;
    if (items.n == 1 && !comma) return items.items[0];
    ExprNode *t = mk(ps, N_TUPLE, line);
    return t ? with_args(ps, t, &items) : NULL;
}

static ExprNode *parse_primary(P *ps)
{
    ExprToken t = TOK;
    switch (t.kind) {
    case TK_NAME: {
        const char *s = t.s;
        size_t n = t.slen;
        if (next(ps) < 0) return NULL;
        ExprNode *x;
        if (name_eq(s, n, "true") || name_eq(s, n, "True") || name_eq(s, n, "false") ||
            name_eq(s, n, "False")) {
            if (!(x = mk(ps, N_CONST, t.line))) return NULL;
            x->k = fwc_bool(s[0] == 't' || s[0] == 'T');
            return x;
        }
        if (name_eq(s, n, "none") || name_eq(s, n, "None")) {
            if (!(x = mk(ps, N_CONST, t.line))) return NULL;
            x->k = fwc_null();
            return x;
        }
        if (n && s[0] == '_') {
            fail_at(ps, t.line, "names starting with '_' are not allowed: '%.*s'", (int)n, s);
            return NULL;
        }
        /* a builtin called directly: range(3), len(x) */
        int bid = fwc_expr_builtin_id(s, n);
        if (bid && is_op(ps, OP_LPAR)) {
            FwcNodeList args = { 0 };
            if (enter(ps) < 0 || parse_call_args(ps, &args) < 0) return NULL;
            ps->ep.depth--;
            if (!(x = mk(ps, N_CALL_BUILTIN, t.line))) return NULL;
            x->op = (uint8_t)bid;
            x->args = args.items;
            x->kwnames = args.kw;
            x->nargs = (uint16_t)args.n;
            return sealed(ps, x);
        }
        /* Jinja's global namespace(...) */
        if (name_eq(s, n, "namespace") && is_op(ps, OP_LPAR)) {
            FwcNodeList args = { 0 };
            if (enter(ps) < 0 || parse_call_args(ps, &args) < 0) return NULL;
            ps->ep.depth--;
            if (!(x = mk(ps, NJ_NAMESPACE, t.line))) return NULL;
            return with_args(ps, x, &args);
        }
        int slot = var_slot(ps, s, n, t.line);
        if (slot < 0) return NULL;
        if (!(x = mk(ps, NJ_VAR, t.line))) return NULL;
        x->slot = slot;
        x->name = ps->t->var_names[slot];
        x->name_len = (uint32_t)n;
        return x;
    }
    case TK_STR: {
        const char *s = t.s;
        size_t n = t.slen;
        int ascii = t.ascii;
        if (next(ps) < 0) return NULL;
        while (TOK.kind == TK_STR) {
            char *m = fwc_arena_alloc(&ps->t->arena, n + TOK.slen + 1);
            if (!m) return fwc_error_set(ps->err, FWC_ENOMEM, "out of memory"), NULL;
            if (n) memcpy(m, s, n);
            if (TOK.slen) memcpy(m + n, TOK.s, TOK.slen);
            m[n + TOK.slen] = '\0';
            s = m;
            n += TOK.slen;
            ascii &= TOK.ascii;
            if (next(ps) < 0) return NULL;
        }
        ExprNode *x = mk(ps, N_CONST, t.line);
        if (!x) return NULL;
        x->k =
            (FwcValue){ .type = FWC_T_STR, .ascii = (uint8_t)ascii, .len = (uint32_t)n, .u.s = s };
        return x;
    }
    case TK_INT:
    case TK_FLOAT: {
        if (t.kind == TK_INT && t.i == INT64_MIN) {
            FAILT("integer literal out of supported range");
            return NULL;
        }
        if (next(ps) < 0) return NULL;
        ExprNode *x = mk(ps, N_CONST, t.line);
        if (x) x->k = t.kind == TK_INT ? fwc_int(t.i) : fwc_float(t.f);
        return x;
    }
    case TK_OP:
        if (t.op == OP_LPAR) {
            if (enter(ps) < 0) return NULL;
            ExprNode *x = parse_tuple_in_parens(ps, t.line);
            ps->ep.depth--;
            return x;
        }
        if (t.op == OP_LSQB || t.op == OP_LBRACE) {
            int close = t.op == OP_LSQB ? OP_RSQB : OP_RBRACE;
            if (enter(ps) < 0 || next(ps) < 0) return NULL;
            FwcNodeList items = { 0 };
            while (!is_op(ps, close)) {
                ExprNode *k = parse_expression(ps);
                if (!k || npush(ps, &items, k, NULL) < 0) return NULL;
                if (close == OP_RBRACE) {
                    if (!is_op(ps, OP_COLON)) {
                        char b[64];
                        FAILT("expected token ':', got '%s'", tok_desc(ps, b, sizeof b));
                        return NULL;
                    }
                    if (next(ps) < 0) return NULL;
                    ExprNode *v = parse_expression(ps);
                    if (!v || npush(ps, &items, v, NULL) < 0) return NULL;
                }
                if (is_op(ps, OP_COMMA)) {
                    if (next(ps) < 0) return NULL;
                    continue;
                }
                if (!is_op(ps, close)) {
                    char b[64];
                    FAILT("expected token '%s', got '%s'", close == OP_RSQB ? "]" : "}",
                          tok_desc(ps, b, sizeof b));
                    return NULL;
                }
            }
            if (next(ps) < 0) return NULL;
            ps->ep.depth--;
            ExprNode *x = mk(ps, close == OP_RSQB ? N_LIST : N_DICT, t.line);
            return x ? with_args(ps, x, &items) : NULL;
        }
        break;
    default: break;
    }
    char b[64];
    if (t.kind == TK_EOF) FAILT("unexpected end of expression");
    else FAILT("unexpected '%s'", tok_desc(ps, b, sizeof b));
    return NULL;
}

static ExprNode *parse_postfix(P *ps, ExprNode *x)
{
    for (;;) {
        int line = TOK.line;
        if (is_op(ps, OP_DOT)) {
            if (next(ps) < 0) return NULL;
            if (TOK.kind == TK_INT) {
                ExprNode *k = mk(ps, N_CONST, line), *g = mk(ps, NJ_GETITEM, line);
                if (!k || !g) return NULL;
                k->k = fwc_int(TOK.i);
                g->a = x;
                g->b = k;
                if (!(x = sealed(ps, g))) return NULL;
                if (next(ps) < 0) return NULL;
                continue;
            }
            if (TOK.kind != TK_NAME) {
                FAILT("expected name or number");
                return NULL;
            }
            ExprToken nt = TOK;
            if (nt.slen && nt.s[0] == '_') {
                FAILT("attributes starting with '_' are not allowed: '%.*s'", (int)nt.slen, nt.s);
                return NULL;
            }
            if (next(ps) < 0) return NULL;
            /* utils.f(...) and frappe.utils.f(...) */
            if (x->kind == NJ_VAR && name_eq(x->name, x->name_len, "frappe") &&
                name_eq(nt.s, nt.slen, "utils")) {
                int slot = var_slot(ps, "utils", 5, line);
                if (slot < 0) return NULL;
                x->slot = slot;
                x->name = ps->t->var_names[slot];
                x->name_len = 5;
                continue;
            }
            if (x->kind == NJ_VAR && name_eq(x->name, x->name_len, "utils") &&
                fwc_expr_util_id(nt.s, nt.slen) && is_op(ps, OP_LPAR)) {
                FwcNodeList args = { 0 };
                if (enter(ps) < 0 || parse_call_args(ps, &args) < 0) return NULL;
                ps->ep.depth--;
                ExprNode *c = mk(ps, N_CALL_UTIL, line);
                if (!c) return NULL;
                c->op = (uint8_t)fwc_expr_util_id(nt.s, nt.slen);
                c->args = args.items;
                c->kwnames = args.kw;
                c->nargs = (uint16_t)args.n;
                if (!(x = sealed(ps, c))) return NULL;
                continue;
            }
            if (is_op(ps, OP_LPAR)) {
                int cycle = name_eq(nt.s, nt.slen, "cycle"),
                    changed = name_eq(nt.s, nt.slen, "changed");
                int id = fwc_expr_method_id(nt.s, nt.slen);
                if (!id && !cycle && !changed) {
                    fail_at(ps, nt.line, "unsupported method '%.*s'", (int)nt.slen, nt.s);
                    return NULL;
                }
                FwcNodeList args = { 0 };
                if (enter(ps) < 0 || parse_call_args(ps, &args) < 0) return NULL;
                ps->ep.depth--;
                ExprNode *c = mk(ps, cycle ? NJ_CYCLE : changed ? NJ_CHANGED : N_CALL_METHOD, line);
                if (!c) return NULL;
                c->op = (uint8_t)id;
                c->a = x;
                c->name = fwc_arena_strdup(&ps->t->arena, nt.s, nt.slen);
                c->name_len = (uint32_t)nt.slen;
                c->args = args.items;
                c->kwnames = args.kw;
                c->nargs = (uint16_t)args.n;
                if (!(x = sealed(ps, c))) return NULL;
                continue;
            }
            ExprNode *g = mk(ps, NJ_GETATTR, line);
            if (!g) return NULL;
            g->a = x;
            g->name = fwc_arena_strdup(&ps->t->arena, nt.s, nt.slen);
            g->name_len = (uint32_t)nt.slen;
            if (!g->name) return fwc_error_set(ps->err, FWC_ENOMEM, "out of memory"), NULL;
            if (!(x = sealed(ps, g))) return NULL;
        } else if (TOK.kind == TK_FLOAT && ps->ep.src[TOK.start] == '.') {
            /* x.0 lexes as a float ".0": item 0 */
            size_t k = TOK.start + 1;
            int64_t v = 0;
            while (k < TOK.end && ps->ep.src[k] >= '0' && ps->ep.src[k] <= '9' && v < 100000000)
                v = v * 10 + (ps->ep.src[k++] - '0');
            if (k != TOK.end) break;
            ExprNode *c = mk(ps, N_CONST, line), *g = mk(ps, NJ_GETITEM, line);
            if (!c || !g) return NULL;
            c->k = fwc_int(v);
            g->a = x;
            g->b = c;
            if (!(x = sealed(ps, g))) return NULL;
            if (next(ps) < 0) return NULL;
        } else if (is_op(ps, OP_LSQB)) {
            if (enter(ps) < 0 || next(ps) < 0) return NULL;
            ExprNode *parts[3] = { NULL, NULL, NULL };
            int nparts = 1, is_slice = 0;
            if (!is_op(ps, OP_COLON) && !(parts[0] = parse_expression(ps))) return NULL;
            while (is_op(ps, OP_COLON) && nparts < 3) {
                is_slice = 1;
                if (next(ps) < 0) return NULL;
                if (!is_op(ps, OP_COLON) && !is_op(ps, OP_RSQB) &&
                    !(parts[nparts] = parse_expression(ps)))
                    return NULL;
                nparts++;
            }
            if (!is_op(ps, OP_RSQB)) {
                char b[64];
                FAILT("expected token ']', got '%s'", tok_desc(ps, b, sizeof b));
                return NULL;
            }
            if (next(ps) < 0) return NULL;
            ps->ep.depth--;
            ExprNode *s = mk(ps, is_slice ? N_SLICE : NJ_GETITEM, line);
            if (!s) return NULL;
            s->a = x;
            s->b = parts[0];
            s->c = parts[1];
            s->d = parts[2];
            if (!(x = sealed(ps, s))) return NULL;
        } else if (is_op(ps, OP_LPAR)) {
            FAILT("only builtins, utils functions and whitelisted methods can be called");
            return NULL;
        } else {
            break;
        }
    }
    return x;
}

static ExprNode *parse_filter_expr(P *ps, ExprNode *x)
{
    for (;;) {
        int line = TOK.line;
        if (is_op(ps, OP_BITOR)) {
            if (next(ps) < 0) return NULL;
            if (TOK.kind != TK_NAME) {
                FAILT("expected a filter name");
                return NULL;
            }
            ExprToken nt = TOK;
            int id = fwc_tmpl_filter_id(nt.s, nt.slen);
            if (!id) {
                fail_at(ps, nt.line, "No filter named '%.*s'.", (int)nt.slen, nt.s);
                return NULL;
            }
            if (next(ps) < 0) return NULL;
            FwcNodeList args = { 0 };
            if (is_op(ps, OP_LPAR)) {
                if (enter(ps) < 0 || parse_call_args(ps, &args) < 0) return NULL;
                ps->ep.depth--;
            }
            ExprNode *f = mk(ps, NJ_FILTER, line);
            if (!f) return NULL;
            f->op = (uint8_t)id;
            f->a = x;
            f->name = fwc_arena_strdup(&ps->t->arena, nt.s, nt.slen);
            f->name_len = (uint32_t)nt.slen;
            if (!(x = with_args(ps, f, &args))) return NULL;
        } else if (is_name(ps, "is")) {
            if (next(ps) < 0) return NULL;
            int negated = 0;
            if (is_name(ps, "not")) {
                negated = 1;
                if (next(ps) < 0) return NULL;
            }
            if (TOK.kind != TK_NAME) {
                char b[64];
                FAILT("expected token 'name', got '%s'", tok_desc(ps, b, sizeof b));
                return NULL;
            }
            ExprToken nt = TOK;
            int id = fwc_tmpl_test_id(nt.s, nt.slen);
            if (!id) {
                fail_at(ps, nt.line, "No test named '%.*s'.", (int)nt.slen, nt.s);
                return NULL;
            }
            if (next(ps) < 0) return NULL;
            FwcNodeList args = { 0 };
            if (is_op(ps, OP_LPAR)) {
                if (enter(ps) < 0 || parse_call_args(ps, &args) < 0) return NULL;
                ps->ep.depth--;
            } else if ((TOK.kind == TK_NAME || TOK.kind == TK_STR || TOK.kind == TK_INT ||
                        TOK.kind == TK_FLOAT || is_op(ps, OP_LSQB) || is_op(ps, OP_LBRACE)) &&
                       !is_name(ps, "else") && !is_name(ps, "or") && !is_name(ps, "and")) {
                if (is_name(ps, "is")) {
                    FAILT("You cannot chain multiple tests with is");
                    return NULL;
                }
                ExprNode *a = parse_primary(ps);
                if (!a || !(a = parse_postfix(ps, a)) || npush(ps, &args, a, NULL) < 0) return NULL;
            }
            ExprNode *tn = mk(ps, NJ_TEST, line);
            if (!tn) return NULL;
            tn->op = (uint8_t)id;
            tn->a = x;
            if (!(x = with_args(ps, tn, &args))) return NULL;
            if (negated) {
                ExprNode *n = mk(ps, N_UNARY, line);
                if (!n) return NULL;
                n->op = OP_BANG;
                n->a = x;
                if (!(x = sealed(ps, n))) return NULL;
            }
        } else if (is_op(ps, OP_LPAR)) {
            FAILT("only builtins, utils functions and whitelisted methods can be called");
            return NULL;
        } else {
            break;
        }
    }
    return x;
}

static ExprNode *parse_unary(P *ps, int with_filter)
{
    ExprNode *x;
    int line = TOK.line;
    if (is_op(ps, OP_SUB) || is_op(ps, OP_ADD)) {
        int op = TOK.op;
        if (next(ps) < 0 || enter(ps) < 0) return NULL;
        ExprNode *a = parse_unary(ps, 0);
        ps->ep.depth--;
        if (!a || !(x = mk(ps, N_UNARY, line))) return NULL;
        x->op = (uint8_t)op;
        x->a = a;
        if (!sealed(ps, x)) return NULL;
    } else {
        x = parse_primary(ps);
    }
    if (!x || !(x = parse_postfix(ps, x))) return NULL;
    if (with_filter) x = parse_filter_expr(ps, x);
    return x;
}

/* The left-associative binary levels of Jinja's grammar, loosest first, in the form of
 * expr_parse.c's LEVELS: `x (op x)*`, each operand parsed by `operand` (NULL: the next
 * level).  A level matches the keyword `kw` or one of the TK_OP tokens `ops` and makes
 * nodes of `kind` (N_BINOP with the token's op, or N_AND / N_OR); `%` makes NJ_MOD
 * (printf-style on a str).  Comparisons, `not`, `~` (one node for the whole chain), unary
 * signs and filters have their own shapes. */
typedef struct {
    const char *kw;
    uint8_t ops[5];
    uint8_t kind;
    ExprNode *(*operand)(P *ps);
} TBinLevel;

enum { TL_OR, TL_AND, TL_MATH1, TL_MATH2, TL_POW, TL_COUNT };

static ExprNode *parse_not(P *ps);
static ExprNode *parse_concat(P *ps);
static ExprNode *parse_unary_filtered(P *ps) { return parse_unary(ps, 1); }

static const TBinLevel LEVELS[TL_COUNT] = {
    [TL_OR] = { "or", { 0 }, N_OR, NULL },
    [TL_AND] = { "and", { 0 }, N_AND, parse_not },
    [TL_MATH1] = { NULL, { OP_ADD, OP_SUB }, N_BINOP, parse_concat },
    [TL_MATH2] = { NULL, { OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD }, N_BINOP, NULL },
    [TL_POW] = { NULL, { OP_POW }, N_BINOP, parse_unary_filtered },
};

/* The operator of level lv at the current token, or 0. */
static int level_op(P *ps, const TBinLevel *lv)
{
    if (lv->kw) return is_name(ps, lv->kw) ? 1 : 0;
    if (TOK.kind != TK_OP) return 0;
    for (const uint8_t *o = lv->ops; *o; o++)
        if (TOK.op == *o) return *o;
    return 0;
}

static ExprNode *parse_level(P *ps, int level)
{
    const TBinLevel *lv = &LEVELS[level];
    ExprNode *x = lv->operand ? lv->operand(ps) : parse_level(ps, level + 1);
    int op;
    while (x && (op = level_op(ps, lv)) != 0) {
        int line = TOK.line;
        if (next(ps) < 0) return NULL;
        ExprNode *y = lv->operand ? lv->operand(ps) : parse_level(ps, level + 1);
        ExprNode *n = y ? mk(ps, lv->kind, line) : NULL;
        if (!n) return NULL;
        if (lv->kind == N_BINOP) n->op = (uint8_t)op;
        n->a = x;
        n->b = y;
        if (!(x = sealed(ps, n))) return NULL;
        if (op == OP_MOD && lv->kind == N_BINOP) x->kind = NJ_MOD; /* str % args: printf-style */
    }
    return x;
}

static ExprNode *parse_or(P *ps) { return parse_level(ps, TL_OR); }
static ExprNode *parse_math1(P *ps) { return parse_level(ps, TL_MATH1); }

static ExprNode *parse_concat(P *ps)
{
    int line = TOK.line;
    ExprNode *x = parse_level(ps, TL_MATH2);
    if (!x || !is_op(ps, OP_TILDE)) return x;
    FwcNodeList args = { 0 };
    if (npush(ps, &args, x, NULL) < 0) return NULL;
    while (is_op(ps, OP_TILDE)) {
        if (next(ps) < 0) return NULL;
        ExprNode *y = parse_level(ps, TL_MATH2);
        if (!y || npush(ps, &args, y, NULL) < 0) return NULL;
    }
    ExprNode *c = mk(ps, NJ_CONCAT, line);
    return c ? with_args(ps, c, &args) : NULL;
}

static ExprNode *parse_compare(P *ps)
{
    int line = TOK.line;
    ExprNode *x = parse_math1(ps);
    if (!x) return NULL;
    FwcNodeList operands = { 0 };
    uint8_t ops[64];
    int nops = 0;
    for (;;) {
        int op = 0;
        if (TOK.kind == TK_OP && (TOK.op == OP_EQ || TOK.op == OP_NE || TOK.op == OP_LT ||
                                  TOK.op == OP_LE || TOK.op == OP_GT || TOK.op == OP_GE)) {
            op = TOK.op;
            if (next(ps) < 0) return NULL;
        } else if (is_name(ps, "in")) {
            op = OP_IN;
            if (next(ps) < 0) return NULL;
        } else if (is_name(ps, "not")) {
            ExprParser save = ps->ep;
            if (next(ps) < 0) return NULL;
            if (is_name(ps, "in")) {
                op = OP_NOTIN;
                if (next(ps) < 0) return NULL;
            } else {
                FwcArena *a = ps->ep.arena;
                ps->ep = save;
                ps->ep.arena = a;
            }
        }
        if (!op) break;
        if (nops == 63) {
            FAILT("comparison chain too long");
            return NULL;
        }
        if (!nops && npush(ps, &operands, x, NULL) < 0) return NULL;
        ops[nops++] = (uint8_t)op;
        ExprNode *y = parse_math1(ps);
        if (!y || npush(ps, &operands, y, NULL) < 0) return NULL;
    }
    if (!nops) return x;
    ExprNode *n = mk(ps, NJ_COMPARE, line);
    if (!n) return NULL;
    n->args = operands.items;
    n->nargs = (uint16_t)operands.n;
    if (!(n->ops = fwc_arena_alloc(&ps->t->arena, (size_t)nops)))
        return fwc_error_set(ps->err, FWC_ENOMEM, "out of memory"), NULL;
    memcpy(n->ops, ops, (size_t)nops);
    return sealed(ps, n);
}

static ExprNode *parse_not(P *ps)
{
    if (is_name(ps, "not")) {
        int line = TOK.line;
        if (next(ps) < 0 || enter(ps) < 0) return NULL;
        ExprNode *a = parse_not(ps);
        ps->ep.depth--;
        ExprNode *n = a ? mk(ps, N_UNARY, line) : NULL;
        if (!n) return NULL;
        n->op = OP_BANG;
        n->a = a;
        return sealed(ps, n);
    }
    return parse_compare(ps);
}

static ExprNode *parse_expression(P *ps)
{
    if (enter(ps) < 0) return NULL;
    ExprNode *x = parse_or(ps);
    while (x && is_name(ps, "if")) {
        int line = TOK.line;
        if (next(ps) < 0) return NULL;
        ExprNode *c = parse_or(ps), *e = NULL;
        if (!c) return NULL;
        if (is_name(ps, "else")) {
            if (next(ps) < 0) return NULL;
            if (!(e = parse_expression(ps))) return NULL;
        }
        ExprNode *n = mk(ps, NJ_COND, line);
        if (!n) return NULL;
        n->a = x;
        n->b = c;
        n->c = e;
        if (!(x = sealed(ps, n))) return NULL;
    }
    ps->ep.depth--;
    return x;
}

/* An expression, or a bare tuple `a, b` (Jinja's parse_tuple) */
static ExprNode *parse_tuple(P *ps, int condexpr)
{
    int line = TOK.line;
    ExprNode *x = condexpr ? parse_expression(ps) : parse_or(ps);
    if (!x || !is_op(ps, OP_COMMA)) return x;
    FwcNodeList items = { 0 };
    if (npush(ps, &items, x, NULL) < 0) return NULL;
    while (is_op(ps, OP_COMMA)) {
        if (next(ps) < 0) return NULL;
        if (TOK.kind == TK_EOF || is_name(ps, "if")) break;
        ExprNode *y = condexpr ? parse_expression(ps) : parse_or(ps);
        if (!y || npush(ps, &items, y, NULL) < 0) return NULL;
    }
    ExprNode *t = mk(ps, N_TUPLE, line);
    return t ? with_args(ps, t, &items) : NULL;
}

/* ---------- statements ---------- */

static void start_tag(P *ps, const TSeg *s)
{
    FwcArena *a = &ps->t->arena;
    fwc_expr_parser_init(&ps->ep, ps->text, s->end, s->start, s->line, s->col, a, NULL, NULL,
                         ps->err);
    ps->ep.multiline_strings = 1;
}

static int expect_end(P *ps, const char *what)
{
    if (TOK.kind == TK_EOF) return 0;
    char b[64];
    return FAILT("expected token 'end of %s', got '%s'", what, tok_desc(ps, b, sizeof b));
}

static TNode *tnode(P *ps, int kind, int line)
{
    TNode *n = fwc_arena_alloc(&ps->t->arena, sizeof *n);
    if (!n) {
        fwc_error_set(ps->err, FWC_ENOMEM, "out of memory");
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->line = line;
    return n;
}

/* Assignment targets: name or names separated by commas, optionally in parentheses;
 * for `set`, also `ns.attr` (Jinja's namespace reference). */
static int parse_targets(P *ps, TNode *n, const char *stmt)
{
    int with_namespace = strcmp(stmt, "set") == 0;
    int paren = 0;
    if (is_op(ps, OP_LPAR)) {
        paren = 1;
        if (next(ps) < 0) return -1;
    }
    for (;;) {
        if (TOK.kind != TK_NAME || is_name(ps, "in")) {
            char b[64];
            return FAILT("can't assign to '%s' in '%s'", tok_desc(ps, b, sizeof b), stmt);
        }
        if (TOK.s[0] == '_')
            return FAILT("names starting with '_' are not allowed: '%.*s'", (int)TOK.slen, TOK.s);
        if (n->nslots == 8) return FAILT("too many targets");
        if (is_name(ps, "true") || is_name(ps, "false") || is_name(ps, "none") ||
            is_name(ps, "True") || is_name(ps, "False") || is_name(ps, "None"))
            return FAILT("Can't assign to special name constant '%.*s'", (int)TOK.slen, TOK.s);
        int slot = var_slot(ps, TOK.s, TOK.slen, TOK.line);
        if (slot < 0) return -1;
        n->attrs[n->nslots] = NULL;
        n->slots[n->nslots++] = slot;
        if (next(ps) < 0) return -1;
        if (with_namespace && is_op(ps, OP_DOT)) {
            if (next(ps) < 0) return -1;
            if (TOK.kind != TK_NAME) {
                char b[64];
                return FAILT("expected token 'name', got '%s'", tok_desc(ps, b, sizeof b));
            }
            if (TOK.s[0] == '_')
                return FAILT("attributes starting with '_' are not allowed: '%.*s'", (int)TOK.slen,
                             TOK.s);
            if (!(n->attrs[n->nslots - 1] = fwc_arena_strdup(&ps->t->arena, TOK.s, TOK.slen)))
                return fwc_error_set(ps->err, FWC_ENOMEM, "out of memory"), -1;
            if (next(ps) < 0) return -1;
        }
        if (!is_op(ps, OP_COMMA)) break;
        if (next(ps) < 0) return -1;
        if (paren && is_op(ps, OP_RPAR)) break;
    }
    if (paren) {
        if (!is_op(ps, OP_RPAR)) return FAILT("expected token ')'");
        if (next(ps) < 0) return -1;
    }
    if (!paren && n->nslots == 1) n->nslots = -1; /* a single name, not a 1-tuple */
    return 0;
}

static int parse_body(P *ps, TNode **out, const char *const *ends, const char *block,
                      int block_line, const char **found);

static const char *const UNSUPPORTED[] = { "macro", "include", "extends", "import", "from",
                                           "call",  "filter",  "block",   NULL };

static const char *end_list(const char *const *ends, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; ends && ends[i]; i++)
        k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "%s'%s'", i ? " or " : "", ends[i]);
    return buf;
}

/* Parses one statement whose keyword is the current token; appends to *tail. */
static TNode *parse_statement(P *ps, const TSeg *seg)
{
    int line = TOK.line;
    for (int i = 0; UNSUPPORTED[i]; i++)
        if (is_name(ps, UNSUPPORTED[i])) {
            FAILT("'%s' blocks are not supported in webhook templates", UNSUPPORTED[i]);
            return NULL;
        }
    if (is_name(ps, "if")) {
        TNode *n = tnode(ps, T_IF, line), *cur = n;
        if (!n || next(ps) < 0 || !(n->expr = parse_tuple(ps, 1)) ||
            expect_end(ps, "statement block") < 0)
            return NULL;
        static const char *const ends[] = { "elif", "else", "endif", NULL };
        for (;;) {
            const char *f;
            if (parse_body(ps, &cur->body, ends, "if", line, &f) < 0) return NULL;
            if (!strcmp(f, "elif")) {
                TNode *e = tnode(ps, T_IF, TOK.line);
                if (!e || !(e->expr = parse_tuple(ps, 1)) || expect_end(ps, "statement block") < 0)
                    return NULL;
                cur->orelse = e;
                cur = e;
                continue;
            }
            if (!strcmp(f, "else")) {
                if (expect_end(ps, "statement block") < 0) return NULL;
                static const char *const ends2[] = { "endif", NULL };
                if (parse_body(ps, &cur->orelse, ends2, "if", line, &f) < 0) return NULL;
            }
            break;
        }
        return expect_end(ps, "statement block") < 0 ? NULL : n;
    }
    if (is_name(ps, "for")) {
        TNode *n = tnode(ps, T_FOR, line);
        if (!n || next(ps) < 0 || parse_targets(ps, n, "for") < 0) return NULL;
        if (!is_name(ps, "in")) {
            char b[64];
            FAILT("expected token 'in', got '%s'", tok_desc(ps, b, sizeof b));
            return NULL;
        }
        if (next(ps) < 0 || !(n->expr = parse_tuple(ps, 0))) return NULL;
        if (is_name(ps, "if")) {
            if (next(ps) < 0 || !(n->filter = parse_expression(ps))) return NULL;
        }
        if (is_name(ps, "recursive")) {
            FAILT("recursive loops are not supported in webhook templates");
            return NULL;
        }
        if (expect_end(ps, "statement block") < 0) return NULL;
        if ((n->loop_slot = var_slot(ps, "loop", 4, line)) < 0) return NULL;
        static const char *const ends[] = { "endfor", "else", NULL };
        const char *f;
        if (parse_body(ps, &n->body, ends, "for", line, &f) < 0) return NULL;
        if (!strcmp(f, "else")) {
            if (expect_end(ps, "statement block") < 0) return NULL;
            static const char *const ends2[] = { "endfor", NULL };
            if (parse_body(ps, &n->orelse, ends2, "for", line, &f) < 0) return NULL;
        }
        return expect_end(ps, "statement block") < 0 ? NULL : n;
    }
    if (is_name(ps, "set")) {
        TNode *n = tnode(ps, T_SET, line);
        if (!n || next(ps) < 0 || parse_targets(ps, n, "set") < 0) return NULL;
        if (is_op(ps, OP_ASSIGN)) {
            if (next(ps) < 0 || !(n->expr = parse_tuple(ps, 1)) ||
                expect_end(ps, "statement block") < 0)
                return NULL;
            return n;
        }
        if (n->nslots != -1) {
            FAILT("expected token '='");
            return NULL;
        }
        if (expect_end(ps, "statement block") < 0) return NULL;
        n->kind = T_SETBLOCK;
        static const char *const ends[] = { "endset", NULL };
        const char *f;
        if (parse_body(ps, &n->body, ends, "set", line, &f) < 0) return NULL;
        return expect_end(ps, "statement block") < 0 ? NULL : n;
    }
    if (is_name(ps, "with")) {
        TNode *n = tnode(ps, T_WITH, line);
        if (!n || next(ps) < 0) return NULL;
        FwcNodeList vals = { 0 };
        while (TOK.kind != TK_EOF) {
            if (vals.n) {
                if (!is_op(ps, OP_COMMA)) {
                    FAILT("expected token ','");
                    return NULL;
                }
                if (next(ps) < 0) return NULL;
            }
            if (TOK.kind != TK_NAME) {
                FAILT("expected a name in 'with'");
                return NULL;
            }
            if (n->nslots == 8) {
                FAILT("too many targets");
                return NULL;
            }
            if (TOK.s[0] == '_') {
                FAILT("names starting with '_' are not allowed: '%.*s'", (int)TOK.slen, TOK.s);
                return NULL;
            }
            int slot = var_slot(ps, TOK.s, TOK.slen, TOK.line);
            if (slot < 0 || next(ps) < 0) return NULL;
            if (!is_op(ps, OP_ASSIGN)) {
                FAILT("expected token '='");
                return NULL;
            }
            if (next(ps) < 0) return NULL;
            ExprNode *v = parse_expression(ps);
            if (!v || npush(ps, &vals, v, NULL) < 0) return NULL;
            n->slots[n->nslots++] = slot;
        }
        n->values = vals.items;
        static const char *const ends[] = { "endwith", NULL };
        const char *f;
        if (parse_body(ps, &n->body, ends, "with", line, &f) < 0) return NULL;
        return expect_end(ps, "statement block") < 0 ? NULL : n;
    }
    (void)seg;
    char b[64];
    FAILT("Encountered unknown tag '%s'.", tok_desc(ps, b, sizeof b));
    return NULL;
}

/* Tracks whether the template's own text leaves us inside a JSON string literal. */
static void json_scan(P *ps, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ps->json_in_str) {
            if (s[i] == '\\') i++;
            else if (s[i] == '"') ps->json_in_str = 0;
        } else if (s[i] == '"') {
            ps->json_in_str = 1;
        }
    }
}

static int parse_body(P *ps, TNode **out, const char *const *ends, const char *block,
                      int block_line, const char **found)
{
    TNode **tail = out;
    if (++ps->depth > FWC_TMPL_MAX_NEST)
        return fail_at(ps, block_line, "blocks nest too deeply (limit %d)", FWC_TMPL_MAX_NEST);
    while (ps->i < ps->nsegs) {
        const TSeg *s = &ps->segs[ps->i++];
        TNode *n = NULL;
        if (s->kind == TS_DATA) {
            if (!(n = tnode(ps, T_DATA, s->line))) return -1;
            n->text = ps->text + s->start;
            n->len = s->end - s->start;
            json_scan(ps, n->text, n->len);
        } else if (s->kind == TS_VAR) {
            start_tag(ps, s);
            if (next(ps) < 0) return -1;
            if (!(n = tnode(ps, T_OUTPUT, s->line))) return -1;
            if (TOK.kind == TK_EOF)
                return FAILT("Expected an expression, got 'end of print statement'");
            if (!(n->expr = parse_tuple(ps, 1))) return -1;
            if (expect_end(ps, "print statement") < 0) return -1;
            n->in_json_string = ps->json_in_str;
        } else {
            start_tag(ps, s);
            if (next(ps) < 0) return -1;
            if (TOK.kind != TK_NAME) return FAILT("tag name expected");
            for (int i = 0; ends && ends[i]; i++)
                if (is_name(ps, ends[i])) {
                    *found = ends[i];
                    if (next(ps) < 0) return -1;
                    ps->depth--;
                    return 0;
                }
            if (is_name(ps, "endif") || is_name(ps, "endfor") || is_name(ps, "endset") ||
                is_name(ps, "endwith") || is_name(ps, "elif") || is_name(ps, "else")) {
                char b[64], e[160];
                if (!ends) return FAILT("Encountered unknown tag '%s'.", tok_desc(ps, b, sizeof b));
                return FAILT("Encountered unknown tag '%s'. Jinja was looking for the following "
                             "tags: %s. The innermost "
                             "block that needs to be closed is '%s'.",
                             tok_desc(ps, b, sizeof b), end_list(ends, e, sizeof e), block);
            }
            if (!(n = parse_statement(ps, s))) return -1;
        }
        *tail = n;
        tail = &n->next;
    }
    if (ends) {
        char e[160];
        int line = ps->nsegs ? ps->segs[ps->nsegs - 1].line : 1;
        return fail_at(
            ps, line,
            "Unexpected end of template. Jinja was looking for the following tags: %s. The "
            "innermost block that needs to be closed is '%s'.",
            end_list(ends, e, sizeof e), block);
    }
    ps->depth--;
    return 0;
}

FwcTemplate *fwc_tmpl_compile(const char *src, size_t len, FwcError *err)
{
    err->code = FWC_OK;
    err->line = err->col = 0;
    err->message[0] = '\0';
    if (len >= 3) {
        for (size_t i = 0; i + 2 < len; i++)
            if (src[i] == '.' && src[i + 1] == '_' && src[i + 2] == '_') {
                fwc_error_set(err, FWC_EVALUE, "Illegal template");
                return NULL;
            }
    }
    if (memchr(src, '\0', len)) {
        fwc_error_set(err, FWC_EVALUE, "templates cannot contain null bytes");
        return NULL;
    }
    FwcTemplate *t = calloc(1, sizeof *t);
    P *ps = calloc(1, sizeof *ps);
    if (!t || !ps) {
        free(t);
        free(ps);
        fwc_error_set(err, FWC_ENOMEM, "out of memory");
        return NULL;
    }
    ps->t = t;
    ps->err = err;
    if (fwc_tmpl_lex(&t->arena, src, len, &ps->text, &ps->text_len, &ps->segs, &ps->nsegs, err) < 0)
        goto fail;
    t->text = ps->text;
    if ((t->doc_slot = var_slot(ps, "doc", 3, 1)) < 0) goto fail;
    if (parse_body(ps, &t->root, NULL, NULL, 1, NULL) < 0) goto fail;
    free(ps);
    return t;
fail:
    if (err->code == FWC_OK) fwc_error_set(err, FWC_EVALUE, "invalid template");
    if (strcmp(err->message, "out of memory") == 0) err->code = FWC_ENOMEM;
    free(ps);
    fwc_tmpl_free(t);
    return NULL;
}

void fwc_tmpl_free(FwcTemplate *t)
{
    if (!t) return;
    fwc_arena_free(&t->arena);
    free(t);
}
