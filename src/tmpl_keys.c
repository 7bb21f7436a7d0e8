/* tmpl_keys.c — the top-level keys of `doc` a template can read, so that a request
 * snapshots only those, as a field map does (an ERPNext document has hundreds of
 * fields; a webhook template reads a handful).  Conservative: any use of `doc` other
 * than doc.name, doc["name"] or doc.get("name"[, default]) — doc itself passed to a
 * filter, method or loop, printed, compared, or the name rebound — means the whole
 * document.  A key the document lacks reads the same (None, or the same error) from
 * the smaller snapshot, since that key is absent from both. */
#include "fwc.h"
#include "tmpl.h"

typedef struct {
    const FwcTemplate *t;
    FwcTmplKeys *keys;
    int failed;         /* out of memory */
} Scan;

int fwc_tmpl_keys_add(FwcTmplKeys *k, const char *name, size_t n)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->lens[i] == n && memcmp(k->names[i], name, n) == 0) return 0;
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 16;
        const char **names = realloc(k->names, cap * sizeof *names);
        if (!names) return -1;
        k->names = names;
        size_t *lens = realloc(k->lens, cap * sizeof *lens);
        if (!lens) return -1;
        k->lens = lens;
        k->cap = cap;
    }
    k->names[k->n] = name;
    k->lens[k->n++] = n;
    return 0;
}

static void add(Scan *s, const char *name, size_t n)
{
    if (!s->keys->all && !s->failed && fwc_tmpl_keys_add(s->keys, name, n) < 0) s->failed = 1;
}

static int is_doc(const Scan *s, const ExprNode *e)
{
    return e && e->kind == NJ_VAR && e->slot == s->t->doc_slot;
}

static int is_str_const(const ExprNode *e) { return e && e->kind == N_CONST && e->k.type == FWC_T_STR; }

static void scan_expr(Scan *s, const ExprNode *e)
{
    if (!e || s->keys->all) return;
    if (is_doc(s, e)) {     /* doc in any position not recognised below */
        s->keys->all = 1;
        return;
    }
    if (is_doc(s, e->a)) {
        if (e->kind == NJ_GETATTR) {
            add(s, e->name, e->name_len);
            return;
        }
        if (e->kind == NJ_GETITEM && is_str_const(e->b)) {
            add(s, e->b->k.u.s, e->b->k.len);
            return;
        }
        if (e->kind == N_CALL_METHOD && e->op == M_GET && e->nargs >= 1 && is_str_const(e->args[0]) &&
            !(e->kwnames && e->kwnames[0])) {
            add(s, e->args[0]->k.u.s, e->args[0]->k.len);
            for (int i = 1; i < e->nargs; i++) scan_expr(s, e->args[i]);
            return;
        }
    }
    scan_expr(s, e->a);
    scan_expr(s, e->b);
    scan_expr(s, e->c);
    scan_expr(s, e->d);
    for (int i = 0; i < e->nargs; i++) scan_expr(s, e->args[i]);
}

static void scan_nodes(Scan *s, const TNode *n)
{
    for (; n && !s->keys->all; n = n->next) {
        for (int i = 0; i < n->nslots; i++) {
            if (n->slots[i] == s->t->doc_slot) s->keys->all = 1;    /* doc rebound */
            if (n->kind == T_WITH && n->values) scan_expr(s, n->values[i]);
        }
        scan_expr(s, n->expr);
        scan_expr(s, n->filter);
        scan_nodes(s, n->body);
        scan_nodes(s, n->orelse);
    }
}

int fwc_tmpl_doc_keys(const FwcTemplate *t, FwcTmplKeys *keys)
{
    Scan s = {t, keys, 0};
    scan_nodes(&s, t->root);
    return s.failed ? -1 : 0;
}

void fwc_tmpl_keys_free(FwcTmplKeys *keys)
{
    free(keys->names);
    free(keys->lens);
    memset(keys, 0, sizeof *keys);
}
