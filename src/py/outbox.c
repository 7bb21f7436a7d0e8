/* outbox.c — the Python face of the store (store/store.h): the Outbox type (a store opened
 * without an engine, for reading and administration: the `outbox` CLI), the delivery log
 * methods it shares with Dispatcher (deliveries, attempts, purge, stats), the store
 * options both parse, and the resolver thread's helpers (_take_unresolved, _resolved). */
#include "py/py.h"

/* ---------- options ---------- */

int fwc_store_path_from(PyObject *store, PyObject **path_bytes)
{
    *path_bytes = NULL;
    PyObject *p = PyOS_FSPath(store);
    if (!p) return -1;
    if (PyUnicode_Check(p)) {
        const char *u = PyUnicode_AsUTF8(p);
        if (!u) {
            Py_DECREF(p);
            return -1;
        }
        if (!strncmp(u, "sqlite:///", 10)) {
            Py_SETREF(p, PyUnicode_FromString(u + 9)); /* keeps the leading / */
            if (!p) return -1;
        } else if (strstr(u, "://")) {
            PyErr_Format(PyExc_ValueError,
                         "store=%R: only SQLite files are supported (a path, or "
                         "sqlite:///absolute/path.db)",
                         p);
            Py_DECREF(p);
            return -1;
        }
        Py_SETREF(p, PyUnicode_EncodeFSDefault(p));
        if (!p) return -1;
    }
    if (!PyBytes_GET_SIZE(p) || strlen(PyBytes_AS_STRING(p)) != (size_t)PyBytes_GET_SIZE(p)) {
        PyErr_Format(PyExc_ValueError, "store must name a file, not %R", p);
        Py_DECREF(p);
        return -1;
    }
    *path_bytes = p;
    return 0;
}

/* ---------- rows as Python values ---------- */

static PyObject *str_or_none(const char *s)
{
    if (!s) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

static PyObject *time_or_none(double t)
{
    if (t <= 0) Py_RETURN_NONE;
    return PyFloat_FromDouble(t);
}

static PyObject *log_row(const void *row)
{
    const FwcLogRow *r = row;
    return Py_BuildValue("{s:s,s:N,s:N,s:N,s:s,s:i,s:N,s:d,s:d,s:N,s:N,s:N}", "id", r->id,
                         "webhook", str_or_none(r->webhook), "reference_doctype",
                         str_or_none(r->doctype), "reference_document", str_or_none(r->docname),
                         "status", fwc_delivery_status_name(r->status), "attempts", r->attempts,
                         "next_retry", time_or_none(r->next_retry), "created", r->created,
                         "updated", r->updated, "error", str_or_none(r->error), "owner",
                         str_or_none(r->owner), "waiting", str_or_none(r->waiting));
}

static PyObject *attempt_row(const void *row)
{
    const FwcAttemptRow *a = row;
    FwcBuf raw = { a->headers, a->headers_len, a->headers_len };
    PyObject *headers = a->headers ? fwc_header_list(&raw, 0) : PyList_New(0);
    if (!headers) return NULL;
    PyObject *rs = a->response_status ? PyLong_FromLong(a->response_status) : Py_NewRef(Py_None);
    return Py_BuildValue("{s:i,s:d,s:s,s:N,s:N,s:N,s:y#,s:N,s:d}", "attempt", a->attempt, "time",
                         a->time, "status", fwc_delivery_status_name(a->status), "response_status",
                         rs, "url", str_or_none(a->url), "response_headers", headers,
                         "response_body", a->body ? a->body : "", (Py_ssize_t)a->body_len, "error",
                         str_or_none(a->error), "elapsed", a->elapsed);
}

/* A list of conv(row) for the n rows (of `size` bytes each); NULL + exception. */
static PyObject *rows_list(const void *rows, size_t n, size_t size,
                           PyObject *(*conv)(const void *row))
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *d = conv((const char *)rows + i * size);
        if (!d) Py_CLEAR(list);
        else PyList_SET_ITEM(list, (Py_ssize_t)i, d);
    }
    return list;
}

/* ---------- the log, shared by Outbox and Dispatcher ---------- */

static int opt_text(PyObject *o, const char *what, const char **out)
{
    *out = NULL;
    if (!o || o == Py_None) return 0;
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str or None, not %.100s", what,
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    return (*out = PyUnicode_AsUTF8(o)) ? 0 : -1;
}

static FwcStore *usable(FwcStore *s)
{
    if (s && !fwc_store_closed(s)) return s;
    PyErr_SetString(PyExc_RuntimeError, "the store is closed");
    return NULL;
}

PyObject *fwc_outbox_deliveries(FwcModuleState *st, FwcStore *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "status", "webhook", "reference_document", "since", "limit", NULL };
    PyObject *status = NULL, *webhook = NULL, *docname = NULL, *since = NULL;
    long limit = 100;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOOl:deliveries", kwlist, &status, &webhook,
                                     &docname, &since, &limit))
        return NULL;
    FwcLogQuery q = { 0 };
    q.limit = limit;
    if (limit < 0) return PyErr_Format(PyExc_ValueError, "limit must be >= 0, not %ld", limit);
    if (opt_text(status, "status", &q.status) < 0 || opt_text(webhook, "webhook", &q.webhook) < 0 ||
        opt_text(docname, "reference_document", &q.docname) < 0)
        return NULL;
    if (since && since != Py_None) {
        q.since = PyFloat_AsDouble(since);
        if (q.since == -1.0 && PyErr_Occurred()) return NULL;
    }
    if (!usable(s)) return NULL;
    FwcLogRow *rows;
    size_t n;
    FwcError err;
    int rc;
    fwc_store_incref(s); /* a close() in another thread must not free it under us */
    Py_BEGIN_ALLOW_THREADS rc = fwc_store_deliveries(s, &q, &rows, &n, &err);
    Py_END_ALLOW_THREADS fwc_store_decref(s);
    if (rc) return fwc_raise(st, &err);
    PyObject *list = rows_list(rows, n, sizeof *rows, log_row);
    fwc_log_rows_free(rows, n);
    return list;
}

PyObject *fwc_outbox_attempts(FwcModuleState *st, FwcStore *s, PyObject *id)
{
    if (!PyUnicode_Check(id))
        return PyErr_Format(PyExc_TypeError, "delivery_id must be a str, not %.100s",
                            Py_TYPE(id)->tp_name);
    const char *text = PyUnicode_AsUTF8(id);
    if (!text || !usable(s)) return NULL;
    FwcAttemptRow *rows;
    size_t n;
    FwcError err;
    int rc;
    fwc_store_incref(s); /* a close() in another thread must not free it under us */
    Py_BEGIN_ALLOW_THREADS rc = fwc_store_attempts(s, text, &rows, &n, &err);
    Py_END_ALLOW_THREADS fwc_store_decref(s);
    if (rc) return fwc_raise(st, &err);
    PyObject *list = rows_list(rows, n, sizeof *rows, attempt_row);
    fwc_attempt_rows_free(rows, n);
    return list;
}

PyObject *fwc_outbox_purge(FwcModuleState *st, FwcStore *s, double retention, PyObject *args,
                           PyObject *kw)
{
    static char *kwlist[] = { "older_than", NULL };
    PyObject *older = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:purge", kwlist, &older)) return NULL;
    double age = retention;
    if (older != Py_None) {
        age = PyFloat_AsDouble(older);
        if (age == -1.0 && PyErr_Occurred()) return NULL;
        if (!(age >= 0)) return PyErr_Format(PyExc_ValueError, "older_than must be >= 0");
    }
    if (!usable(s)) return NULL;
    long long removed;
    FwcError err;
    int rc;
    fwc_store_incref(s); /* a close() in another thread must not free it under us */
    Py_BEGIN_ALLOW_THREADS rc = fwc_store_purge(s, fwc_wall_now() - age, &removed, &err);
    Py_END_ALLOW_THREADS fwc_store_decref(s);
    if (rc) return fwc_raise(st, &err);
    return PyLong_FromLongLong(removed);
}

PyObject *fwc_outbox_counts(FwcModuleState *st, FwcStore *s)
{
    if (!usable(s)) return NULL;
    FwcStoreCounts c;
    FwcError err;
    int rc;
    fwc_store_incref(s); /* a close() in another thread must not free it under us */
    Py_BEGIN_ALLOW_THREADS rc = fwc_store_counts(s, &c, &err);
    Py_END_ALLOW_THREADS fwc_store_decref(s);
    if (rc) return fwc_raise(st, &err);
    pthread_mutex_lock(&s->lock);
    unsigned long long errors = s->store_errors, commits = s->commits, committed = s->committed;
    char last[sizeof s->last_error];
    memcpy(last, s->last_error, sizeof last);
    pthread_mutex_unlock(&s->lock);
    return Py_BuildValue("{sKsKsKsKsKsKsssKsNsKsK}", "queued", c.queued, "delivered", c.delivered,
                         "failed", c.failed, "exhausted", c.exhausted, "waiting", c.waiting,
                         "leased", c.leased, "path", fwc_store_path(s), "errors", errors,
                         "last_error", str_or_none(last[0] ? last : NULL), "commits", commits,
                         "committed", committed);
}

/* ---------- the resolver thread (frappe_webhook_c._delivery) ---------- */

#define STORE_CAPSULE "frappe_webhook_c.store"

PyObject *fwc_store_capsule(FwcStore *s)
{
    PyObject *cap = PyCapsule_New(s, STORE_CAPSULE, NULL);
    if (cap) fwc_store_incref(s); /* released by _release_store */
    return cap;
}

static FwcStore *from_capsule(PyObject *cap)
{
    return (FwcStore *)PyCapsule_GetPointer(cap, STORE_CAPSULE);
}

/* _take_unresolved(store) -> list of names, or None once the store closes */
PyObject *fwc_py_take_unresolved(PyObject *module, PyObject *cap)
{
    FwcStore *s = from_capsule(cap);
    if (!s) return NULL;
    size_t n;
    char **names;
    Py_BEGIN_ALLOW_THREADS names = fwc_store_take_unresolved(s, &n);
    Py_END_ALLOW_THREADS if (!names) Py_RETURN_NONE;
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; i < n; i++) {
        PyObject *name = list ? PyUnicode_FromString(names[i]) : NULL;
        if (list && !name) Py_CLEAR(list);
        if (list) PyList_SET_ITEM(list, (Py_ssize_t)i, name);
        free(names[i]);
    }
    free(names);
    return list;
}

/* _resolved(store, name, hook_or_None, why) */
PyObject *fwc_py_resolved(PyObject *module, PyObject *args)
{
    PyObject *cap, *hook;
    const char *name, *why = NULL;
    if (!PyArg_ParseTuple(args, "OsO|z:_resolved", &cap, &name, &hook, &why)) return NULL;
    FwcStore *s = from_capsule(cap);
    if (!s) return NULL;
    FwcHookSpec *spec = NULL;
    if (hook != Py_None) {
        FwcModuleState *st = fwc_state_of_module(module);
        if (!(spec = fwc_webhook_get_spec(st, hook))) return NULL;
        if (strcmp(spec->name, name)) {
            char text[200];
            snprintf(text, sizeof text, "the resolver returned webhook '%.60s' for '%.60s'",
                     spec->name, name);
            fwc_store_resolved(s, name, NULL, text);
            Py_RETURN_NONE;
        }
    }
    fwc_store_resolved(s, name, spec, why);
    Py_RETURN_NONE;
}

PyObject *fwc_py_release_store(PyObject *module, PyObject *cap)
{
    FwcStore *s = from_capsule(cap);
    if (!s) return NULL;
    fwc_store_decref(s);
    Py_RETURN_NONE;
}

/* ---------- the Outbox type ---------- */

typedef struct {
    PyObject_HEAD FwcStore *store; /* NULL once closed */
} OutboxObject;

static PyObject *Outbox_new(PyTypeObject *tp, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "path", "busy_timeout", NULL };
    PyObject *path;
    double busy = 5.0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|d:Outbox", kwlist, &path, &busy)) return NULL;
    if (!(busy >= 0))
        return PyErr_Format(PyExc_ValueError, "busy_timeout must be >= 0, not %g", busy);
    PyObject *bytes;
    if (fwc_store_path_from(path, &bytes) < 0) return NULL;
    FwcStoreOptions opt = { PyBytes_AS_STRING(bytes), 0, 30.0, 30 * 86400.0, busy, 1 };
    FwcError err;
    FwcStore *s;
    Py_BEGIN_ALLOW_THREADS s = fwc_store_open(&opt, &err);
    Py_END_ALLOW_THREADS Py_DECREF(bytes);
    FwcModuleState *st = fwc_state_of_type(tp);
    if (!s) return fwc_raise(st, &err);
    OutboxObject *self = (OutboxObject *)tp->tp_alloc(tp, 0);
    if (!self) {
        fwc_store_close(s);
        return NULL;
    }
    self->store = s;
    return (PyObject *)self;
}

static void Outbox_dealloc(OutboxObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->store) fwc_store_close(self->store);
    tp->tp_free(self);
    Py_DECREF(tp);
}

#define OUTBOX_STATE(self) fwc_state_of((PyObject *)(self))

static PyObject *Outbox_stats(OutboxObject *self, PyObject *unused)
{
    return fwc_outbox_counts(OUTBOX_STATE(self), self->store);
}
static PyObject *Outbox_deliveries(OutboxObject *self, PyObject *args, PyObject *kw)
{
    return fwc_outbox_deliveries(OUTBOX_STATE(self), self->store, args, kw);
}
static PyObject *Outbox_attempts(OutboxObject *self, PyObject *id)
{
    return fwc_outbox_attempts(OUTBOX_STATE(self), self->store, id);
}
static PyObject *Outbox_purge(OutboxObject *self, PyObject *args, PyObject *kw)
{
    return fwc_outbox_purge(OUTBOX_STATE(self), self->store, 30 * 86400.0, args, kw);
}

static PyObject *Outbox_requeue(OutboxObject *self, PyObject *id)
{
    if (!PyUnicode_Check(id))
        return PyErr_Format(PyExc_TypeError, "delivery_id must be a str, not %.100s",
                            Py_TYPE(id)->tp_name);
    const char *text = PyUnicode_AsUTF8(id);
    if (!text || !usable(self->store)) return NULL;
    FwcError err;
    int rc;
    FwcStore *s = self->store;
    fwc_store_incref(s);
    Py_BEGIN_ALLOW_THREADS rc = fwc_store_requeue(s, text, &err);
    Py_END_ALLOW_THREADS fwc_store_decref(s);
    if (rc) return fwc_raise(OUTBOX_STATE(self), &err);
    Py_RETURN_NONE;
}

static PyObject *Outbox_close(OutboxObject *self, PyObject *unused)
{
    FwcStore *s = self->store;
    self->store = NULL;
    if (s) {
        Py_BEGIN_ALLOW_THREADS fwc_store_close(s);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyObject *Outbox_enter(PyObject *self, PyObject *unused) { return Py_NewRef(self); }
static PyObject *Outbox_exit(OutboxObject *self, PyObject *args)
{
    PyObject *r = Outbox_close(self, NULL);
    Py_XDECREF(r);
    if (!r) return NULL;
    Py_RETURN_FALSE;
}

static PyObject *Outbox_get_path(OutboxObject *self, void *c)
{
    if (!usable(self->store)) return NULL;
    return PyUnicode_DecodeFSDefault(fwc_store_path(self->store));
}

static PyObject *Outbox_repr(OutboxObject *self)
{
    if (!self->store) return PyUnicode_FromString("<Outbox closed>");
    return PyUnicode_FromFormat("<Outbox %s>", fwc_store_path(self->store));
}

static PyMethodDef Outbox_methods[] = {
    { "stats", (PyCFunction)Outbox_stats, METH_NOARGS,
      "stats() -> counts of the stored deliveries by status, and those waiting or leased" },
    { "deliveries", (PyCFunction)(void (*)(void))Outbox_deliveries, METH_VARARGS | METH_KEYWORDS,
      "deliveries(status=None, webhook=None, reference_document=None, since=None, limit=100) -> "
      "list of dicts, newest first" },
    { "attempts", (PyCFunction)Outbox_attempts, METH_O,
      "attempts(delivery_id) -> list of dicts, one per attempt, in order" },
    { "requeue", (PyCFunction)Outbox_requeue, METH_O,
      "requeue(delivery_id): send it again now (a new round of attempts), from whichever "
      "process serving this store claims it" },
    { "purge", (PyCFunction)(void (*)(void))Outbox_purge, METH_VARARGS | METH_KEYWORDS,
      "purge(older_than=None) -> rows removed: delivered/exhausted deliveries last updated "
      "more than older_than seconds ago (default 30 days)" },
    { "close", (PyCFunction)Outbox_close, METH_NOARGS, "close the store" },
    { "__enter__", (PyCFunction)Outbox_enter, METH_NOARGS, NULL },
    { "__exit__", (PyCFunction)Outbox_exit, METH_VARARGS, NULL },
    { NULL },
};

static PyGetSetDef Outbox_getset[] = {
    { "path", (getter)Outbox_get_path, NULL, "the store's file", NULL },
    { NULL },
};

static PyType_Slot Outbox_slots[] = {
    { Py_tp_new, Outbox_new },
    { Py_tp_dealloc, Outbox_dealloc },
    { Py_tp_repr, Outbox_repr },
    { Py_tp_methods, Outbox_methods },
    { Py_tp_getset, Outbox_getset },
    { Py_tp_doc, "Outbox(path, busy_timeout=5.0): a Dispatcher's store (store=path) opened "
                 "without sending: its delivery log, counts, requeue and purge." },
    { 0, NULL },
};

PyType_Spec fwc_outbox_spec = {
    .name = "frappe_webhook_c.Outbox",
    .basicsize = sizeof(OutboxObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Outbox_slots,
};
