/* dispatcher.c — the Dispatcher type: the Python face of the delivery engine.
 *
 * enqueue() runs in the caller with the GIL: one snapshot of the document (only the
 * fields a field-map body needs), one job, one Delivery view, a push under the engine
 * lock, and an eventfd write only when a worker sleeps.  Everything after that happens
 * on the engine's native threads (engine.h lists the files).  flush(), close() and
 * enqueue(block=True) wait with the GIL released, in slices that notice Ctrl-C. */
#include "py/py.h"
#include <structmember.h>

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
    /* with a store (store/store.h; the log methods are in outbox.c) */
    FwcStore *store;      /* NULL: in memory only */
    PyObject *store_path; /* bytes; opt.path points into it */
    FwcStoreOptions opt;
    PyObject *resolve;    /* callable(name) -> Webhook, or NULL */
    PyObject *registered; /* dict name -> Webhook: what the store may send */
    PyObject *weakrefs;
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

static int open_store(DispatcherObject *self, FwcEngine *e);

static FwcEngine *make_engine(DispatcherObject *self)
{
    FwcError err;
    FwcEngine *e =
        fwc_engine_new(self->workers, self->max_connections, self->max_per_host,
                       (size_t)self->max_queue, self->on_result != NULL, self->native_http, &err);
    if (!e) return (FwcEngine *)fwc_raise(fwc_state_of((PyObject *)self), &err);
    if ((self->on_result && start_callbacks(e, self->on_result) < 0) ||
        (self->store_path && open_store(self, e) < 0)) {
        size_t n;
        FwcJob **left = close_engine(e, 0, &n);
        for (size_t i = 0; i < n; i++) fwc_job_decref(left[i]);
        free(left);
        fwc_engine_decref(e);
        return NULL;
    }
    return e;
}

/* Calls frappe_webhook_c._delivery.<fn>(*args); -1 + exception. */
static int call_delivery(const char *fn, const char *fmt, PyObject *a, PyObject *b)
{
    PyObject *mod = PyImport_ImportModule("frappe_webhook_c._delivery");
    if (!mod) return -1;
    PyObject *r =
        b ? PyObject_CallMethod(mod, fn, fmt, a, b) : PyObject_CallMethod(mod, fn, fmt, a);
    Py_DECREF(mod);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* fwc_store_close without the GIL (it joins the store's thread) */
static void close_store(DispatcherObject *self)
{
    FwcStore *s = self->store;
    self->store = NULL;
    if (!s) return;
    Py_BEGIN_ALLOW_THREADS fwc_store_close(s);
    Py_END_ALLOW_THREADS
}

/* Opens the store for engine e: the webhooks registered so far, the resolver thread, the
 * store's thread (which resumes what the store holds).  -1 + exception. */
static int open_store(DispatcherObject *self, FwcEngine *e)
{
    FwcModuleState *st = fwc_state_of((PyObject *)self);
    FwcError err;
    FwcStore *s;
    Py_BEGIN_ALLOW_THREADS s = fwc_store_open(&self->opt, &err);
    Py_END_ALLOW_THREADS if (!s) return fwc_raise(st, &err), -1;
    self->store = s;
    PyObject *name, *hook;
    Py_ssize_t pos = 0;
    while (PyDict_Next(self->registered, &pos, &name, &hook)) {
        FwcHookSpec *spec = fwc_webhook_get_spec(st, hook);
        if (!spec || fwc_store_register(s, spec) < 0) {
            if (spec) PyErr_NoMemory();
            close_store(self);
            return -1;
        }
    }
    if (self->resolve) {
        fwc_store_set_resolver(s, 1);
        PyObject *cap = fwc_store_capsule(s);
        if (!cap || call_delivery("_start_resolver_thread", "OO", cap, self->resolve) < 0) {
            Py_XDECREF(cap);
            close_store(self);
            return -1;
        }
        Py_DECREF(cap);
    }
    if (fwc_store_attach(s, e, &err)) {
        close_store(self);
        return fwc_raise(st, &err), -1;
    }
    return 0;
}

/* Registers a named webhook with the store (and for reopening after fork). */
static int register_hook(DispatcherObject *self, PyObject *hook)
{
    FwcModuleState *st = fwc_state_of((PyObject *)self);
    FwcHookSpec *spec = fwc_webhook_get_spec(st, hook);
    if (!spec) return -1;
    if (!spec->name[0]) {
        PyErr_SetString(PyExc_ValueError,
                        "a Dispatcher with a store sends named webhooks only: "
                        "Webhook(..., name=...) (the store keeps the name, never the webhook "
                        "or its secret)");
        return -1;
    }
    PyObject *known = PyDict_GetItemString(self->registered, spec->name);
    if (known == hook) return 0;
    if (PyDict_SetItemString(self->registered, spec->name, hook) < 0) return -1;
    if (self->store && fwc_store_register(self->store, spec) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static int parse_store_options(DispatcherObject *self, PyObject *store, PyObject *webhooks,
                               PyObject *resolve, const char *synchronous, double lease,
                               double retention, double busy_timeout)
{
    if (!(self->registered = PyDict_New())) return -1;
    if (store == Py_None) {
        if (webhooks != Py_None || resolve != Py_None) {
            PyErr_SetString(PyExc_ValueError, "webhooks= and resolve= need a store= to send from");
            return -1;
        }
        return 0;
    }
    if (fwc_store_path_from(store, &self->store_path) < 0) return -1;
    int full = !strcmp(synchronous, "full");
    if (!full && strcmp(synchronous, "normal")) {
        PyErr_Format(PyExc_ValueError, "synchronous must be 'normal' or 'full', not '%s'",
                     synchronous);
        return -1;
    }
    if (!(lease >= 1 && lease <= 86400)) {
        PyErr_Format(PyExc_ValueError, "lease must be from 1 to 86400 seconds, not %g", lease);
        return -1;
    }
    if (!(retention >= 0)) {
        PyErr_Format(PyExc_ValueError, "retention must be >= 0 seconds, not %g", retention);
        return -1;
    }
    if (!(busy_timeout >= 0 && busy_timeout <= 3600)) {
        PyErr_Format(PyExc_ValueError, "busy_timeout must be from 0 to 3600 seconds, not %g",
                     busy_timeout);
        return -1;
    }
    if (resolve != Py_None && !PyCallable_Check(resolve)) {
        PyErr_Format(PyExc_TypeError, "resolve must be callable or None, not %.100s",
                     Py_TYPE(resolve)->tp_name);
        return -1;
    }
    self->resolve = resolve == Py_None ? NULL : Py_NewRef(resolve);
    self->opt = (FwcStoreOptions){
        PyBytes_AS_STRING(self->store_path), full, lease, retention, busy_timeout, 0
    };
    if (webhooks != Py_None) {
        PyObject *it = PyObject_GetIter(webhooks);
        if (!it) return -1;
        PyObject *hook;
        while ((hook = PyIter_Next(it))) {
            int rc = register_hook(self, hook);
            Py_DECREF(hook);
            if (rc < 0) break;
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) return -1;
    }
    return 0;
}

static PyObject *Dispatcher_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {
        "workers",     "max_connections", "max_per_host", "max_queue", "on_result",
        "native_http", "store",           "webhooks",     "resolve",   "synchronous",
        "lease",       "retention",       "busy_timeout", NULL
    };
    int workers = 1;
    long max_connections = 64, max_per_host = 16;
    Py_ssize_t max_queue = 100000;
    PyObject *on_result = Py_None, *store = Py_None, *webhooks = Py_None, *resolve = Py_None;
    int native_http = 1;
    const char *synchronous = "normal";
    double lease = 30.0, retention = 30 * 86400.0, busy_timeout = 5.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|illnO$pOOOsddd:Dispatcher", kwlist, &workers,
                                     &max_connections, &max_per_host, &max_queue, &on_result,
                                     &native_http, &store, &webhooks, &resolve, &synchronous,
                                     &lease, &retention, &busy_timeout))
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
    if (parse_store_options(self, store, webhooks, resolve, synchronous, lease, retention,
                            busy_timeout) < 0 ||
        !(self->eng = make_engine(self))) {
        Py_DECREF(self);
        return NULL;
    }
    if (self->store && call_delivery("_track_stored", "O", (PyObject *)self, NULL) < 0) {
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
    if (self->weakrefs) PyObject_ClearWeakRefs((PyObject *)self);
    if (self->eng) {
        size_t n;
        FwcJob **left = close_engine(self->eng, 0, &n);
        FwcModuleState *st = fwc_state_of((PyObject *)self);
        if (n && st && !self->store_path) {
            PyObject *views = fwc_delivery_views(st, left, n);
            if (!views) PyErr_Clear();
            log_undelivered(views, "a Dispatcher was garbage-collected without close()");
            Py_XDECREF(views);
        } else {
            for (size_t i = 0; i < n; i++) fwc_job_decref(left[i]);
            free(left);
        }
        close_store(self);
        fwc_engine_decref(self->eng);
    }
    Py_CLEAR(self->on_result);
    Py_CLEAR(self->resolve);
    Py_CLEAR(self->registered);
    Py_CLEAR(self->store_path);
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

/* The engine to enqueue into (borrowed): in a forked child, a fresh one (and a fresh
 * store connection: the parent's are left alone).  NULL + exception. */
static FwcEngine *live_engine(DispatcherObject *self)
{
    FwcEngine *e = self->eng;
    if (e->dead) {
        if (self->store) fwc_store_abandon(self->store);
        self->store = NULL;
        FwcEngine *fresh = make_engine(self);
        if (!fresh) return NULL;
        self->eng = e = fresh;
    }
    if (e->closed) {
        closed_error();
        return NULL;
    }
    return e;
}

/* One delivery of hook for doc, not queued yet: its Delivery view (new reference), which
 * holds the job (*job, borrowed).  NULL + exception. */
static PyObject *prepare(DispatcherObject *self, PyObject *hook, PyObject *doc, FwcJob **job)
{
    FwcModuleState *st = fwc_state_of((PyObject *)self);
    FwcHookSpec *spec = fwc_webhook_get_spec(st, hook);
    if (!spec || (self->store_path && register_hook(self, hook) < 0)) return NULL;
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
    *job = j;
    return view;
}

/* Pushes jobs into e, all or none (GIL held: a few pointer updates under the lock). */
static int push_jobs(FwcEngine *e, FwcJob **jobs, size_t n)
{
    FwcWorker *wake[64], *w = NULL;
    size_t nwake = 0;
    pthread_mutex_lock(&e->lock);
    int r = n == 1 ? 0 : fwc_engine_reserve(e, n);
    for (size_t i = 0; !r && i < n; i++) {
        r = fwc_engine_push(e, jobs[i], n > 1, &w);
        if (r && n > 1) fwc_engine_unreserve(e, n - i);
        if (w && nwake < 64) wake[nwake++] = w;
        w = NULL;
    }
    pthread_mutex_unlock(&e->lock);
    for (size_t i = 0; i < nwake; i++) fwc_worker_wake(wake[i]);
    return r;
}

/* Queues jobs — through the store, committed, when there is one — waiting for queue room
 * when block (in slices, so that Ctrl-C is seen).  0, or -1 + exception. */
static int submit(DispatcherObject *self, FwcJob **jobs, size_t n, int block, double timeout)
{
    FwcEngine *e = self->eng;
    double deadline = timeout < 0 ? -1 : fwc_mono_now() + timeout;
    FwcError err;
    int r;
    if (n > (size_t)self->max_queue) {
        /* it would never fit: say so now rather than wait */
        PyErr_Format(fwc_state_of((PyObject *)self)->QueueFull,
                     "%zu deliveries at once cannot fit the delivery queue (max_queue=%zd)", n,
                     self->max_queue);
        return -1;
    }
    for (;;) {
        FwcStore *s = self->store;
        if (s) {
            fwc_store_incref(s); /* a close() in another thread must not free it under us */
            Py_BEGIN_ALLOW_THREADS r = fwc_store_enqueue(s, jobs, n, &err);
            Py_END_ALLOW_THREADS fwc_store_decref(s);
        } else r = push_jobs(e, jobs, n);
        if (r != 1 || !block) break;
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
        pthread_mutex_unlock(&e->lock);
        Py_END_ALLOW_THREADS if (PyErr_CheckSignals() < 0) return -1;
    }
    if (r == 0) return 0;
    if (r == 2) return closed_error(), -1;
    FwcModuleState *st = fwc_state_of((PyObject *)self);
    if (r == 1)
        PyErr_Format(st->QueueFull, "the delivery queue is full (max_queue=%zd)", self->max_queue);
    else if (self->store_path) fwc_raise(st, &err);
    else PyErr_NoMemory();
    return -1;
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
    if (!live_engine(self)) return NULL;
    FwcJob *j;
    PyObject *view = prepare(self, hook, doc, &j);
    if (!view) return NULL;
    if (submit(self, &j, 1, block, timeout) < 0) {
        Py_DECREF(view);
        return NULL;
    }
    return view;
}

static int parse_timeout(PyObject *o, double *out, const char *what);

/* enqueue_many(items, *, block=False, timeout=None) -> [Delivery]: all or none */
static PyObject *Dispatcher_enqueue_many(DispatcherObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = { "items", "block", "timeout", NULL };
    PyObject *items, *t = Py_None;
    int block = 0;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$pO:enqueue_many", kwlist, &items, &block, &t) ||
        parse_timeout(t, &timeout, "timeout") < 0)
        return NULL;
    PyObject *seq = PySequence_Fast(items, "enqueue_many() takes an iterable of (hook, doc) pairs");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *views = PyList_New(n);
    FwcJob **jobs = n ? PyMem_Malloc((size_t)n * sizeof *jobs) : NULL;
    if (!views || (n && !jobs) || !live_engine(self)) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(pair) && !PyList_Check(pair)) goto not_pair;
        if (PySequence_Fast_GET_SIZE(pair) != 2) goto not_pair;
        PyObject *view = prepare(self, PySequence_Fast_GET_ITEM(pair, 0),
                                 PySequence_Fast_GET_ITEM(pair, 1), &jobs[i]);
        if (!view) goto fail;
        PyList_SET_ITEM(views, i, view);
        continue;
    not_pair:
        PyErr_Format(PyExc_TypeError,
                     "enqueue_many(): item %zd must be a (hook, doc) pair, not %.100s", i,
                     Py_TYPE(pair)->tp_name);
        goto fail;
    }
    if (n && submit(self, jobs, (size_t)n, block, timeout) < 0) goto fail;
    PyMem_Free(jobs);
    Py_DECREF(seq);
    return views;
fail:
    PyMem_Free(jobs);
    Py_XDECREF(views);
    Py_DECREF(seq);
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
    FwcStore *s = self->store;
    if (s) {
        /* the log shows every outcome flush() waited for */
        double left = deadline < 0 ? 60.0 : deadline - fwc_mono_now();
        fwc_store_incref(s);
        Py_BEGIN_ALLOW_THREADS fwc_store_sync(s, left > 0 ? left : 0);
        Py_END_ALLOW_THREADS fwc_store_decref(s);
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
    close_store(self); /* what was not delivered stays stored, for the next process */
    return fwc_delivery_views(fwc_state_of((PyObject *)self), jobs, n);
}

static PyObject *Dispatcher_enter(PyObject *self, PyObject *unused) { return Py_NewRef(self); }

/* __exit__: close() with its default timeout; what it could not deliver is logged */
static PyObject *Dispatcher_exit(DispatcherObject *self, PyObject *args)
{
    size_t n;
    FwcJob **jobs = close_engine(self->eng, 5.0, &n);
    close_store(self);
    PyObject *views = fwc_delivery_views(fwc_state_of((PyObject *)self), jobs, n);
    if (views && self->store_path) {
        /* they are stored: nothing is lost, so no warning */
        PyList_SetSlice(views, 0, PY_SSIZE_T_MAX, NULL);
    }
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
    PyObject *stats = Py_BuildValue(
        "{sKsKsKsKsKsKsKsKsKsKsK}", "queued", v[0], "in_flight", v[1], "scheduled", v[2],
        "delivered", v[3], "failed_attempts", v[4], "exhausted", v[5], "connections_opened", v[6],
        "connections_reused", v[7], "enqueued", v[8], "attempts", v[9], "native_attempts", v[10]);
    FwcStore *s = dead ? NULL : self->store; /* a forked child's copy is the parent's */
    if (stats && s) {
        fwc_store_incref(s);
        PyObject *counts = fwc_outbox_counts(fwc_state_of((PyObject *)self), s);
        fwc_store_decref(s);
        if (!counts || PyDict_SetItemString(stats, "store", counts) < 0) Py_CLEAR(stats);
        Py_XDECREF(counts);
    }
    return stats;
}

/* ---------- the store's methods (the log itself: outbox.c) ---------- */

/* The open store (new reference to it), or NULL + exception. */
static FwcStore *need_store(DispatcherObject *self)
{
    if (!self->store_path) {
        PyErr_SetString(PyExc_ValueError, "this Dispatcher has no store (Dispatcher(store=...))");
        return NULL;
    }
    if (self->eng->dead && !live_engine(self)) return NULL; /* in a forked child */
    if (!self->store) {
        PyErr_SetString(PyExc_RuntimeError, "the Dispatcher is closed");
        return NULL;
    }
    fwc_store_incref(self->store);
    return self->store;
}

static PyObject *Dispatcher_register(DispatcherObject *self, PyObject *hook)
{
    FwcStore *s = need_store(self);
    if (!s) return NULL;
    int rc = register_hook(self, hook);
    fwc_store_decref(s);
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Dispatcher_deliveries(DispatcherObject *self, PyObject *args, PyObject *kw)
{
    FwcStore *s = need_store(self);
    if (!s) return NULL;
    PyObject *r = fwc_outbox_deliveries(fwc_state_of((PyObject *)self), s, args, kw);
    fwc_store_decref(s);
    return r;
}

static PyObject *Dispatcher_attempts(DispatcherObject *self, PyObject *id)
{
    FwcStore *s = need_store(self);
    if (!s) return NULL;
    PyObject *r = fwc_outbox_attempts(fwc_state_of((PyObject *)self), s, id);
    fwc_store_decref(s);
    return r;
}

static PyObject *Dispatcher_purge(DispatcherObject *self, PyObject *args, PyObject *kw)
{
    FwcStore *s = need_store(self);
    if (!s) return NULL;
    PyObject *r =
        fwc_outbox_purge(fwc_state_of((PyObject *)self), s, self->opt.retention, args, kw);
    fwc_store_decref(s);
    return r;
}

/* Registers the resolver's Webhook for the stored delivery id when its name is unknown. */
static int resolve_for(DispatcherObject *self, FwcStore *s, const char *id)
{
    if (!self->resolve) return 0;
    FwcLogQuery q = { id, NULL, NULL, NULL, 0, 1 };
    FwcLogRow *rows;
    size_t n;
    FwcError err;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = fwc_store_deliveries(s, &q, &rows, &n, &err);
    Py_END_ALLOW_THREADS if (rc) return fwc_raise(fwc_state_of((PyObject *)self), &err), -1;
    PyObject *hook = NULL;
    if (n && rows[0].webhook && !fwc_store_knows(s, rows[0].webhook)) {
        hook = PyObject_CallFunction(self->resolve, "s", rows[0].webhook);
        rc = !hook || (hook != Py_None && register_hook(self, hook) < 0) ? -1 : 0;
    }
    Py_XDECREF(hook);
    fwc_log_rows_free(rows, n);
    return rc;
}

/* replay(delivery_id) -> Delivery: sends a stored delivery again, from this process, now */
static PyObject *Dispatcher_replay(DispatcherObject *self, PyObject *id)
{
    if (!PyUnicode_Check(id))
        return PyErr_Format(PyExc_TypeError, "delivery_id must be a str, not %.100s",
                            Py_TYPE(id)->tp_name);
    const char *text = PyUnicode_AsUTF8(id);
    if (!text || !live_engine(self)) return NULL;
    FwcStore *s = need_store(self);
    if (!s) return NULL;
    FwcJob *j = NULL;
    FwcError err;
    int rc = resolve_for(self, s, text);
    if (!rc) {
        Py_BEGIN_ALLOW_THREADS rc = fwc_store_replay(s, text, &j, &err);
        Py_END_ALLOW_THREADS if (rc) fwc_raise(fwc_state_of((PyObject *)self), &err);
    }
    fwc_store_decref(s);
    if (rc) return NULL;
    PyObject *view = fwc_delivery_view(fwc_state_of((PyObject *)self), j);
    fwc_job_decref(j);
    return view;
}

static PyObject *Dispatcher_get_store(DispatcherObject *self, void *c)
{
    if (!self->store_path) Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(self->store_path));
}

static PyObject *Dispatcher_get_owner(DispatcherObject *self, void *c)
{
    if (!self->store) Py_RETURN_NONE;
    return PyUnicode_FromString(fwc_store_owner(self->store));
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
    { "stats", (PyCFunction)Dispatcher_stats, METH_NOARGS,
      "stats() -> dict of counters (and \"store\": the stored deliveries by status)" },
    { "enqueue_many", (PyCFunction)(void (*)(void))Dispatcher_enqueue_many,
      METH_VARARGS | METH_KEYWORDS,
      "enqueue_many(items, *, block=False, timeout=None) -> list of Delivery: every (hook, doc) "
      "pair of items, all or none (with a store: in one transaction)" },
    { "register", (PyCFunction)Dispatcher_register, METH_O,
      "register(hook): a named Webhook the store may send (replaces one of the same name)" },
    { "deliveries", (PyCFunction)(void (*)(void))Dispatcher_deliveries,
      METH_VARARGS | METH_KEYWORDS,
      "deliveries(status=None, webhook=None, reference_document=None, since=None, limit=100) -> "
      "the store's delivery log, newest first (list of dicts)" },
    { "attempts", (PyCFunction)Dispatcher_attempts, METH_O,
      "attempts(delivery_id) -> the stored attempts of a delivery, in order (list of dicts)" },
    { "replay", (PyCFunction)Dispatcher_replay, METH_O,
      "replay(delivery_id) -> Delivery: send a stored delivery again now (a new round of "
      "attempts, same id, fresh timestamp and signature)" },
    { "purge", (PyCFunction)(void (*)(void))Dispatcher_purge, METH_VARARGS | METH_KEYWORDS,
      "purge(older_than=None) -> rows removed: delivered/exhausted deliveries older than "
      "older_than seconds (default: retention)" },
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
    { "store", (getter)Dispatcher_get_store, NULL, "the store's file, or None (in memory)", NULL },
    { "owner", (getter)Dispatcher_get_owner, NULL,
      "this process's name in the store's leases, or None", NULL },
    { NULL },
};

static PyMemberDef Dispatcher_members[] = {
    { "__weaklistoffset__", T_PYSSIZET, offsetof(DispatcherObject, weakrefs), READONLY, NULL },
    { NULL },
};

static PyType_Slot Dispatcher_slots[] = {
    { Py_tp_members, Dispatcher_members },
    { Py_tp_new, Dispatcher_new },
    { Py_tp_dealloc, Dispatcher_dealloc },
    { Py_tp_traverse, Dispatcher_traverse },
    { Py_tp_clear, Dispatcher_clear },
    { Py_tp_repr, Dispatcher_repr },
    { Py_tp_methods, Dispatcher_methods },
    { Py_tp_getset, Dispatcher_getset },
    { Py_tp_doc, "Dispatcher(workers=1, max_connections=64, max_per_host=16, max_queue=100000, "
                 "on_result=None, *, native_http=True, store=None, webhooks=None, resolve=None, "
                 "synchronous='normal', lease=30.0, retention=2592000.0, busy_timeout=5.0):\n"
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
