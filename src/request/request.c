/* request.c — building the request Frappe would send (no GIL), and the Request type
 * that shows it to Python. */
#include "request/request.h"

/* ---------- building ---------- */

static FwcStatus oom(FwcError *err) { return fwc_error_set(err, FWC_ENOMEM, "out of memory"); }

static int str_value(FwcArena *a, FwcValue *v, const char *s, size_t n)
{
    char *p = fwc_arena_strdup(a, s, n);
    if (!p) return -1;
    int ascii = 1;
    for (size_t i = 0; i < n; i++) ascii &= (unsigned char)s[i] < 0x80;
    *v = (FwcValue){ .type = FWC_T_STR, .ascii = (uint8_t)ascii, .len = (uint32_t)n, .u.s = p };
    return 0;
}

/* Looks fields up in a dict: directly in a small one, through a sorted index in a large
 * one, so that many rows over a large document stay O((rows + keys) log keys). */
typedef struct {
    const FwcValue *dict;
    uint32_t *order; /* str keys' pair indexes sorted by (key bytes, index); NULL: scan */
    uint32_t n;
} FieldIndex;

static int key_cmp(const FwcValue *a, const FwcValue *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->u.s, b->u.s, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* qsort has no context argument: the pairs being sorted, per thread (requests are built
 * on many threads at once) */
static _Thread_local const FwcPair *tl_pairs;

static int index_cmp(const void *x, const void *y)
{
    uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;
    int c = key_cmp(&tl_pairs[i].key, &tl_pairs[j].key);
    return c ? c : (i > j) - (i < j);
}

static int index_build(FieldIndex *ix, FwcArena *a, const FwcValue *dict, size_t lookups)
{
    *ix = (FieldIndex){ dict, NULL, 0 };
    if (dict->type != FWC_T_DICT || dict->len < 32 || lookups < 32) return 0;
    if (!(ix->order = fwc_arena_alloc(a, sizeof(uint32_t) * dict->len))) return -1;
    for (uint32_t i = 0; i < dict->len; i++)
        if (dict->u.pairs[i].key.type == FWC_T_STR) ix->order[ix->n++] = i;
    tl_pairs = dict->u.pairs;
    qsort(ix->order, ix->n, sizeof(uint32_t), index_cmp);
    return 0;
}

/* The value of str key s[0..n), the last one if repeated (as fwc_dict_get), or NULL. */
static const FwcValue *index_get(const FieldIndex *ix, const char *s, size_t n)
{
    if (!ix->order) return fwc_dict_get(ix->dict, s, n);
    const FwcPair *pairs = ix->dict->u.pairs;
    FwcValue want = { .type = FWC_T_STR, .len = (uint32_t)n, .u.s = s };
    uint32_t lo = 0, hi = ix->n; /* the first entry greater than the key */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (key_cmp(&pairs[ix->order[mid]].key, &want) <= 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0 || key_cmp(&pairs[ix->order[lo - 1]].key, &want) != 0) return NULL;
    return &pairs[ix->order[lo - 1]].value;
}

/* {key: doc.get(fieldname)} in row order; a repeated key keeps its first position and
 * takes the last value, as a Python dict does (positions worked out at construction:
 * FwcFieldRow.slot).  Values are shared with the snapshot. */
static FwcStatus field_map(const FwcHookSpec *spec, FwcBuilt *b, FwcError *err)
{
    FwcPair *pairs = fwc_arena_alloc(&b->arena, sizeof(FwcPair) * (spec->nfield_keys + 1));
    FieldIndex ix;
    if (!pairs || index_build(&ix, &b->arena, &b->snap->root, spec->nfields) < 0) return oom(err);
    for (size_t i = 0; i < spec->nfields; i++) {
        const FwcFieldRow *row = &spec->fields[i];
        const FwcValue *v = index_get(&ix, row->fieldname, row->fieldname_len);
        if (row->first && str_value(&b->arena, &pairs[row->slot].key, row->key, row->key_len) < 0)
            return oom(err);
        pairs[row->slot].value = v ? *v : fwc_null();
    }
    b->data = (FwcValue){
        .type = FWC_T_DICT, .ascii = 1, .len = (uint32_t)spec->nfield_keys, .u.pairs = pairs
    };
    return FWC_OK;
}

/* Frappe's headers are a dict: an existing name among the first `seen` headers keeps its
 * place, the value changes.  (The webhook's own rows are distinct already, so they are
 * only compared with the few signature headers: linear in the rows.) */
static FwcStatus add_header(FwcBuilt *b, size_t cap, size_t seen, const char *name,
                            const char *value, FwcError *err)
{
    size_t i = 0;
    while (i < seen && strcmp(b->headers[i].name, name) != 0) i++;
    if (i == seen) i = b->nheaders;
    char *v = fwc_arena_strdup(&b->arena, value, strlen(value));
    if (!v) return oom(err);
    if (i == b->nheaders) {
        if (i == cap) return fwc_error_set(err, FWC_EVALUE, "too many headers");
        char *n = fwc_arena_strdup(&b->arena, name, strlen(name));
        if (!n) return oom(err);
        b->headers[i].name = n;
        b->nheaders++;
    }
    b->headers[i].value = v;
    return FWC_OK;
}

static FwcStatus build_headers(const FwcHookSpec *spec, FwcBuilt *b, const char *msg_id,
                               long long timestamp, FwcError *err)
{
    size_t cap = spec->nheaders + 5;
    b->headers = fwc_arena_alloc(&b->arena, sizeof(FwcHeaderPair) * cap);
    if (!b->headers) return oom(err);
    for (int scheme = FWC_SIG_FRAPPE; scheme <= FWC_SIG_GITHUB; scheme <<= 1) {
        if (!(spec->signatures & scheme)) continue;
        FwcSigHeader sig[3];
        int n = fwc_sign((FwcSigScheme)scheme, spec->secret, spec->secret_len, b->body.data,
                         b->body.len, msg_id, timestamp, sig, err);
        if (n < 0) return err->code;
        for (int i = 0; i < n; i++) {
            FwcStatus st = add_header(b, cap, b->nheaders, sig[i].name, sig[i].value, err);
            if (st) return st;
        }
    }
    size_t signature_headers = b->nheaders;
    for (size_t i = 0; i < spec->nheaders; i++) {
        FwcStatus st = add_header(b, cap, signature_headers, spec->headers[i].name,
                                  spec->headers[i].value, err);
        if (st) return st;
    }
    return FWC_OK;
}

/* data = json.loads(render(webhook_json)), as Frappe's get_webhook_data does */
static FwcStatus template_data(const FwcHookSpec *spec, FwcBuilt *b, FwcError *err)
{
    /* room for a typical body up front, and for the body its text becomes: no chain of
     * doublings on either buffer */
    FwcBuf text = FWC_BUF_INIT;
    FwcStatus st =
        fwc_buf_reserve(&text, 4096) < 0
            ? oom(err)
            : fwc_tmpl_render(spec->json_tmpl, &b->snap->root, spec->json_escape, &text, err);
    if (!st && fwc_buf_reserve(&b->body, text.len + 64) < 0) st = oom(err);
    if (!st) {
        st = fwc_json_parse(&b->arena, text.data ? text.data : "", text.len, &b->data, err);
        if (st == FWC_ETEMPLATE) {
            char msg[sizeof err->message];
            snprintf(msg, sizeof msg, "%s", err->message);
            fwc_error_set(err, FWC_ETEMPLATE, "the rendered template is not valid JSON: %s", msg);
        }
    }
    fwc_buf_free(&text);
    return st;
}

/* request_url rendered with the body's context, then validated as a static URL is */
static FwcStatus dynamic_url(const FwcHookSpec *spec, FwcBuilt *b, FwcError *err)
{
    FwcBuf text = FWC_BUF_INIT;
    FwcStatus st = fwc_tmpl_render(spec->url_tmpl, &b->snap->root, 0, &text, err);
    if (!st) {
        char *url = fwc_arena_strdup(&b->arena, text.data ? text.data : "", text.len);
        if (!url) st = oom(err);
        else if (memchr(url, '\0', text.len))
            st = fwc_error_set(err, FWC_ETEMPLATE, "the rendered URL contains a NUL byte");
        else if ((st = fwc_url_validate(url, err))) {
            char msg[sizeof err->message];
            snprintf(msg, sizeof msg, "%s", err->message);
            st = fwc_error_set(err, FWC_ETEMPLATE, "the rendered URL %.200s is invalid: %s", url,
                               msg);
        }
        b->url = url;
    }
    fwc_buf_free(&text);
    return st;
}

FwcStatus fwc_request_build(const FwcHookSpec *spec, FwcSnapshot *snap, const char *msg_id,
                            long long timestamp, FwcBuilt *out, FwcError *err)
{
    memset(out, 0, sizeof *out);
    fwc_snapshot_incref(snap);
    out->snap = snap;
    FwcStatus st;
    if (spec->nfields) {
        st = field_map(spec, out, err);
    } else if (spec->json_tmpl) {
        st = template_data(spec, out, err);
    } else if (spec->json_callable) {
        /* the snapshot is the callable's result (fwc_spec_snapshot) */
        out->data = snap->root;
        st = FWC_OK;
    } else {
        out->data = (FwcValue){ .type = FWC_T_DICT, .ascii = 1 };
        st = FWC_OK;
    }
    /* a field-map body is about as large as its projected snapshot: one allocation
     * instead of a chain of doublings */
    if (!st && spec->nfields &&
        fwc_buf_reserve(&out->body,
                        snap->arena.total < (1u << 20) ? snap->arena.total : (1u << 20)) < 0)
        st = oom(err);
    if (!st) st = fwc_json_write(&out->body, &out->data, spec->json_style, err);
    if (!st) {
        /* copies: the request may outlive its webhook */
        out->url = spec->url_tmpl ? NULL
                                  : fwc_arena_strdup(&out->arena, spec->request_url,
                                                     strlen(spec->request_url));
        if (spec->url_tmpl && (st = dynamic_url(spec, out, err))) goto done;
        out->method =
            fwc_arena_strdup(&out->arena, spec->request_method, strlen(spec->request_method));
        if (!out->url || !out->method) st = oom(err);
    }
    if (!st) st = build_headers(spec, out, msg_id, timestamp, err);
done:
    if (st) fwc_built_release(out);
    return st;
}

void fwc_built_release(FwcBuilt *b)
{
    fwc_buf_free(&b->body);
    fwc_arena_free(&b->arena);
    fwc_snapshot_decref(b->snap);
    memset(b, 0, sizeof *b);
}
