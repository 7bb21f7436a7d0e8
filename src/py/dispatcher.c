/* dispatcher.c — the Dispatcher type: the Python face of the delivery engine.
 *
 * enqueue() runs in the caller with the GIL: one snapshot of the document (only the
 * fields a field-map body needs), one job, one Delivery view, a push under the engine
 * lock, and an eventfd write only when a worker sleeps.  Everything after that happens
 * on the engine's native threads (engine.h lists the files).  flush(), close() and
 * enqueue(block=True) wait with the GIL released, in slices that notice Ctrl-C. */
#include "py/py.h"

/* ---------- Python side ---------- */

static PyObject *KEY_DOCTYPE, *KEY_NAME;

typedef struct {
    PyObject_HEAD FwcEngine *eng; /* NULL only when construction failed */
    PyObject *on_result;
    int workers;
    long max_connections, max_per_host;
    Py_ssize_t max_queue;
    int native_http;
    unsigned long key_serial; /* spec whose host key is in `key`; 0 none */
    char key[300];
} DispatcherObject;

/* Starts the callback thread of e (frappe_webhook_c._delivery). */
static int start_callbacks(FwcEngine *e, PyObject *on_result)
{
    PyObject *mod = PyImport_ImportModule("frappe_webhook_c._delivery");
    if (!mod) return -1;
    PyObject *cap = PyCapsule_New(e, "frappe_webhook_c.engine", NULL);
    if (!cap) {
        Py_DECREF(mod);
        return -1;
    }
    /* the capsule's reference to e is released by _release_engine when the thread ends */
    fwc_engine_incref(e);
    PyObject *r = PyObject_CallMethod(mod, "_start_callback_thread", "OO", cap, on_result);
    Py_DECREF(mod);
    Py_DECREF(cap);
    if (!r) {
        fwc_engine_decref(e);
        return -1;
    }
    Py_DECREF(r);
    pthread_mutex_lock(&e->lock);
    e->cb_started = 1; /* cb_tid is set by the thread's first _take_results */
    pthread_mutex_unlock(&e->lock);
    return 0;
}

/* fwc_engine_close with the GIL released (it waits for the workers) */
static FwcJob **close_engine(FwcEngine *e, double timeout, size_t *n)
{
    FwcJob **left;
    Py_BEGIN_ALLOW_THREADS left = fwc_engine_close(e, timeout, n);
    Py_END_ALLOW_THREADS return left;
}

static FwcEngine *make_engine(DispatcherObject *self)
{
    FwcError err;
    FwcEngine *e =
        fwc_engine_new(self->workers, self->max_connections, self->max_per_host,
                       (size_t)self->max_queue, self->on_result != NULL, self->native_http, &err);
    if (!e) return (FwcEngine *)fwc_raise(fwc_state_of((PyObject *)self), &err);
    if (self->on_result && start_callbacks(e, self->on_result) < 0) {
        size_t n;
        FwcJob **left = close_engine(e, 0, &n);
        free(left);
        fwc_engine_decref(e);
        return NULL;
    }
    return e;
}

static PyObject *Dispatcher_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "workers",   "max_connections", "max_per_host",
                              "max_queue", "on_result",       "native_http",
                              NULL };
    int workers = 1;
    long max_connections = 64, max_per_host = 16;
    Py_ssize_t max_queue = 100000;
    PyObject *on_result = Py_None;
    int native_http = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|illnO$p:Dispatcher", kwlist, &workers,
                                     &max_connections, &max_per_host, &max_queue, &on_result,
                                     &native_http))
        return NULL;
    if (workers < 1 || workers > 64)
        return PyErr_Format(PyExc_ValueError, "workers must be from 1 to 64, not %d", workers);
    if (max_connections < workers || max_connections > 100000)
        return PyErr_Format(PyExc_ValueError,
                            "max_connections must be from workers (%d) to 100000, not %ld", workers,
                            max_connections);
    if (max_per_host < 1 || max_per_host > 100000)
        return PyErr_Format(PyExc_ValueError, "max_per_host must be from 1 to 100000, not %ld",
                            max_per_host);
    if (max_queue < 1)
        return PyErr_Format(PyExc_ValueError, "max_queue must be at least 1, not %zd", max_queue);
    if (on_result != Py_None && !PyCallable_Check(on_result))
        return PyErr_Format(PyExc_TypeError, "on_result must be callable or None, not %.100s",
                            Py_TYPE(on_result)->tp_name);
    DispatcherObject *self = (DispatcherObject *)tp->tp_alloc(tp, 0);
    if (!self) return NULL;
    self->workers = workers;
    self->max_connections = max_connections;
    self->max_per_host = max_per_host;
    self->max_queue = max_queue;
    self->native_http = native_http;
    self->on_result = on_result == Py_None ? NULL : Py_NewRef(on_result);
    if (!(self->eng = make_engine(self))) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* Logs the ids of deliveries dropped without being delivered (GIL held, not finalizing). */
static void log_undelivered(PyObject *views, const char *why)
{
    if (!views || PyList_GET_SIZE(views) == 0) return;
#if PY_VERSION_HEX >= 0x030D0000
    if (Py_IsFinalizing()) return;
#else
    if (_Py_IsFinalizing()) return;
#endif
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *mod = PyImport_ImportModule("frappe_webhook_c._delivery");
    PyObject *r = mod ? PyObject_CallMethod(mod, "_log_undelivered", "Os", views, why) : NULL;
    if (!r) PyErr_WriteUnraisable(mod);
    Py_XDECREF(r);
    Py_XDECREF(mod);
    PyErr_Restore(type, value, tb);
}

static void Dispatcher_dealloc(DispatcherObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->eng) {
        size_t n;
        FwcJob **left = close_engine(self->eng, 0, &n);
        FwcModuleState *st = fwc_state_of((PyObject *)self);
        if (n && st) {
            PyObject *views = fwc_delivery_views(st, left, n);
            if (!views) PyErr_Clear();
            log_undelivered(views, "a Dispatcher was garbage-collected without close()");
            Py_XDECREF(views);
        } else {
            for (size_t i = 0; i < n; i++) fwc_job_decref(left[i]);
            free(left);
        }
        fwc_engine_decref(self->eng);
    }
    Py_CLEAR(self->on_result);
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* The document's doctype/name as a str (new reference), or NULL for None/missing (no
 * exception); -1 on error. */
static int doc_field(PyObject *doc, PyObject *key, PyObject **out)
{
    *out = NULL;
    PyObject *v;
    if (PyDict_Check(doc)) {
        v = PyDict_GetItemWithError(doc, key);
        if (!v) return PyErr_Occurred() ? -1 : 0;
        Py_INCREF(v);
    } else {
        v = PyObject_GetAttr(doc, key);
        if (!v) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return -1;
            PyErr_Clear();
            v = PyObject_GetItem(doc, key);
            if (!v) {
                PyErr_Clear();
                return 0;
            }
        }
    }
    if (v == Py_None) {
        Py_DECREF(v);
        return 0;
    }
    *out = PyUnicode_Check(v) ? Py_NewRef(v) : PyObject_Str(v);
    Py_DECREF(v);
    return *out ? 0 : -1;
}

/* UTF-8 of a doc_field() result, or NULL (None, or a lone surrogate: not worth failing
 * the save for). */
static const char *field_utf8(PyObject *s, Py_ssize_t *n)
{
    *n = 0;
    const char *u = s ? PyUnicode_AsUTF8AndSize(s, n) : NULL;
    if (!u) PyErr_Clear();
    return u;
}

/* A job, with its host key, doctype and name in the same allocation (one malloc per
 * enqueue, one free when it is done).  NULL when out of memory. */
static FwcJob *job_new(DispatcherObject *self, FwcHookSpec *spec, FwcSnapshot *snap,
                       PyObject *doctype, PyObject *docname)
{
    if (self->key_serial != spec->serial) {
        /* the key of the last webhook enqueued is kept: it is the same one, mostly */
        fwc_job_host_key(spec, self->key, sizeof self->key);
        self->key_serial = spec->serial;
    }
    Py_ssize_t tlen, nlen;
    const char *t = field_utf8(doctype, &tlen), *nm = field_utf8(docname, &nlen);
    return fwc_job_new(self->eng, spec, snap, NULL, self->key, t, (size_t)tlen, nm, (size_t)nlen);
}

static PyObject *closed_error(void)
{
    PyErr_SetString(PyExc_RuntimeError, "the Dispatcher is closed");
    return NULL;
}

/* enqueue(hook, doc, *, block=False, timeout=None) -> Delivery */
static PyObject *Dispatcher_enqueue(DispatcherObject *self, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    PyObject *hook = NULL, *doc = NULL;
    int block = 0;
    double timeout = -1;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 2)
        return PyErr_Format(PyExc_TypeError, "enqueue() takes 2 positional arguments, %zd given",
                            nargs);
    if (nargs >= 1) hook = args[0];
    if (nargs >= 2) doc = args[1];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        const char *k = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, i));
        PyObject *v = args[nargs + i];
        if (!k) return NULL;
        if (!strcmp(k, "hook") && !hook) hook = v;
        else if (!strcmp(k, "doc") && !doc) doc = v;
        else if (!strcmp(k, "block")) {
            if ((block = PyObject_IsTrue(v)) < 0) return NULL;
        } else if (!strcmp(k, "timeout")) {
            if (v != Py_None) {
                timeout = PyFloat_AsDouble(v);
                if (timeout == -1.0 && PyErr_Occurred()) return NULL;
                if (!(timeout >= 0))
                    return PyErr_Format(PyExc_ValueError, "timeout must be >= 0 or None");
            }
        } else
            return PyErr_Format(PyExc_TypeError,
                                "enqueue() got an unexpected keyword argument '%s'", k);
    }
    if (!hook || !doc)
        return PyErr_Format(PyExc_TypeError, "enqueue() missing required argument '%s'",
                            hook ? "doc" : "hook");
    FwcModuleState *st = fwc_state_of((PyObject *)self);
    FwcHookSpec *spec = fwc_webhook_get_spec(st, hook);
    if (!spec) return NULL;
    FwcEngine *e = self->eng;
    if (e->dead) {
        /* first enqueue in a forked child: a fresh engine; the parent's stays behind */
        FwcEngine *fresh = make_engine(self);
        if (!fresh) return NULL;
        self->eng = fresh;
        e = fresh;
    }
    if (e->closed) return closed_error();
    FwcSnapshot *snap = fwc_webhook_snapshot(hook, doc);
    if (!snap) return NULL;
    PyObject *doctype = NULL, *docname = NULL;
    if (doc_field(doc, KEY_DOCTYPE, &doctype) < 0 || doc_field(doc, KEY_NAME, &docname) < 0) {
        Py_XDECREF(doctype);
        fwc_snapshot_decref(snap);
        return NULL;
    }
    FwcJob *j = job_new(self, spec, snap, doctype, docname);
    Py_XDECREF(doctype);
    Py_XDECREF(docname);
    if (!j) {
        fwc_snapshot_decref(snap);
        return PyErr_NoMemory();
    }
    PyObject *view = fwc_delivery_view(st, j);
    fwc_job_decref(j); /* the view holds it */
    if (!view) return NULL;
    FwcWorker *waker = NULL;
    pthread_mutex_lock(&e->lock);
    int r = fwc_engine_push(e, j, 0, &waker);
    pthread_mutex_unlock(&e->lock);
    if (r == 1 && block) {
        /* wait for room, in slices so that signals (Ctrl-C) are seen */
        double deadline = timeout < 0 ? -1 : fwc_mono_now() + timeout;
        for (;;) {
            double slice = 0.1;
            if (deadline >= 0) {
                double left = deadline - fwc_mono_now();
                if (left <= 0) break;
                if (left < slice) slice = left;
            }
            Py_BEGIN_ALLOW_THREADS pthread_mutex_lock(&e->lock);
            e->room_waiters++;
            fwc_engine_wait(e, fwc_engine_has_room, slice);
            e->room_waiters--;
            r = fwc_engine_push(e, j, 0, &waker);
            pthread_mutex_unlock(&e->lock);
            Py_END_ALLOW_THREADS if (r != 1) break;
            if (PyErr_CheckSignals() < 0) {
                Py_DECREF(view);
                return NULL;
            }
        }
    }
    if (waker) fwc_worker_wake(waker);
    if (r == 0) return view;
    Py_DECREF(view);
    if (r == 2) return closed_error();
    if (r == -1) return PyErr_NoMemory();
    PyErr_Format(st->QueueFull, "the delivery queue is full (max_queue=%zd)", self->max_queue);
    return NULL;
}

static int parse_timeout(PyObject *o, double *out, const char *what)
{
    *out = -1;
    if (!o || o == Py_None) return 0;
    *out = PyFloat_AsDouble(o);
    if (*out == -1.0 && PyErr_Occurred()) return -1;
    if (!(*out >= 0)) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0 or None", what);
        return -1;
    }
    return 0;
}

/* flush(timeout=None) -> the deliveries not yet delivered (queued, in flight, scheduled) */
static PyObject *Dispatcher_flush(DispatcherObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "timeout", NULL };
    PyObject *t = Py_None;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:flush", kwlist, &t) ||
        parse_timeout(t, &timeout, "timeout") < 0)
        return NULL;
    FwcEngine *e = self->eng;
    if (e->dead) return PyList_New(0);
    double deadline = timeout < 0 ? -1 : fwc_mono_now() + timeout;
    for (;;) {
        double slice = 0.2;
        if (deadline >= 0) {
            double left = deadline - fwc_mono_now();
            if (left < slice) slice = left > 0 ? left : 0;
        }
        int ok;
        Py_BEGIN_ALLOW_THREADS pthread_mutex_lock(&e->lock);
        ok = fwc_engine_wait(e, fwc_engine_drained, slice);
        pthread_mutex_unlock(&e->lock);
        Py_END_ALLOW_THREADS if (ok || (deadline >= 0 && fwc_mono_now() >= deadline)) break;
        if (PyErr_CheckSignals() < 0) return NULL;
    }
    size_t n;
    FwcJob **jobs = fwc_engine_live_jobs(e, -1, &n);
    return fwc_delivery_views(fwc_state_of((PyObject *)self), jobs, n);
}

static int due_cmp(const void *a, const void *b)
{
    double x = (*(FwcJob *const *)a)->due, y = (*(FwcJob *const *)b)->due;
    return x < y ? -1 : x > y;
}

/* scheduled() -> deliveries waiting for a retry, soonest first */
static PyObject *Dispatcher_scheduled(DispatcherObject *self, PyObject *unused)
{
    FwcEngine *e = self->eng;
    if (e->dead) return PyList_New(0);
    size_t n;
    pthread_mutex_lock(&e->lock);
    FwcJob **jobs = e->heap_len ? malloc(e->heap_len * sizeof *jobs) : NULL;
    for (size_t i = 0; jobs && i < e->heap_len; i++) {
        jobs[i] = e->heap[i];
        fwc_job_incref(jobs[i]);
    }
    n = jobs ? e->heap_len : 0;
    if (jobs) qsort(jobs, n, sizeof *jobs, due_cmp);
    pthread_mutex_unlock(&e->lock);
    return fwc_delivery_views(fwc_state_of((PyObject *)self), jobs, n);
}

/* close(timeout=5.0) -> the deliveries not delivered */
static PyObject *Dispatcher_close(DispatcherObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "timeout", NULL };
    PyObject *t = NULL;
    double timeout = 5.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:close", kwlist, &t)) return NULL;
    if (t && parse_timeout(t, &timeout, "timeout") < 0) return NULL;
    if (timeout < 0) timeout = 1e9;
    size_t n;
    FwcJob **jobs = close_engine(self->eng, timeout, &n);
    return fwc_delivery_views(fwc_state_of((PyObject *)self), jobs, n);
}

static PyObject *Dispatcher_enter(PyObject *self, PyObject *unused) { return Py_NewRef(self); }

/* __exit__: close() with its default timeout; what it could not deliver is logged */
static PyObject *Dispatcher_exit(DispatcherObject *self, PyObject *args)
{
    size_t n;
    FwcJob **jobs = close_engine(self->eng, 5.0, &n);
    PyObject *views = fwc_delivery_views(fwc_state_of((PyObject *)self), jobs, n);
    if (!views) return NULL;
    log_undelivered(views, "the Dispatcher's with-block ended");
    Py_DECREF(views);
    Py_RETURN_FALSE;
}

static PyObject *Dispatcher_stats(DispatcherObject *self, PyObject *unused)
{
    FwcEngine *e = self->eng;
    unsigned long long v[11];
    pthread_mutex_lock(&e->lock);
    int dead = e->dead;
    v[0] = e->nqueued;
    v[1] = e->ninflight;
    v[2] = e->nscheduled;
    v[3] = e->delivered;
    v[4] = e->failed_attempts;
    v[5] = e->exhausted;
    v[6] = e->conn_opened;
    v[7] = e->conn_reused;
    v[8] = e->enqueued;
    v[9] = e->attempts;
    v[10] = e->native_attempts;
    pthread_mutex_unlock(&e->lock);
    if (dead) memset(v, 0, sizeof v);
    return Py_BuildValue("{sKsKsKsKsKsKsKsKsKsKsK}", "queued", v[0], "in_flight", v[1], "scheduled",
                         v[2], "delivered", v[3], "failed_attempts", v[4], "exhausted", v[5],
                         "connections_opened", v[6], "connections_reused", v[7], "enqueued", v[8],
                         "attempts", v[9], "native_attempts", v[10]);
}

static PyObject *Dispatcher_get_closed(DispatcherObject *self, void *c)
{
    pthread_mutex_lock(&self->eng->lock);
    int closed = self->eng->closed && !self->eng->dead;
    pthread_mutex_unlock(&self->eng->lock);
    return PyBool_FromLong(closed);
}

static PyObject *Dispatcher_get_workers(DispatcherObject *self, void *c)
{
    return PyLong_FromLong(self->workers);
}
static PyObject *Dispatcher_get_max_connections(DispatcherObject *self, void *c)
{
    return PyLong_FromLong(self->max_connections);
}
static PyObject *Dispatcher_get_max_per_host(DispatcherObject *self, void *c)
{
    return PyLong_FromLong(self->max_per_host);
}
static PyObject *Dispatcher_get_max_queue(DispatcherObject *self, void *c)
{
    return PyLong_FromSsize_t(self->max_queue);
}
static PyObject *Dispatcher_get_on_result(DispatcherObject *self, void *c)
{
    return Py_NewRef(self->on_result ? self->on_result : Py_None);
}

static PyObject *Dispatcher_repr(DispatcherObject *self)
{
    return PyUnicode_FromFormat("<Dispatcher workers=%d max_connections=%ld max_per_host=%ld%s>",
                                self->workers, self->max_connections, self->max_per_host,
                                self->eng->closed && !self->eng->dead ? " closed" : "");
}

static int Dispatcher_traverse(DispatcherObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->on_result);
    return 0;
}

static int Dispatcher_clear(DispatcherObject *self)
{
    /* the callback thread has its own reference to on_result */
    Py_CLEAR(self->on_result);
    return 0;
}

static PyMethodDef Dispatcher_methods[] = {
    { "enqueue", (PyCFunction)(void (*)(void))Dispatcher_enqueue, METH_FASTCALL | METH_KEYWORDS,
      "enqueue(hook, doc, *, block=False, timeout=None) -> Delivery: snapshot doc now, deliver in "
      "the background" },
    { "flush", (PyCFunction)(void (*)(void))Dispatcher_flush, METH_VARARGS | METH_KEYWORDS,
      "flush(timeout=None) -> list of the deliveries not delivered yet, after waiting until "
      "nothing is queued or in flight" },
    { "scheduled", (PyCFunction)Dispatcher_scheduled, METH_NOARGS,
      "scheduled() -> deliveries waiting for a retry, soonest first" },
    { "close", (PyCFunction)(void (*)(void))Dispatcher_close, METH_VARARGS | METH_KEYWORDS,
      "close(timeout=5.0) -> list of every delivery not delivered: stops intake, finishes what it "
      "can in time, stops" },
    { "stats", (PyCFunction)Dispatcher_stats, METH_NOARGS, "stats() -> dict of counters" },
    { "__enter__", (PyCFunction)Dispatcher_enter, METH_NOARGS, NULL },
    { "__exit__", (PyCFunction)Dispatcher_exit, METH_VARARGS, NULL },
    { NULL },
};

static PyGetSetDef Dispatcher_getset[] = {
    { "closed", (getter)Dispatcher_get_closed, NULL, "True after close()", NULL },
    { "workers", (getter)Dispatcher_get_workers, NULL, "worker threads", NULL },
    { "max_connections", (getter)Dispatcher_get_max_connections, NULL,
      "connections (and transfers) in flight, all workers", NULL },
    { "max_per_host", (getter)Dispatcher_get_max_per_host, NULL,
      "transfers in flight per host (scheme://host:port)", NULL },
    { "max_queue", (getter)Dispatcher_get_max_queue, NULL,
      "deliveries waiting to start before enqueue raises QueueFull", NULL },
    { "on_result", (getter)Dispatcher_get_on_result, NULL, "callback after every attempt, or None",
      NULL },
    { NULL },
};

static PyType_Slot Dispatcher_slots[] = {
    { Py_tp_new, Dispatcher_new },
    { Py_tp_dealloc, Dispatcher_dealloc },
    { Py_tp_traverse, Dispatcher_traverse },
    { Py_tp_clear, Dispatcher_clear },
    { Py_tp_repr, Dispatcher_repr },
    { Py_tp_methods, Dispatcher_methods },
    { Py_tp_getset, Dispatcher_getset },
    { Py_tp_doc, "Dispatcher(workers=1, max_connections=64, max_per_host=16, max_queue=100000, "
                 "on_result=None, *, native_http=True):\n"
                 "delivers webhooks in the background on native threads, with retries." },
    { 0, NULL },
};

static PyType_Spec dispatcher_spec = {
    .name = "frappe_webhook_c.Dispatcher",
    .basicsize = sizeof(DispatcherObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Dispatcher_slots,
};

int fwc_dispatcher_init(PyObject *m, FwcModuleState *st)
{
    if (!KEY_DOCTYPE && !(KEY_DOCTYPE = PyUnicode_InternFromString("doctype"))) return -1;
    if (!KEY_NAME && !(KEY_NAME = PyUnicode_InternFromString("name"))) return -1;
    PyObject *queue = PyImport_ImportModule("queue");
    PyObject *full = queue ? PyObject_GetAttrString(queue, "Full") : NULL;
    Py_XDECREF(queue);
    if (!full) return -1;
    st->QueueFull = PyErr_NewExceptionWithDoc(
        "frappe_webhook_c.QueueFull", "Dispatcher.enqueue(): the queue holds max_queue deliveries.",
        full, NULL);
    Py_DECREF(full);
    if (!st->QueueFull || PyModule_AddObjectRef(m, "QueueFull", st->QueueFull) < 0) return -1;
    st->DispatcherType = PyType_FromModuleAndSpec(m, &dispatcher_spec, NULL);
    if (!st->DispatcherType || PyModule_AddType(m, (PyTypeObject *)st->DispatcherType) < 0)
        return -1;
    st->DeliveryType = PyType_FromModuleAndSpec(m, &fwc_delivery_spec, NULL);
    if (!st->DeliveryType || PyModule_AddType(m, (PyTypeObject *)st->DeliveryType) < 0) return -1;
    return 0;
}
