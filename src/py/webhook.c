/* webhook.c — the Webhook type: an immutable, validated, compiled Frappe webhook. */
#include "py/py.h"
#include <time.h>

typedef FwcWebhookObject WebhookObject;

/* What a request reads of the document, in self->shape, or NULL for all of it.  A field
 * map reads its fields (Frappe's json.dumps only ever sees them too), a template what
 * tmpl_shape.c finds, a dynamic URL adds its own; a callable webhook_json gets the whole
 * document.  -1 + exception. */
static int doc_shape(WebhookObject *self)
{
    const FwcHookSpec *spec = self->spec;
    if (spec->json_callable && !spec->nfields) return 0;
    FwcShape *shape = fwc_shape_new(), *field;
    int ok = shape != NULL;
    for (size_t i = 0; ok && i < spec->nfields; i++) {
        ok = (field = fwc_shape_key(shape, spec->fields[i].fieldname,
                                    spec->fields[i].fieldname_len)) != NULL;
        if (ok) field->whole = 1;
    }
    if (ok && !spec->nfields && spec->json_tmpl) ok = fwc_tmpl_shape(spec->json_tmpl, shape) == 0;
    if (ok && spec->url_tmpl) ok = fwc_tmpl_shape(spec->url_tmpl, shape) == 0;
    if (!ok) {
        fwc_shape_release(shape);
        PyErr_NoMemory();
        return -1;
    }
    if (shape->whole || fwc_shape_bind(shape) < 0) {
        fwc_shape_release(shape);
        return PyErr_Occurred() ? -1 : 0;
    }
    self->shape = shape;
    return 0;
}

static PyObject *Webhook_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    FwcModuleState *st = fwc_state_of_type(tp);
    PyObject *kw = kwargs ? PyDict_Copy(kwargs) : PyDict_New();
    if (!kw) return NULL;
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    if (nargs > 1 || (nargs == 1 && PyDict_GetItemString(kw, "request_url"))) {
        PyErr_SetString(PyExc_TypeError,
                        "Webhook() takes request_url as its only positional argument");
        Py_DECREF(kw);
        return NULL;
    }
    if (nargs == 1 && PyDict_SetItemString(kw, "request_url", PyTuple_GET_ITEM(args, 0)) < 0) {
        Py_DECREF(kw);
        return NULL;
    }
    PyObject *attrs = NULL;
    FwcHookSpec *spec = fwc_spec_from_kwargs(st, kw, &attrs);
    Py_DECREF(kw);
    if (!spec) return NULL;
    WebhookObject *self = (WebhookObject *)tp->tp_alloc(tp, 0);
    if (!self) {
        fwc_spec_decref(spec);
        Py_DECREF(attrs);
        return NULL;
    }
    self->spec = spec;
    self->attrs = attrs;
    if (doc_shape(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int Webhook_traverse(WebhookObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->attrs);
    return 0;
}

static PyObject *Webhook_getattr(WebhookObject *self, void *name)
{
    PyObject *v = PyDict_GetItemString(self->attrs, (const char *)name);
    if (!v) return PyErr_Format(PyExc_AttributeError, "%s", (const char *)name);
    return Py_NewRef(v);
}

static PyObject *Webhook_repr(WebhookObject *self)
{
    const FwcHookSpec *s = self->spec;
    return PyUnicode_FromFormat(
        "<Webhook %R %s %s%s%s%s%s>", PyDict_GetItemString(self->attrs, "name"), s->request_method,
        s->request_url, *s->webhook_doctype ? " on " : "", s->webhook_doctype,
        *s->webhook_docevent ? "." : "", s->webhook_docevent);
}

/* ---------- building ---------- */

/* Snapshot with the GIL, build without it.  0 ok, -1 with an exception set. */
static int build(WebhookObject *self, PyObject *doc, FwcBuilt *out)
{
    FwcModuleState *st = fwc_state_of((PyObject *)self);
    FwcSnapshot *snap = fwc_webhook_snapshot((PyObject *)self, doc);
    if (!snap) return -1;
    char msg_id[32] = "";
    long long now = -1; /* the signer reads the clock */
    if (self->spec->signatures & FWC_SIG_STANDARD) fwc_new_msg_id(msg_id);
    FwcError err;
    FwcStatus status;
    Py_BEGIN_ALLOW_THREADS status = fwc_request_build(self->spec, snap, msg_id, now, out, &err);
    Py_END_ALLOW_THREADS fwc_snapshot_decref(snap);
    if (status) {
        fwc_raise(st, &err);
        return -1;
    }
    return 0;
}

static PyObject *Webhook_request(WebhookObject *self, PyObject *doc)
{
    FwcBuilt built;
    if (build(self, doc, &built) < 0) return NULL;
    return fwc_request_new(fwc_state_of((PyObject *)self), &built);
}

/* send(doc) -> Response: dispatch(self, doc) */
static PyObject *Webhook_send(WebhookObject *self, PyObject *doc)
{
    return fwc_dispatch(fwc_state_of((PyObject *)self), (PyObject *)self, doc);
}

/* What Frappe's "Preview Request Body" shows: frappe.as_json(data). */
static PyObject *Webhook_preview_request_body(WebhookObject *self, PyObject *doc)
{
    FwcBuilt built;
    if (build(self, doc, &built) < 0) return NULL;
    FwcBuf text = FWC_BUF_INIT;
    FwcError err;
    FwcStatus status;
    Py_BEGIN_ALLOW_THREADS status = fwc_json_write(&text, &built.data, FWC_JSON_AS_JSON, &err);
    Py_END_ALLOW_THREADS PyObject *res =
        status ? fwc_raise(fwc_state_of((PyObject *)self), &err)
               : PyUnicode_DecodeASCII(text.data ? text.data : "", (Py_ssize_t)text.len, NULL);
    fwc_buf_free(&text);
    fwc_built_release(&built);
    return res;
}

/* Webhook.from_frappe(doc): a Frappe Webhook document (dict, child tables as lists of
 * dicts) mapped one to one onto the keyword arguments; other fields are ignored. */
static PyObject *Webhook_from_frappe(PyTypeObject *tp, PyObject *m)
{
    if (!PyMapping_Check(m))
        return PyErr_Format(PyExc_TypeError, "from_frappe() needs a mapping, not %.100s",
                            Py_TYPE(m)->tp_name);
    PyObject *kw = PyDict_New();
    if (!kw) return NULL;
    for (const char *const *k = fwc_hook_keywords(); *k; k++) {
        PyObject *v = PyMapping_GetItemString(m, *k);
        if (!v) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError)) goto error;
            PyErr_Clear();
            continue;
        }
        /* Frappe stores "no timeout" as 0 and uses `webhook.timeout or 5` */
        int overflow = 0;
        int skip = strcmp(*k, "timeout") == 0 && PyLong_Check(v) &&
                   PyLong_AsLongAndOverflow(v, &overflow) == 0 && !overflow;
        if (!skip && PyDict_SetItemString(kw, *k, v) < 0) {
            Py_DECREF(v);
            goto error;
        }
        Py_DECREF(v);
    }
    PyObject *empty = PyTuple_New(0);
    PyObject *res = empty ? PyObject_Call((PyObject *)tp, empty, kw) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(kw);
    return res;
error:
    Py_DECREF(kw);
    return NULL;
}

#define ATTR(n, doc)                                                                               \
    {                                                                                              \
#n, (getter)Webhook_getattr, NULL, doc, #n                                                 \
    }
static PyGetSetDef Webhook_getset[] = {
    ATTR(request_url, "URL the request goes to (a template when is_dynamic_url)"),
    ATTR(name, "webhook name"),
    ATTR(webhook_doctype, "DocType the webhook listens to"),
    ATTR(webhook_docevent, "document event (after_insert, on_update, ...)"),
    ATTR(condition, "condition source or callable"),
    ATTR(enabled, "disabled webhooks never fire"),
    ATTR(request_method, "POST, PUT, DELETE or PATCH"),
    ATTR(request_structure, "'', 'Form URL-Encoded' or 'JSON'"),
    ATTR(webhook_json, "JSON body template"),
    ATTR(webhook_data, "field rows as (fieldname, key) pairs"),
    ATTR(webhook_headers, "header rows as (key, value) pairs"),
    ATTR(enable_security, "whether requests are signed"),
    ATTR(is_dynamic_url, "whether request_url is a template"),
    ATTR(json_escape,
         "whether values inside JSON string literals of webhook_json are JSON-escaped"),
    ATTR(timeout, "seconds for the whole transfer"),
    ATTR(max_retries, "retries after the first attempt"),
    ATTR(retry_schedule, "seconds between attempts (Dispatcher); the last step repeats"),
    ATTR(retry_jitter, "random fraction (+/-) applied to each retry step"),
    ATTR(background_jobs_queue, "queue name (kept for Frappe compatibility)"),
    ATTR(signature, "signature schemes applied, e.g. ('frappe',)"),
    ATTR(json_style, "'dumps' or 'as_json'"),
    ATTR(follow_redirects, "how many redirects dispatch() follows (0: none)"),
    ATTR(verify_tls, "whether TLS certificates are verified"),
    ATTR(ca_file, "CA bundle (PEM) used instead of the system's, or None"),
    ATTR(client_cert, "client certificate (PEM) for mutual TLS, or None"),
    ATTR(client_key, "private key (PEM) of client_cert, or None"),
    ATTR(allow_private_networks, "whether loopback/private/link-local addresses may be reached"),
    ATTR(allowed_networks, "networks (CIDR) reachable despite SSRF protection"),
    ATTR(proxy, "proxy URL (http, https, socks5), or None"),
    ATTR(max_response_bytes, "response body bytes kept (the rest is cut, truncated=True)"),
    { NULL },
};

static PyMethodDef Webhook_methods[] = {
    { "request", (PyCFunction)Webhook_request, METH_O,
      "request(doc) -> Request: what would be sent for doc" },
    { "send", (PyCFunction)Webhook_send, METH_O,
      "send(doc) -> Response: build and send the request now" },
    { "preview_request_body", (PyCFunction)Webhook_preview_request_body, METH_O,
      "preview_request_body(doc) -> str: Frappe's preview (frappe.as_json of the data)" },
    { "from_frappe", (PyCFunction)Webhook_from_frappe, METH_O | METH_CLASS,
      "from_frappe(doc) -> Webhook from a Frappe Webhook document as a dict" },
    { "meets_condition", (PyCFunction)fwc_webhook_meets_condition, METH_O,
      "meets_condition(doc) -> bool: the condition on doc (True without one); ConditionError if it "
      "fails" },
    { "matches", (PyCFunction)(void (*)(void))fwc_webhook_matches, METH_VARARGS | METH_KEYWORDS,
      "matches(doc, event, in_insert=False) -> bool: enabled, doctype, event (as Frappe allows it) "
      "and condition" },
    { NULL },
};

static PyType_Slot Webhook_slots[] = {
    { Py_tp_new, Webhook_new },
    { Py_tp_dealloc, fwc_webhook_dealloc },
    { Py_tp_traverse, Webhook_traverse },
    { Py_tp_clear, fwc_webhook_clear },
    { Py_tp_repr, Webhook_repr },
    { Py_tp_getset, Webhook_getset },
    { Py_tp_methods, Webhook_methods },
    { Py_tp_doc, "Webhook(request_url, **fields): a Frappe webhook, validated and compiled once." },
    { 0, NULL },
};

PyType_Spec fwc_webhook_spec = {
    .name = "frappe_webhook_c.Webhook",
    .basicsize = sizeof(WebhookObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Webhook_slots,
};
