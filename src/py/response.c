/* response.c — the Response type: the outcome of dispatch() (or Webhook.send) shown to
 * Python, with raise_for_status. */
#include "py/py.h"
#include <arpa/inet.h>
#include <time.h>

/* ---------- the Response type ---------- */

typedef struct {
    PyObject_HEAD FwcResult res;
    PyObject *request;
    PyObject *headers, *body; /* created on first access */
} ResponseObject;

PyObject *fwc_response_new(FwcModuleState *st, FwcResult *res, PyObject *request)
{
    PyTypeObject *tp = (PyTypeObject *)st->ResponseType;
    ResponseObject *self = (ResponseObject *)tp->tp_alloc(tp, 0);
    if (!self) {
        fwc_result_free(res);
        Py_DECREF(request);
        return NULL;
    }
    self->res = *res;
    memset(res, 0, sizeof *res);
    self->request = request;
    return (PyObject *)self;
}

static int Response_traverse(ResponseObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->request);
    return 0;
}

static int Response_clear(ResponseObject *self)
{
    Py_CLEAR(self->request);
    Py_CLEAR(self->headers);
    Py_CLEAR(self->body);
    return 0;
}

static void Response_dealloc(ResponseObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Response_clear(self);
    fwc_result_free(&self->res);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int is_ok(const ResponseObject *self)
{
    return self->res.status >= 200 && self->res.status < 300 && !self->res.error[0];
}

static PyObject *Response_get_status(ResponseObject *self, void *c)
{
    return PyLong_FromLong(self->res.status);
}
static PyObject *Response_get_ok(ResponseObject *self, void *c)
{
    return PyBool_FromLong(is_ok(self));
}
static PyObject *Response_get_truncated(ResponseObject *self, void *c)
{
    return PyBool_FromLong(self->res.truncated);
}
static PyObject *Response_get_elapsed(ResponseObject *self, void *c)
{
    return PyFloat_FromDouble(self->res.elapsed);
}
static PyObject *Response_get_request(ResponseObject *self, void *c)
{
    return Py_NewRef(self->request);
}

static PyObject *Response_get_error(ResponseObject *self, void *c)
{
    if (!self->res.error[0]) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(self->res.error, (Py_ssize_t)strlen(self->res.error), "replace");
}

static PyObject *Response_get_url(ResponseObject *self, void *c)
{
    if (!self->res.url) return PyObject_GetAttrString(self->request, "url");
    return PyUnicode_DecodeUTF8(self->res.url, (Py_ssize_t)strlen(self->res.url), "replace");
}

static PyObject *Response_get_body(ResponseObject *self, void *c)
{
    if (!self->body)
        self->body = PyBytes_FromStringAndSize(self->res.body.data ? self->res.body.data : "",
                                               (Py_ssize_t)self->res.body.len);
    return Py_XNewRef(self->body);
}

static PyObject *Response_get_headers(ResponseObject *self, void *c)
{
    if (!self->headers) self->headers = fwc_header_list(&self->res.headers, 1);
    return Py_XNewRef(self->headers);
}

/* header(name, default=None): the last value of a header, name case-insensitive */
static PyObject *Response_header(ResponseObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2)
        return PyErr_Format(PyExc_TypeError, "header() takes 1 or 2 arguments");
    if (!PyUnicode_Check(args[0])) return PyErr_Format(PyExc_TypeError, "header name must be str");
    PyObject *headers = Response_get_headers(self, NULL);
    if (!headers) return NULL;
    PyObject *want = PyObject_CallMethod(args[0], "lower", NULL), *found = NULL;
    if (!want) {
        Py_DECREF(headers);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *pair = PyList_GET_ITEM(headers, i);
        PyObject *low = PyObject_CallMethod(PyTuple_GET_ITEM(pair, 0), "lower", NULL);
        if (!low) {
            Py_DECREF(want);
            Py_DECREF(headers);
            return NULL;
        }
        int eq = PyUnicode_Compare(low, want) == 0;
        Py_DECREF(low);
        if (eq) found = PyTuple_GET_ITEM(pair, 1);
    }
    PyObject *res = Py_NewRef(found ? found : nargs == 2 ? args[1] : Py_None);
    Py_DECREF(want);
    Py_DECREF(headers);
    return res;
}

static PyObject *describe(ResponseObject *self)
{
    PyObject *method = PyObject_GetAttrString(self->request, "method");
    PyObject *url = method ? PyObject_GetAttrString(self->request, "url") : NULL;
    PyObject *msg = NULL;
    if (url) {
        if (self->res.error[0] && self->res.status)
            msg = PyUnicode_FromFormat("%U %U: HTTP %ld, %s", method, url, self->res.status,
                                       self->res.error);
        else if (self->res.error[0])
            msg = PyUnicode_FromFormat("%U %U failed: %s", method, url, self->res.error);
        else msg = PyUnicode_FromFormat("%U %U: HTTP %ld", method, url, self->res.status);
    }
    Py_XDECREF(method);
    Py_XDECREF(url);
    return msg;
}

/* raise_for_status(): DeliveryError (with .response) unless ok */
static PyObject *Response_raise_for_status(ResponseObject *self, PyObject *unused)
{
    if (is_ok(self)) Py_RETURN_NONE;
    FwcModuleState *st = fwc_state_of((PyObject *)self);
    if (!st) return NULL;
    PyObject *msg = describe(self);
    if (!msg) return NULL;
    PyObject *exc = PyObject_CallOneArg(st->DeliveryError, msg);
    Py_DECREF(msg);
    if (!exc) return NULL;
    if (PyObject_SetAttrString(exc, "response", (PyObject *)self) < 0) {
        Py_DECREF(exc);
        return NULL;
    }
    PyErr_SetObject(st->DeliveryError, exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *Response_repr(ResponseObject *self)
{
    if (self->res.error[0]) {
        PyObject *e = Response_get_error(self, NULL);
        PyObject *r =
            e ? PyUnicode_FromFormat("<Response %ld error=%R>", self->res.status, e) : NULL;
        Py_XDECREF(e);
        return r;
    }
    return PyUnicode_FromFormat("<Response %ld%s, %zu body bytes%s>", self->res.status,
                                is_ok(self) ? " ok" : "", self->res.body.len,
                                self->res.truncated ? " (truncated)" : "");
}

static PyGetSetDef Response_getset[] = {
    { "status", (getter)Response_get_status, NULL,
      "HTTP status of the final response; 0 when none arrived", NULL },
    { "ok", (getter)Response_get_ok, NULL, "True for a 2xx response without error", NULL },
    { "headers", (getter)Response_get_headers, NULL,
      "response headers as an ordered list of (name, value) pairs", NULL },
    { "body", (getter)Response_get_body, NULL, "response body, at most max_response_bytes", NULL },
    { "truncated", (getter)Response_get_truncated, NULL,
      "True when the body was cut at max_response_bytes", NULL },
    { "elapsed", (getter)Response_get_elapsed, NULL, "seconds the whole transfer took", NULL },
    { "error", (getter)Response_get_error, NULL, "None, or why the delivery failed", NULL },
    { "url", (getter)Response_get_url, NULL, "the URL of the final response (after redirects)",
      NULL },
    { "request", (getter)Response_get_request, NULL, "the Request that was sent", NULL },
    { NULL },
};

static PyMethodDef Response_methods[] = {
    { "raise_for_status", (PyCFunction)Response_raise_for_status, METH_NOARGS,
      "raise_for_status(): raise DeliveryError unless ok" },
    { "header", (PyCFunction)(void (*)(void))Response_header, METH_FASTCALL,
      "header(name, default=None) -> the last value of a response header (case-insensitive)" },
    { NULL },
};

static PyType_Slot Response_slots[] = {
    { Py_tp_dealloc, Response_dealloc },
    { Py_tp_traverse, Response_traverse },
    { Py_tp_clear, Response_clear },
    { Py_tp_repr, Response_repr },
    { Py_tp_getset, Response_getset },
    { Py_tp_methods, Response_methods },
    { Py_tp_doc,
      "The outcome of dispatch(): status, ok, headers, body, truncated, elapsed, error, request." },
    { 0, NULL },
};

PyType_Spec fwc_response_spec = {
    .name = "frappe_webhook_c.Response",
    .basicsize = sizeof(ResponseObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Response_slots,
};
