/* delivery.c — the Delivery type: a read-only view of one background delivery (an
 * FwcJob) whose state the engine's worker threads update.  Every getter reads the latest
 * published outcome: a reference taken under the engine lock, Python objects made after
 * the lock is released (see engine.h). */
#include "py/py.h"
#include <strings.h>

typedef struct {
    PyObject_HEAD FwcJob *job; /* one reference */
} DeliveryObject;

PyObject *fwc_delivery_view(FwcModuleState *st, FwcJob *j)
{
    if (j->view) return Py_NewRef((PyObject *)j->view);
    PyTypeObject *tp = (PyTypeObject *)st->DeliveryType;
    DeliveryObject *self = (DeliveryObject *)tp->tp_alloc(tp, 0);
    if (!self) return NULL;
    fwc_job_incref(j);
    self->job = j;
    j->view = (PyObject *)self;
    return (PyObject *)self;
}

PyObject *fwc_delivery_views(FwcModuleState *st, FwcJob **jobs, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; i < n; i++) {
        PyObject *v = list ? fwc_delivery_view(st, jobs[i]) : NULL;
        if (!v) Py_CLEAR(list);
        else PyList_SET_ITEM(list, (Py_ssize_t)i, v);
        fwc_job_decref(jobs[i]);
    }
    free(jobs);
    return list;
}

static void Delivery_dealloc(DeliveryObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->job) {
        if (self->job->view == (void *)self) self->job->view = NULL;
        fwc_job_decref(self->job);
    }
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* ---------- getters ---------- */

static PyObject *str_or_none(const char *s)
{
    return s ? PyUnicode_FromString(s) : Py_NewRef(Py_None);
}

static PyObject *Delivery_get_id(DeliveryObject *self, void *c)
{
    return PyUnicode_FromString(self->job->id);
}

static PyObject *Delivery_get_webhook(DeliveryObject *self, void *c)
{
    return str_or_none(*self->job->spec->name ? self->job->spec->name : NULL);
}

static PyObject *Delivery_get_doctype(DeliveryObject *self, void *c)
{
    return str_or_none(self->job->doctype);
}
static PyObject *Delivery_get_docname(DeliveryObject *self, void *c)
{
    return str_or_none(self->job->docname);
}
static PyObject *Delivery_get_method(DeliveryObject *self, void *c)
{
    return PyUnicode_FromString(self->job->spec->request_method);
}

/* Runs f on the latest outcome (NULL before the first attempt). */
#define WITH_OUTCOME(expr)                                                                         \
    do {                                                                                           \
        FwcJobState state_;                                                                        \
        FwcOutcome *o = fwc_job_outcome(self->job, &state_);                                       \
        (void)state_;                                                                              \
        PyObject *res_ = (expr);                                                                   \
        fwc_outcome_decref(o);                                                                     \
        return res_;                                                                               \
    } while (0)

static PyObject *Delivery_get_url(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(PyUnicode_FromString(o && o->built ? o->req.url : self->job->spec->request_url));
}

static PyObject *headers_list(const FwcBuilt *b)
{
    PyObject *list = PyList_New((Py_ssize_t)b->nheaders);
    for (size_t i = 0; list && i < b->nheaders; i++) {
        PyObject *t = Py_BuildValue("(ss)", b->headers[i].name, b->headers[i].value);
        if (!t) Py_CLEAR(list);
        else PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    return list;
}

static PyObject *Delivery_get_headers(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(o && o->built ? headers_list(&o->req) : Py_NewRef(Py_None));
}

static PyObject *Delivery_get_body(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(o && o->built ? PyBytes_FromStringAndSize(o->req.body.data ? o->req.body.data : "",
                                                           (Py_ssize_t)o->req.body.len)
                               : Py_NewRef(Py_None));
}

static PyObject *Delivery_get_status(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(PyUnicode_FromString(fwc_delivery_status_name(o ? o->status : FWC_DS_QUEUED)));
}

static PyObject *Delivery_get_done(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(
        PyBool_FromLong(o && (o->status == FWC_DS_DELIVERED || o->status == FWC_DS_EXHAUSTED)));
}

static PyObject *Delivery_get_attempt(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(PyLong_FromLong(o ? o->attempt : 0));
}

static PyObject *Delivery_get_next_retry(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(o && o->next_retry > 0 ? PyFloat_FromDouble(o->next_retry) : Py_NewRef(Py_None));
}

static PyObject *Delivery_get_response_status(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(o && o->res.status ? PyLong_FromLong(o->res.status) : Py_NewRef(Py_None));
}

static PyObject *Delivery_get_response_headers(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(o && o->res.status ? fwc_header_list(&o->res.headers, 0) : Py_NewRef(Py_None));
}

static PyObject *Delivery_get_response_body(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(o && o->res.status
                     ? PyBytes_FromStringAndSize(o->res.body.data ? o->res.body.data : "",
                                                 (Py_ssize_t)o->res.body.len)
                     : Py_NewRef(Py_None));
}

static PyObject *Delivery_get_truncated(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(PyBool_FromLong(o && o->res.truncated));
}

static PyObject *Delivery_get_error(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(o && o->error && o->error[0]
                     ? PyUnicode_DecodeUTF8(o->error, (Py_ssize_t)strlen(o->error), "replace")
                     : Py_NewRef(Py_None));
}

static PyObject *Delivery_get_elapsed(DeliveryObject *self, void *c)
{
    WITH_OUTCOME(o && o->built ? PyFloat_FromDouble(o->res.elapsed) : Py_NewRef(Py_None));
}

static PyObject *Delivery_get_interrupted(DeliveryObject *self, void *c)
{
    FwcEngine *e = self->job->eng;
    pthread_mutex_lock(&e->lock);
    int v = self->job->interrupted;
    pthread_mutex_unlock(&e->lock);
    return PyBool_FromLong(v);
}

static PyObject *Delivery_repr(DeliveryObject *self)
{
    FwcJobState state;
    FwcOutcome *o = fwc_job_outcome(self->job, &state);
    PyObject *r = PyUnicode_FromFormat("<Delivery %s %s attempt=%d %s %s>", self->job->id,
                                       fwc_delivery_status_name(o ? o->status : FWC_DS_QUEUED),
                                       o ? o->attempt : 0, self->job->spec->request_method,
                                       o && o->built ? o->req.url : self->job->spec->request_url);
    fwc_outcome_decref(o);
    return r;
}

static PyGetSetDef Delivery_getset[] = {
    { "id", (getter)Delivery_get_id, NULL,
      "unique id, stable across retries (the Standard Webhooks webhook-id)", NULL },
    { "webhook", (getter)Delivery_get_webhook, NULL, "the webhook's name, or None", NULL },
    { "reference_doctype", (getter)Delivery_get_doctype, NULL, "the document's doctype, or None",
      NULL },
    { "reference_document", (getter)Delivery_get_docname, NULL, "the document's name, or None",
      NULL },
    { "url", (getter)Delivery_get_url, NULL,
      "the URL of the last attempt (request_url before the first)", NULL },
    { "method", (getter)Delivery_get_method, NULL, "HTTP method", NULL },
    { "headers", (getter)Delivery_get_headers, NULL,
      "request headers of the last attempt as (name, value) pairs, or None before it", NULL },
    { "body", (getter)Delivery_get_body, NULL,
      "request body of the last attempt, or None before it", NULL },
    { "status", (getter)Delivery_get_status, NULL,
      "'Queued', 'Delivered', 'Failed' (a retry is scheduled) or 'Exhausted'", NULL },
    { "done", (getter)Delivery_get_done, NULL, "True when Delivered or Exhausted", NULL },
    { "attempt", (getter)Delivery_get_attempt, NULL, "attempts made so far", NULL },
    { "next_retry", (getter)Delivery_get_next_retry, NULL,
      "Unix time of the scheduled retry, or None", NULL },
    { "response_status", (getter)Delivery_get_response_status, NULL,
      "HTTP status of the last response, or None", NULL },
    { "response_headers", (getter)Delivery_get_response_headers, NULL,
      "headers of the last response as (name, value) pairs, or None", NULL },
    { "response_body", (getter)Delivery_get_response_body, NULL,
      "body of the last response (capped at max_response_bytes), or None", NULL },
    { "truncated", (getter)Delivery_get_truncated, NULL,
      "True when response_body was cut at max_response_bytes", NULL },
    { "error", (getter)Delivery_get_error, NULL, "why the last attempt failed, or None", NULL },
    { "elapsed", (getter)Delivery_get_elapsed, NULL,
      "seconds the last attempt's transfer took, or None", NULL },
    { "interrupted", (getter)Delivery_get_interrupted, NULL,
      "True when close() aborted an attempt in flight: the receiver may have received it", NULL },
    { NULL },
};

static PyType_Slot Delivery_slots[] = {
    { Py_tp_dealloc, Delivery_dealloc },
    { Py_tp_repr, Delivery_repr },
    { Py_tp_getset, Delivery_getset },
    { Py_tp_doc, "One background delivery (Dispatcher.enqueue): its request, status, attempts and "
                 "last response." },
    { 0, NULL },
};

PyType_Spec fwc_delivery_spec = {
    .name = "frappe_webhook_c.Delivery",
    .basicsize = sizeof(DeliveryObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Delivery_slots,
};
