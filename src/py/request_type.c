/* request_type.c — the Request type: a built request (what would go on the wire), its
 * Python attributes made on first access. */
#include "py/py.h"

typedef struct {
    PyObject_HEAD FwcBuilt built;
    PyObject *body, *data, *headers; /* created on first access */
} RequestObject;

PyObject *fwc_request_new(FwcModuleState *st, FwcBuilt *built)
{
    PyTypeObject *tp = (PyTypeObject *)st->RequestType;
    RequestObject *self = (RequestObject *)tp->tp_alloc(tp, 0);
    if (!self) {
        fwc_built_release(built);
        return NULL;
    }
    self->built = *built;
    memset(built, 0, sizeof *built);
    return (PyObject *)self;
}

static void Request_dealloc(RequestObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_CLEAR(self->body);
    Py_CLEAR(self->data);
    Py_CLEAR(self->headers);
    fwc_built_release(&self->built);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *Request_get_method(RequestObject *self, void *c)
{
    return PyUnicode_FromString(self->built.method);
}
static PyObject *Request_get_url(RequestObject *self, void *c)
{
    return PyUnicode_FromString(self->built.url);
}

static PyObject *Request_get_body(RequestObject *self, void *c)
{
    if (!self->body)
        self->body =
            PyBytes_FromStringAndSize(self->built.body.data, (Py_ssize_t)self->built.body.len);
    return Py_XNewRef(self->body);
}

static PyObject *Request_get_data(RequestObject *self, void *c)
{
    if (!self->data) self->data = fwc_value_to_python(&self->built.data);
    return Py_XNewRef(self->data);
}

static PyObject *Request_get_headers(RequestObject *self, void *c)
{
    if (!self->headers) {
        PyObject *list = PyList_New((Py_ssize_t)self->built.nheaders);
        for (size_t i = 0; list && i < self->built.nheaders; i++) {
            PyObject *t =
                Py_BuildValue("(ss)", self->built.headers[i].name, self->built.headers[i].value);
            if (!t) Py_CLEAR(list);
            else PyList_SET_ITEM(list, (Py_ssize_t)i, t);
        }
        self->headers = list;
    }
    return Py_XNewRef(self->headers);
}

static PyObject *Request_repr(RequestObject *self)
{
    return PyUnicode_FromFormat("<Request %s %s, %zu body bytes>", self->built.method,
                                self->built.url, self->built.body.len);
}

static PyGetSetDef Request_getset[] = {
    { "method", (getter)Request_get_method, NULL, "HTTP method", NULL },
    { "url", (getter)Request_get_url, NULL, "request URL (rendered when dynamic)", NULL },
    { "headers", (getter)Request_get_headers, NULL,
      "headers as an ordered list of (name, value) pairs", NULL },
    { "body", (getter)Request_get_body, NULL, "exact body bytes", NULL },
    { "data", (getter)Request_get_data, NULL,
      "the data Frappe would have built (before JSON encoding)", NULL },
    { NULL },
};

static PyType_Slot Request_slots[] = {
    { Py_tp_dealloc, Request_dealloc },
    { Py_tp_repr, Request_repr },
    { Py_tp_getset, Request_getset },
    { Py_tp_doc, "A built webhook request: method, url, headers, body and data." },
    { 0, NULL },
};

PyType_Spec fwc_request_spec = {
    .name = "frappe_webhook_c.Request",
    .basicsize = sizeof(RequestObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Request_slots,
};
