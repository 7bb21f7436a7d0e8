/* expr_parse.c — recursive-descent parser for the Python expression subset, producing
 * an immutable node tree in the program's arena.  Everything that can be decided
 * before evaluation is decided here: names are resolved (comprehension locals, scope
 * variables, builtins, utils), calls are checked against the whitelists, names and
 * attributes starting with "_" are rejected, and constructs outside the subset
 * (lambda, walrus, star-args, ...) are reported by name.  No GIL. */
#include "expr/expr.h"

#define TOKERR(p, ...) fwc_expr_error_at(p, (p)->tok.line, (p)->tok.col, __VA_ARGS__)
#define NEXT(p)        (fwc_expr_lex_next(p))

static int is_op(ExprParser *p, int op) { return p->tok.kind == TK_OP && p->tok.op == op; }

static int is_kw(ExprParser *p, const char *kw)
{
    size_t n = strlen(kw);
    return p->tok.kind == TK_NAME && p->tok.slen == n && memcmp(p->tok.s, kw, n) == 0;
}

static int name_is(const char *s, size_t n, const char *kw)
{
    return strlen(kw) == n && memcmp(s, kw, n) == 0;
}

static const char *const KEYWORDS[] = {
    "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
    "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
    "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
    "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield",    NULL,
};

static int is_keyword(const char *s, size_t n)
{
    for (int i = 0; KEYWORDS[i]; i++)
        if (name_is(s, n, KEYWORDS[i])) return 1;
    return 0;
}

static ExprNode *node(ExprParser *p, int kind, int line, int col)
{
    ExprNode *n = fwc_arena_alloc(p->arena, sizeof *n);
    if (!n) {
        fwc_expr_error_at(p, line, col, "out of memory");
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->line = line;
    n->col = col;
    n->depth = 1;
    return n;
}

int fwc_expr_seal(ExprNode *n)
{
    int d = 0;
    const ExprNode *kids[4] = { n->a, n->b, n->c, n->d };
    for (int i = 0; i < 4; i++)
        if (kids[i] && kids[i]->depth > d) d = kids[i]->depth;
    for (int i = 0; n->args && i < n->nargs; i++)
        if (n->args[i] && n->args[i]->depth > d) d = n->args[i]->depth;
    n->depth = (uint16_t)(d < UINT16_MAX ? d + 1 : UINT16_MAX);
    return n->depth;
}

/* n with its children attached: its depth is checked here, so that a chain (a.b.c...,
 * a + b + c ..., f(x)[0].y ...) is rejected as it grows, as nesting is. */
static ExprNode *sealed(ExprParser *p, ExprNode *n)
{
    if (n && fwc_expr_seal(n) > FWC_EXPR_MAX_DEPTH) {
        fwc_expr_error_at(p, n->line, n->col, "expression nests too deeply (limit %d)",
                          FWC_EXPR_MAX_DEPTH);
        return NULL;
    }
    return n;
}

int fwc_node_list_push(FwcArena *arena, FwcNodeList *l, ExprNode *x, const char *kw)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 4;
        if (cap > 65535) return -2;
        ExprNode **items = fwc_arena_alloc(arena, sizeof *items * (size_t)cap);
        const char **kws = fwc_arena_alloc(arena, sizeof *kws * (size_t)cap);
        if (!items || !kws) return -1;
        if (l->n) {
            memcpy(items, l->items, sizeof *items * (size_t)l->n);
            memcpy(kws, l->kw, sizeof *kws * (size_t)l->n);
        }
        l->items = items;
        l->kw = kws;
        l->cap = cap;
    }
    l->items[l->n] = x;
    l->kw[l->n] = kw;
    l->n++;
    return 0;
}

static int list_push(ExprParser *p, FwcNodeList *l, ExprNode *x, const char *kw)
{
    int r = fwc_node_list_push(p->arena, l, x, kw);
    if (r == -2) return TOKERR(p, "too many items in one display or call");
    if (r < 0) return TOKERR(p, "out of memory");
    return 0;
}

static ExprNode *parse_test(ExprParser *p);
static ExprNode *parse_or(ExprParser *p);
static ExprNode *parse_expr(ExprParser *p); /* bitwise-or level: no comparisons */

static int enter(ExprParser *p)
{
    if (++p->depth > FWC_EXPR_MAX_DEPTH)
        return TOKERR(p, "expression nests too deeply (limit %d)", FWC_EXPR_MAX_DEPTH);
    return 0;
}

/* Rejects a name that starts with "_" (as Frappe's RestrictedPython does). */
static int check_name(ExprParser *p, const char *s, size_t n, int line, int col, const char *what)
{
    if (n && s[0] == '_')
        return fwc_expr_error_at(p, line, col, "%s starting with '_' are not allowed: '%.*s'", what,
                                 (int)n, s);
    return 0;
}

/* ---------- atoms ---------- */

static ExprNode *const_node(ExprParser *p, FwcValue v, int line, int col)
{
    ExprNode *n = node(p, N_CONST, line, col);
    if (n) n->k = v;
    return n;
}

static int local_lookup(ExprParser *p, const char *s, size_t n)
{
    for (int i = p->nlocals; i-- > 0;)
        if (p->local_lens[i] == n && memcmp(p->local_names[i], s, n) == 0) return i;
    return -1;
}

/* Parses `for target in iterable [if cond]...` after the element; returns the comp node. */
static ExprNode *parse_comp_tail(ExprParser *p, int flavour, ExprNode *elt, ExprNode *value,
                                 int line, int col, const char **pending_names,
                                 size_t *pending_lens, int *npending);

/* The element of a comprehension is parsed before its target is known; names in it
 * that may refer to the target are resolved afterwards.  To keep resolution simple,
 * the comprehension is parsed by first scanning the target (a lookahead over the
 * tokens after `for`), see parse_display_or_comp. */

static ExprNode *parse_atom(ExprParser *p);

/* Scans ahead from the current position for "for <names> in" of a comprehension at this
 * nesting level, returning the target names so the element can see them.  The lexer
 * state is saved and restored. */
static int prescan_targets(ExprParser *p, int close_op, const char **names, size_t *lens,
                           int *count)
{
    ExprParser save = *p;
    int depth = 0, found = 0;
    *count = 0;
    FwcError scratch_err = *p->err;
    for (;;) {
        if (p->tok.kind == TK_EOF) break;
        if (p->tok.kind == TK_OP) {
            int op = p->tok.op;
            if (op == OP_LPAR || op == OP_LSQB || op == OP_LBRACE) depth++;
            else if (op == OP_RPAR || op == OP_RSQB || op == OP_RBRACE) {
                if (depth == 0) break;
                depth--;
            }
        } else if (depth == 0 && is_kw(p, "for")) {
            found = 1;
            if (NEXT(p) < 0) break;
            int paren = is_op(p, OP_LPAR);
            if (paren && NEXT(p) < 0) break;
            while (p->tok.kind == TK_NAME && *count < 8) {
                names[*count] = p->tok.s;
                lens[*count] = p->tok.slen;
                (*count)++;
                if (NEXT(p) < 0) break;
                if (!is_op(p, OP_COMMA)) break;
                if (NEXT(p) < 0) break;
            }
            break;
        }
        if (NEXT(p) < 0) break;
    }
    (void)close_op;
    /* restore: lexing ahead never has visible effects except arena use */
    FwcArena *arena = p->arena;
    *p = save;
    p->arena = arena;
    *p->err = scratch_err;
    p->failed = 0;
    return found;
}

static int push_locals(ExprParser *p, const char **names, size_t *lens, int n, int line, int col)
{
    if (p->nlocals + n > FWC_EXPR_MAX_LOCALS)
        return fwc_expr_error_at(p, line, col, "comprehensions nest too deeply");
    for (int i = 0; i < n; i++) {
        if (check_name(p, names[i], lens[i], line, col, "names") < 0) return -1;
        if (is_keyword(names[i], lens[i]))
            return fwc_expr_error_at(p, line, col, "invalid comprehension target");
        p->local_names[p->nlocals] = names[i];
        p->local_lens[p->nlocals] = lens[i];
        p->nlocals++;
    }
    if (p->nlocals > p->max_locals) p->max_locals = p->nlocals;
    return 0;
}

/* After `[`, `(` or `{` with the first element parsed: comprehension. */
static ExprNode *parse_comp_tail(ExprParser *p, int flavour, ExprNode *elt, ExprNode *value,
                                 int line, int col, const char **names, size_t *lens, int *npending)
{
    /* current token is `for` */
    int fl = p->tok.line, fc = p->tok.col;
    if (NEXT(p) < 0) return NULL;
    int paren = 0;
    if (is_op(p, OP_LPAR)) {
        paren = 1;
        if (NEXT(p) < 0) return NULL;
    }
    int ntargets = 0;
    for (;;) {
        if (p->tok.kind != TK_NAME || is_keyword(p->tok.s, p->tok.slen)) {
            TOKERR(p, "comprehension targets must be names");
            return NULL;
        }
        ntargets++;
        if (NEXT(p) < 0) return NULL;
        if (!is_op(p, OP_COMMA)) break;
        if (NEXT(p) < 0) return NULL;
        if (!paren && is_kw(p, "in")) break;
    }
    if (paren) {
        if (!is_op(p, OP_RPAR)) {
            TOKERR(p, "expected ')' in comprehension target");
            return NULL;
        }
        if (NEXT(p) < 0) return NULL;
    }
    if (ntargets != *npending) {
        fwc_expr_error_at(p, fl, fc, "unsupported comprehension target");
        return NULL;
    }
    if (!is_kw(p, "in")) {
        TOKERR(p, "expected 'in' in comprehension");
        return NULL;
    }
    if (NEXT(p) < 0) return NULL;
    /* the iterable is evaluated in the enclosing scope: the targets are not visible */
    int saved = p->nlocals;
    p->nlocals -= ntargets;
    ExprNode *iter = parse_or(p);
    p->nlocals = saved;
    if (!iter) return NULL;
    ExprNode *cond = NULL;
    while (is_kw(p, "if")) {
        int il = p->tok.line, ic = p->tok.col;
        if (NEXT(p) < 0) return NULL;
        ExprNode *c = parse_or(p); /* no conditional expression without parentheses */
        if (!c) return NULL;
        if (cond) {
            ExprNode *a = node(p, N_AND, il, ic);
            if (!a) return NULL;
            a->a = cond;
            a->b = c;
            if (!(c = sealed(p, a))) return NULL;
        }
        cond = c;
    }
    if (is_kw(p, "for")) {
        TOKERR(p, "comprehensions with more than one 'for' are not supported");
        return NULL;
    }
    if (is_kw(p, "async")) {
        TOKERR(p, "async comprehensions are not supported");
        return NULL;
    }
    ExprNode *n = node(p, N_COMP, line, col);
    if (!n) return NULL;
    n->op = (uint8_t)flavour;
    n->a = elt;
    n->d = value;
    n->b = iter;
    n->c = cond;
    n->slot = p->nlocals - ntargets;
    n->ntargets = ntargets;
    (void)names;
    (void)lens;
    return sealed(p, n);
}

/* [ ... ], ( ... ), { ... } : displays, comprehensions, parenthesised expressions. */
static ExprNode *parse_display(ExprParser *p)
{
    int line = p->tok.line, col = p->tok.col;
    int open = p->tok.op;
    int close = open == OP_LPAR ? OP_RPAR : open == OP_LSQB ? OP_RSQB : OP_RBRACE;
    if (NEXT(p) < 0) return NULL;
    if (is_op(p, close)) {
        if (NEXT(p) < 0) return NULL;
        ExprNode *n = node(p,
                           open == OP_LPAR   ? N_TUPLE
                           : open == OP_LSQB ? N_LIST
                                             : N_DICT,
                           line, col);
        return n;
    }
    /* a comprehension's targets must be in scope while its element is parsed */
    const char *names[8];
    size_t lens[8];
    int ntargets = 0;
    int is_comp = prescan_targets(p, close, names, lens, &ntargets);
    int saved_locals = p->nlocals;
    if (is_comp && push_locals(p, names, lens, ntargets, line, col) < 0) return NULL;

    FwcNodeList items = { 0 };
    int is_dict = 0, trailing_comma = 0, first = 1;
    for (;;) {
        if (is_op(p, OP_MUL) || is_op(p, OP_POW)) {
            TOKERR(p, "star expressions (*x, **x) are not supported");
            return NULL;
        }
        ExprNode *k = parse_test(p);
        if (!k) return NULL;
        if (is_op(p, OP_WALRUS)) {
            TOKERR(p, "assignment expressions (:=) are not supported");
            return NULL;
        }
        ExprNode *v = NULL;
        if (open == OP_LBRACE && (first ? is_op(p, OP_COLON) : is_dict)) {
            if (!is_op(p, OP_COLON)) {
                TOKERR(p, "expected ':' in dict display");
                return NULL;
            }
            is_dict = 1;
            if (NEXT(p) < 0) return NULL;
            if (!(v = parse_test(p))) return NULL;
        } else if (open == OP_LBRACE && !first && is_op(p, OP_COLON)) {
            TOKERR(p, "invalid syntax: ':' in set display");
            return NULL;
        }
        if (first && is_kw(p, "for")) {
            if (!is_comp) {
                TOKERR(p, "invalid comprehension");
                return NULL;
            }
            int flavour = open == OP_LSQB   ? N_LIST
                          : open == OP_LPAR ? N_GEN
                          : is_dict         ? N_DICT
                                            : N_SET;
            ExprNode *c = parse_comp_tail(p, flavour, k, v, line, col, names, lens, &ntargets);
            if (!c) return NULL;
            p->nlocals = saved_locals;
            if (!is_op(p, close)) {
                TOKERR(p, "expected '%s' after comprehension",
                       close == OP_RPAR   ? ")"
                       : close == OP_RSQB ? "]"
                                          : "}");
                return NULL;
            }
            if (NEXT(p) < 0) return NULL;
            return c;
        }
        first = 0;
        if (list_push(p, &items, k, NULL) < 0) return NULL;
        if (is_dict && list_push(p, &items, v, NULL) < 0) return NULL;
        trailing_comma = 0;
        if (is_op(p, OP_COMMA)) {
            trailing_comma = 1;
            if (NEXT(p) < 0) return NULL;
            if (is_op(p, close)) break;
            continue;
        }
        if (is_kw(p, "for")) {
            TOKERR(p, "invalid syntax: comprehension after several items");
            return NULL;
        }
        if (!is_op(p, close)) {
            if (p->tok.kind == TK_EOF)
                TOKERR(p, "'%s' was never closed",
                       open == OP_LPAR   ? "("
                       : open == OP_LSQB ? "["
                                         : "{");
            else TOKERR(p, "invalid syntax");
            return NULL;
        }
        break;
    }
    p->nlocals = saved_locals;
    if (NEXT(p) < 0) return NULL;
    if (open == OP_LPAR && items.n == 1 && !trailing_comma) return items.items[0];
    int kind = open == OP_LPAR ? N_TUPLE : open == OP_LSQB ? N_LIST : is_dict ? N_DICT : N_SET;
    ExprNode *n = node(p, kind, line, col);
    if (!n) return NULL;
    n->args = items.items;
    n->nargs = (uint16_t)items.n;
    return sealed(p, n);
}

static ExprNode *parse_atom(ExprParser *p)
{
    ExprToken t = p->tok;
    switch (t.kind) {
    case TK_INT:
        if (t.i == INT64_MIN) {
            TOKERR(p, "integer literal out of supported range");
            return NULL;
        }
        if (NEXT(p) < 0) return NULL;
        return const_node(p, fwc_int(t.i), t.line, t.col);
    case TK_FLOAT:
        if (NEXT(p) < 0) return NULL;
        return const_node(p, fwc_float(t.f), t.line, t.col);
    case TK_STR: {
        /* adjacent literals concatenate */
        const char *s = t.s;
        size_t n = t.slen;
        int ascii = t.ascii;
        if (NEXT(p) < 0) return NULL;
        while (p->tok.kind == TK_STR) {
            char *m = fwc_arena_alloc(p->arena, n + p->tok.slen + 1);
            if (!m) {
                TOKERR(p, "out of memory");
                return NULL;
            }
            memcpy(m, s, n);
            memcpy(m + n, p->tok.s, p->tok.slen);
            m[n + p->tok.slen] = '\0';
            s = m;
            n += p->tok.slen;
            ascii &= p->tok.ascii;
            if (NEXT(p) < 0) return NULL;
        }
        if (n > FWC_EXPR_MAX_STR) {
            fwc_expr_error_at(p, t.line, t.col, "string literal too long");
            return NULL;
        }
        FwcValue v = { FWC_T_STR, (uint8_t)ascii, (uint32_t)n, { 0 } };
        v.u.s = s;
        return const_node(p, v, t.line, t.col);
    }
    case TK_OP:
        if (t.op == OP_LPAR || t.op == OP_LSQB || t.op == OP_LBRACE) {
            if (enter(p) < 0) return NULL;
            ExprNode *n = parse_display(p);
            p->depth--;
            return n;
        }
        if (t.op == OP_ELLIPSIS) {
            TOKERR(p, "Ellipsis is not supported");
            return NULL;
        }
        if (t.op == OP_MUL || t.op == OP_POW) {
            TOKERR(p, "star expressions (*x, **x) are not supported");
            return NULL;
        }
        if (t.op == OP_RPAR || t.op == OP_RSQB || t.op == OP_RBRACE) {
            TOKERR(p, "unmatched '%s'", t.op == OP_RPAR ? ")" : t.op == OP_RSQB ? "]" : "}");
            return NULL;
        }
        TOKERR(p, "invalid syntax");
        return NULL;
    case TK_EOF: TOKERR(p, "unexpected end of expression"); return NULL;
    case TK_NAME: break;
    }
    const char *s = t.s;
    size_t n = t.slen;
    if (name_is(s, n, "None")) {
        if (NEXT(p) < 0) return NULL;
        return const_node(p, fwc_null(), t.line, t.col);
    }
    if (name_is(s, n, "True") || name_is(s, n, "False")) {
        if (NEXT(p) < 0) return NULL;
        return const_node(p, fwc_bool(s[0] == 'T'), t.line, t.col);
    }
    if (name_is(s, n, "lambda")) {
        TOKERR(p, "lambda is not supported");
        return NULL;
    }
    if (name_is(s, n, "await") || name_is(s, n, "yield")) {
        TOKERR(p, "'%.*s' is not supported", (int)n, s);
        return NULL;
    }
    if (is_keyword(s, n)) {
        TOKERR(p, "invalid syntax: unexpected '%.*s'", (int)n, s);
        return NULL;
    }
    if (check_name(p, s, n, t.line, t.col, "names") < 0) return NULL;
    if (NEXT(p) < 0) return NULL;
    if (is_op(p, OP_WALRUS)) {
        TOKERR(p, "assignment expressions (:=) are not supported");
        return NULL;
    }
    int slot = local_lookup(p, s, n);
    if (slot >= 0) {
        ExprNode *x = node(p, N_LOCAL, t.line, t.col);
        if (x) x->slot = slot;
        return x;
    }
    slot = p->resolve ? p->resolve(p->resolve_ud, s, n) : -1;
    if (slot >= 0) {
        ExprNode *x = node(p, N_VAR, t.line, t.col);
        if (x) x->slot = slot;
        return x;
    }
    /* utils (and frappe.utils) and builtins are only reachable as call targets; the
     * caller (parse_trailers) handles them.  A bare use is an error. */
    if (name_is(s, n, "utils") || name_is(s, n, "frappe")) {
        ExprNode *x = node(p, N_CONST, t.line, t.col);
        if (!x) return NULL;
        x->kind = N_CONST;
        x->name = s;
        x->name_len = (uint32_t)n;
        x->op = 1; /* marker: module name, see parse_trailers */
        return x;
    }
    if (fwc_expr_builtin_id(s, n)) {
        ExprNode *x = node(p, N_CONST, t.line, t.col);
        if (!x) return NULL;
        x->name = s;
        x->name_len = (uint32_t)n;
        x->op = 2; /* marker: builtin name */
        return x;
    }
    fwc_expr_error_at(p, t.line, t.col, "unknown name '%.*s'", (int)n, s);
    return NULL;
}

static int is_marker(const ExprNode *n, int m)
{
    return n->kind == N_CONST && n->op == m && n->name;
}

/* Arguments of a call, after '('. */
static int parse_args(ExprParser *p, FwcNodeList *args)
{
    int seen_kw = 0;
    while (!is_op(p, OP_RPAR)) {
        if (is_op(p, OP_MUL) || is_op(p, OP_POW))
            return TOKERR(p, "star arguments (*args, **kwargs) are not supported");
        const char *kw = NULL;
        if (p->tok.kind == TK_NAME) {
            /* keyword argument?  peek for a single '=' */
            ExprParser save = *p;
            ExprToken nt = p->tok;
            if (NEXT(p) < 0) return -1;
            if (is_op(p, OP_ASSIGN)) {
                if (check_name(p, nt.s, nt.slen, nt.line, nt.col, "keyword arguments") < 0)
                    return -1;
                char *k = fwc_arena_strdup(p->arena, nt.s, nt.slen);
                if (!k) return TOKERR(p, "out of memory");
                kw = k;
                if (NEXT(p) < 0) return -1;
            } else {
                FwcArena *arena = p->arena;
                *p = save;
                p->arena = arena;
            }
        }
        if (!kw && seen_kw) return TOKERR(p, "positional argument follows keyword argument");
        seen_kw |= kw != NULL;
        ExprNode *a = parse_test(p);
        if (!a) return -1;
        if (is_op(p, OP_WALRUS)) return TOKERR(p, "assignment expressions (:=) are not supported");
        if (is_kw(p, "for")) return TOKERR(p, "generator expressions must be parenthesized");
        if (list_push(p, args, a, kw) < 0) return -1;
        if (is_op(p, OP_COMMA)) {
            if (NEXT(p) < 0) return -1;
            continue;
        }
        if (!is_op(p, OP_RPAR))
            return TOKERR(p, p->tok.kind == TK_EOF ? "'(' was never closed"
                                                   : "invalid syntax in call arguments");
    }
    return NEXT(p);
}

/* f(x for x in y): a generator expression as the only argument. */
static int parse_call_args(ExprParser *p, FwcNodeList *args, int line, int col)
{
    /* current token is the one after '(' */
    const char *names[8];
    size_t lens[8];
    int ntargets = 0;
    if (!is_op(p, OP_RPAR) && prescan_targets(p, OP_RPAR, names, lens, &ntargets)) {
        int saved = p->nlocals;
        if (push_locals(p, names, lens, ntargets, line, col) < 0) return -1;
        ExprNode *elt = parse_test(p);
        if (!elt) return -1;
        if (is_kw(p, "for")) {
            ExprNode *c =
                parse_comp_tail(p, N_GEN, elt, NULL, elt->line, elt->col, names, lens, &ntargets);
            if (!c) return -1;
            p->nlocals = saved;
            if (list_push(p, args, c, NULL) < 0) return -1;
            if (is_op(p, OP_COMMA)) return TOKERR(p, "generator expressions must be parenthesized");
            if (!is_op(p, OP_RPAR)) return TOKERR(p, "invalid syntax in call arguments");
            return NEXT(p);
        }
        /* the `for` belongs to a nested display: parse normally from here */
        p->nlocals = saved;
        if (list_push(p, args, elt, NULL) < 0) return -1;
        if (is_op(p, OP_COMMA)) {
            if (NEXT(p) < 0) return -1;
        } else if (!is_op(p, OP_RPAR)) {
            return TOKERR(p, "invalid syntax in call arguments");
        }
    }
    return parse_args(p, args);
}

static ExprNode *make_call(ExprParser *p, int kind, int id, ExprNode *recv, FwcNodeList *args,
                           int line, int col)
{
    ExprNode *n = node(p, kind, line, col);
    if (!n) return NULL;
    n->op = (uint8_t)id;
    n->a = recv;
    n->args = args->items;
    n->kwnames = args->kw;
    n->nargs = (uint16_t)args->n;
    return sealed(p, n);
}

static ExprNode *parse_trailers(ExprParser *p, ExprNode *x)
{
    for (;;) {
        int line = p->tok.line, col = p->tok.col;
        if (is_op(p, OP_DOT)) {
            if (NEXT(p) < 0) return NULL;
            if (p->tok.kind != TK_NAME || is_keyword(p->tok.s, p->tok.slen)) {
                TOKERR(p, "invalid syntax: expected an attribute name");
                return NULL;
            }
            ExprToken nt = p->tok;
            if (check_name(p, nt.s, nt.slen, nt.line, nt.col, "attributes") < 0) return NULL;
            if (NEXT(p) < 0) return NULL;
            if (is_marker(x, 1)) {
                /* utils.f(...) / frappe.utils.f(...) */
                if (name_is(x->name, x->name_len, "frappe")) {
                    if (!name_is(nt.s, nt.slen, "utils")) {
                        fwc_expr_error_at(p, nt.line, nt.col,
                                          "only frappe.utils is available, not frappe.%.*s",
                                          (int)nt.slen, nt.s);
                        return NULL;
                    }
                    x->name = "utils";
                    x->name_len = 5;
                    continue;
                }
                int id = fwc_expr_util_id(nt.s, nt.slen);
                if (!id) {
                    fwc_expr_error_at(p, nt.line, nt.col, "unknown function 'utils.%.*s'",
                                      (int)nt.slen, nt.s);
                    return NULL;
                }
                if (!is_op(p, OP_LPAR)) {
                    fwc_expr_error_at(p, nt.line, nt.col, "utils.%.*s can only be called",
                                      (int)nt.slen, nt.s);
                    return NULL;
                }
                int cl = p->tok.line, cc = p->tok.col;
                if (NEXT(p) < 0) return NULL;
                FwcNodeList args = { 0 };
                if (enter(p) < 0 || parse_call_args(p, &args, cl, cc) < 0) return NULL;
                p->depth--;
                x = make_call(p, N_CALL_UTIL, id, NULL, &args, x->line, x->col);
                if (!x) return NULL;
                continue;
            }
            if (is_marker(x, 2)) {
                TOKERR(p, "builtin '%.*s' has no attributes here", (int)x->name_len, x->name);
                return NULL;
            }
            if (is_op(p, OP_LPAR)) {
                int id = fwc_expr_method_id(nt.s, nt.slen);
                if (!id) {
                    fwc_expr_error_at(p, nt.line, nt.col, "unsupported method '%.*s'", (int)nt.slen,
                                      nt.s);
                    return NULL;
                }
                int cl = p->tok.line, cc = p->tok.col;
                if (NEXT(p) < 0) return NULL;
                FwcNodeList args = { 0 };
                if (enter(p) < 0 || parse_call_args(p, &args, cl, cc) < 0) return NULL;
                p->depth--;
                ExprNode *c = make_call(p, N_CALL_METHOD, id, x, &args, nt.line, nt.col);
                if (!c) return NULL;
                /* the name outlives the source text (a compiled condition is kept alone) */
                c->name = fwc_arena_strdup(p->arena, nt.s, nt.slen);
                c->name_len = (uint32_t)nt.slen;
                if (!c->name) {
                    TOKERR(p, "out of memory");
                    return NULL;
                }
                x = c;
                continue;
            }
            ExprNode *a = node(p, N_ATTR, nt.line, nt.col);
            if (!a) return NULL;
            a->a = x;
            a->name = fwc_arena_strdup(p->arena, nt.s, nt.slen);
            a->name_len = (uint32_t)nt.slen;
            if (!a->name) {
                TOKERR(p, "out of memory");
                return NULL;
            }
            if (!(x = sealed(p, a))) return NULL;
        } else if (is_op(p, OP_LPAR)) {
            if (is_marker(x, 2)) {
                int id = fwc_expr_builtin_id(x->name, x->name_len);
                if (NEXT(p) < 0) return NULL;
                FwcNodeList args = { 0 };
                if (enter(p) < 0 || parse_call_args(p, &args, line, col) < 0) return NULL;
                p->depth--;
                x = make_call(p, N_CALL_BUILTIN, id, NULL, &args, x->line, x->col);
                if (!x) return NULL;
                continue;
            }
            if (is_marker(x, 1)) {
                fwc_expr_error_at(p, x->line, x->col, "'%.*s' is not callable", (int)x->name_len,
                                  x->name);
                return NULL;
            }
            if (x->kind == N_VAR || x->kind == N_LOCAL) {
                fwc_expr_error_at(
                    p, x->line, x->col,
                    "unknown function: only builtins, utils functions and whitelisted methods can "
                    "be called");
                return NULL;
            }
            TOKERR(p, "only builtins, utils functions and whitelisted methods can be called");
            return NULL;
        } else if (is_op(p, OP_LSQB)) {
            if (is_marker(x, 1) || is_marker(x, 2)) {
                fwc_expr_error_at(p, x->line, x->col, "'%.*s' is not subscriptable",
                                  (int)x->name_len, x->name);
                return NULL;
            }
            if (enter(p) < 0) return NULL;
            if (NEXT(p) < 0) return NULL;
            ExprNode *parts[3] = { NULL, NULL, NULL };
            int nparts = 1, is_slice = 0;
            if (!is_op(p, OP_COLON)) {
                if (!(parts[0] = parse_test(p))) return NULL;
                /* a[1, 2]: tuple index */
                if (is_op(p, OP_COMMA)) {
                    FwcNodeList items = { 0 };
                    if (list_push(p, &items, parts[0], NULL) < 0) return NULL;
                    while (is_op(p, OP_COMMA)) {
                        if (NEXT(p) < 0) return NULL;
                        if (is_op(p, OP_RSQB)) break;
                        if (is_op(p, OP_COLON)) {
                            TOKERR(p, "multi-dimensional slices are not supported");
                            return NULL;
                        }
                        ExprNode *e = parse_test(p);
                        if (!e || list_push(p, &items, e, NULL) < 0) return NULL;
                    }
                    ExprNode *t = node(p, N_TUPLE, parts[0]->line, parts[0]->col);
                    if (!t) return NULL;
                    t->args = items.items;
                    t->nargs = (uint16_t)items.n;
                    if (!(parts[0] = sealed(p, t))) return NULL;
                }
            }
            while (is_op(p, OP_COLON) && nparts < 3) {
                is_slice = 1;
                if (NEXT(p) < 0) return NULL;
                if (!is_op(p, OP_COLON) && !is_op(p, OP_RSQB)) {
                    if (!(parts[nparts] = parse_test(p))) return NULL;
                }
                nparts++;
            }
            if (!is_op(p, OP_RSQB)) {
                TOKERR(p, is_op(p, OP_COMMA) ? "multi-dimensional slices are not supported"
                                             : "expected ']'");
                return NULL;
            }
            if (NEXT(p) < 0) return NULL;
            p->depth--;
            ExprNode *s = node(p, is_slice ? N_SLICE : N_SUBSCRIPT, line, col);
            if (!s) return NULL;
            s->a = x;
            s->b = parts[0];
            s->c = parts[1];
            s->d = parts[2];
            if (!(x = sealed(p, s))) return NULL;
        } else {
            break;
        }
    }
    if (is_marker(x, 1)) {
        fwc_expr_error_at(p, x->line, x->col,
                          "'%.*s' can only be used to call its functions, e.g. utils.flt(x)",
                          (int)x->name_len, x->name);
        return NULL;
    }
    if (is_marker(x, 2)) {
        fwc_expr_error_at(p, x->line, x->col, "builtin '%.*s' can only be called", (int)x->name_len,
                          x->name);
        return NULL;
    }
    return x;
}

/* ---------- operators, by Python's precedence ---------- */

static ExprNode *binop(ExprParser *p, int op, ExprNode *a, ExprNode *b, int line, int col)
{
    ExprNode *n = node(p, N_BINOP, line, col);
    if (!n) return NULL;
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return sealed(p, n);
}

static ExprNode *parse_unary(ExprParser *p);

static ExprNode *parse_power(ExprParser *p)
{
    if (is_kw(p, "await")) {
        TOKERR(p, "'await' is not supported");
        return NULL;
    }
    ExprNode *x = parse_atom(p);
    if (!x) return NULL;
    x = parse_trailers(p, x);
    if (!x) return NULL;
    if (is_op(p, OP_POW)) {
        int line = p->tok.line, col = p->tok.col;
        if (NEXT(p) < 0) return NULL;
        if (enter(p) < 0) return NULL;
        ExprNode *e = parse_unary(p);
        p->depth--;
        if (!e) return NULL;
        return binop(p, OP_POW, x, e, line, col);
    }
    return x;
}

static ExprNode *parse_unary(ExprParser *p)
{
    if (is_op(p, OP_SUB) || is_op(p, OP_ADD) || is_op(p, OP_TILDE)) {
        int op = p->tok.op, line = p->tok.line, col = p->tok.col;
        if (NEXT(p) < 0) return NULL;
        /* -9223372036854775808 is an int64 literal */
        if (op == OP_SUB && p->tok.kind == TK_INT && p->tok.i == INT64_MIN) {
            ExprToken t = p->tok;
            if (NEXT(p) < 0) return NULL;
            if (is_op(p, OP_POW) || is_op(p, OP_DOT) || is_op(p, OP_LSQB) || is_op(p, OP_LPAR)) {
                fwc_expr_error_at(p, t.line, t.col, "integer literal out of supported range");
                return NULL;
            }
            return const_node(p, fwc_int(INT64_MIN), line, col);
        }
        if (enter(p) < 0) return NULL;
        ExprNode *a = parse_unary(p);
        p->depth--;
        if (!a) return NULL;
        ExprNode *n = node(p, N_UNARY, line, col);
        if (!n) return NULL;
        n->op = (uint8_t)op;
        n->a = a;
        return sealed(p, n);
    }
    return parse_power(p);
}

static ExprNode *parse_not(ExprParser *p);

/* The left-associative binary levels, loosest first: `x (op x)*`, each operand parsed by
 * the next level (the last level of a run by `operand`).  A level matches either the
 * keyword `kw` or one of the TK_OP tokens `ops` (0-terminated) and makes nodes of kind
 * `kind` (N_BINOP with the token's op, or N_AND / N_OR).  The comparisons, `not`, unary
 * signs and `**` have their own shapes (parse_comparison, parse_not, parse_unary,
 * parse_power).  Each operator of a chain counts one nesting level (enter) until the
 * chain ends. */
typedef struct {
    const char *kw;
    uint8_t ops[6];
    uint8_t kind;
    ExprNode *(*operand)(ExprParser *p); /* NULL: the next level */
} BinLevel;

enum { LV_OR, LV_AND, LV_BITOR, LV_BITXOR, LV_BITAND, LV_SHIFT, LV_ARITH, LV_TERM, LV_COUNT };

static const BinLevel LEVELS[LV_COUNT] = {
    [LV_OR] = { "or", { 0 }, N_OR, NULL },
    [LV_AND] = { "and", { 0 }, N_AND, parse_not },
    [LV_BITOR] = { NULL, { OP_BITOR }, N_BINOP, NULL },
    [LV_BITXOR] = { NULL, { OP_BITXOR }, N_BINOP, NULL },
    [LV_BITAND] = { NULL, { OP_BITAND }, N_BINOP, NULL },
    [LV_SHIFT] = { NULL, { OP_LSHIFT, OP_RSHIFT }, N_BINOP, NULL },
    [LV_ARITH] = { NULL, { OP_ADD, OP_SUB }, N_BINOP, NULL },
    [LV_TERM] = { NULL, { OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_MATMUL }, N_BINOP, parse_unary },
};

/* The operator of level lv at the current token, or 0. */
static int level_op(ExprParser *p, const BinLevel *lv)
{
    if (lv->kw) return is_kw(p, lv->kw) ? 1 : 0;
    if (p->tok.kind != TK_OP) return 0;
    for (const uint8_t *o = lv->ops; *o; o++)
        if (p->tok.op == *o) return *o;
    return 0;
}

static ExprNode *parse_level(ExprParser *p, int level)
{
    const BinLevel *lv = &LEVELS[level];
    ExprNode *x = lv->operand ? lv->operand(p) : parse_level(p, level + 1);
    int chain = 0, op;
    while (x && (op = level_op(p, lv)) != 0) {
        int line = p->tok.line, col = p->tok.col;
        if (op == OP_MATMUL) {
            TOKERR(p, "the '@' operator is not supported");
            return NULL;
        }
        if (NEXT(p) < 0 || enter(p) < 0) return NULL;
        chain++;
        ExprNode *y = lv->operand ? lv->operand(p) : parse_level(p, level + 1);
        if (!y) return NULL;
        ExprNode *n = node(p, lv->kind, line, col);
        if (!n) return NULL;
        if (lv->kind == N_BINOP) n->op = (uint8_t)op;
        n->a = x;
        n->b = y;
        x = sealed(p, n);
    }
    p->depth -= chain;
    return x;
}

static ExprNode *parse_expr(ExprParser *p) { return parse_level(p, LV_BITOR); }

/* comparison operator at the current token, consuming it (two tokens for `not in`,
 * `is not`); 0 when there is none. */
static int comp_op(ExprParser *p)
{
    if (p->tok.kind == TK_OP) {
        switch (p->tok.op) {
        case OP_EQ:
        case OP_NE:
        case OP_LT:
        case OP_LE:
        case OP_GT:
        case OP_GE: {
            int op = p->tok.op;
            return NEXT(p) < 0 ? -1 : op;
        }
        default: return 0;
        }
    }
    if (is_kw(p, "in")) return NEXT(p) < 0 ? -1 : OP_IN;
    if (is_kw(p, "is")) {
        if (NEXT(p) < 0) return -1;
        if (is_kw(p, "not")) return NEXT(p) < 0 ? -1 : OP_ISNOT;
        return OP_IS;
    }
    if (is_kw(p, "not")) {
        ExprParser save = *p;
        if (NEXT(p) < 0) return -1;
        if (is_kw(p, "in")) return NEXT(p) < 0 ? -1 : OP_NOTIN;
        FwcArena *arena = p->arena;
        *p = save;
        p->arena = arena;
        return 0;
    }
    return 0;
}

static ExprNode *parse_comparison(ExprParser *p)
{
    ExprNode *x = parse_expr(p);
    if (!x) return NULL;
    int line = p->tok.line, col = p->tok.col;
    int op = comp_op(p);
    if (op < 0) return NULL;
    if (!op) return x;
    FwcNodeList operands = { 0 };
    uint8_t ops[256];
    int nops = 0;
    if (list_push(p, &operands, x, NULL) < 0) return NULL;
    while (op > 0) {
        if (nops == 255) {
            TOKERR(p, "comparison chain too long");
            return NULL;
        }
        ops[nops++] = (uint8_t)op;
        ExprNode *y = parse_expr(p);
        if (!y || list_push(p, &operands, y, NULL) < 0) return NULL;
        op = comp_op(p);
        if (op < 0) return NULL;
    }
    ExprNode *n = node(p, N_COMPARE, line, col);
    if (!n) return NULL;
    n->args = operands.items;
    n->nargs = (uint16_t)operands.n;
    n->ops = fwc_arena_alloc(p->arena, (size_t)nops);
    if (!n->ops) {
        TOKERR(p, "out of memory");
        return NULL;
    }
    memcpy(n->ops, ops, (size_t)nops);
    return sealed(p, n);
}

static ExprNode *parse_not(ExprParser *p)
{
    if (is_kw(p, "not")) {
        int line = p->tok.line, col = p->tok.col;
        if (NEXT(p) < 0) return NULL;
        if (enter(p) < 0) return NULL;
        ExprNode *a = parse_not(p);
        p->depth--;
        if (!a) return NULL;
        ExprNode *n = node(p, N_UNARY, line, col);
        if (!n) return NULL;
        n->op = OP_BANG;
        n->a = a;
        return sealed(p, n);
    }
    return parse_comparison(p);
}

static ExprNode *parse_or(ExprParser *p) { return parse_level(p, LV_OR); }

static ExprNode *parse_test(ExprParser *p)
{
    if (is_kw(p, "lambda")) {
        TOKERR(p, "lambda is not supported");
        return NULL;
    }
    if (enter(p) < 0) return NULL;
    ExprNode *x = parse_or(p);
    if (x && is_kw(p, "if")) {
        int line = p->tok.line, col = p->tok.col;
        if (NEXT(p) < 0) return NULL;
        ExprNode *c = parse_or(p);
        if (!c) return NULL;
        if (!is_kw(p, "else")) {
            TOKERR(p, "expected 'else' after 'if' expression");
            return NULL;
        }
        if (NEXT(p) < 0) return NULL;
        ExprNode *e = parse_test(p);
        if (!e) return NULL;
        ExprNode *n = node(p, N_IFEXP, line, col);
        if (!n) return NULL;
        n->a = x;
        n->b = c;
        n->c = e;
        if (!(x = sealed(p, n))) return NULL;
    }
    p->depth--;
    return x;
}

ExprNode *fwc_expr_parse_expression(ExprParser *p, int allow_tuple)
{
    int line = p->tok.line, col = p->tok.col;
    ExprNode *x = parse_test(p);
    if (!x) return NULL;
    if (is_op(p, OP_WALRUS)) {
        TOKERR(p, "assignment expressions (:=) are not supported");
        return NULL;
    }
    if (allow_tuple && is_op(p, OP_COMMA)) {
        FwcNodeList items = { 0 };
        if (list_push(p, &items, x, NULL) < 0) return NULL;
        while (is_op(p, OP_COMMA)) {
            if (NEXT(p) < 0) return NULL;
            if (p->tok.kind == TK_EOF) break;
            ExprNode *y = parse_test(p);
            if (!y || list_push(p, &items, y, NULL) < 0) return NULL;
        }
        ExprNode *t = node(p, N_TUPLE, line, col);
        if (!t) return NULL;
        t->args = items.items;
        t->nargs = (uint16_t)items.n;
        if (!(x = sealed(p, t))) return NULL;
    }
    return x;
}

/* ---------- whitelists ---------- */

static int find_id(const char *const *names, const char *s, size_t n)
{
    for (int i = 1; names[i]; i++)
        if (name_is(s, n, names[i])) return i;
    return 0;
}

static const char *const BUILTINS[] = {
    "",    "len", "int", "float",  "str",  "bool",  "abs",  "min",   "max", "round",
    "sum", "any", "all", "sorted", "list", "tuple", "dict", "range", "set", NULL,
};
static const char *const UTILS[] = {
    "",           "flt",       "cint",      "cstr",       "rounded",     "floor",      "ceil",
    "safe_div",   "nowdate",   "today",     "now",        "nowtime",     "getdate",    "add_days",
    "add_months", "add_years", "date_diff", "strip_html", "escape_html", "has_common", "sbool",
    NULL,
};
static const char *const METHODS[] = {
    "",        "lower", "upper",  "strip", "lstrip", "rstrip", "startswith", "endswith",
    "replace", "split", "join",   "find",  "count",  "title",  "capitalize", "isdigit",
    "get",     "keys",  "values", "items", "index",  NULL,
};

int fwc_expr_builtin_id(const char *s, size_t n) { return find_id(BUILTINS, s, n); }
int fwc_expr_util_id(const char *s, size_t n) { return find_id(UTILS, s, n); }
int fwc_expr_method_id(const char *s, size_t n) { return find_id(METHODS, s, n); }
const char *fwc_expr_method_name(int id) { return METHODS[id]; }
