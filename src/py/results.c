/* results.c — the Python side of the on_result thread (frappe_webhook_c/_delivery.py) and
 * of interpreter exit: outcomes the engine published become Delivery objects here. */
#include "py/py.h"

static FwcEngine *capsule_engine(PyObject *cap)
{
    return PyCapsule_GetPointer(cap, "frappe_webhook_c.engine");
}

/* _take_results(engine) -> list of Delivery (the outcomes to report), or None when the
 * engine is closed and everything was reported.  Blocks with the GIL released. */
PyObject *fwc_py_take_results(PyObject *module, PyObject *cap)
{
    FwcEngine *e = capsule_engine(cap);
    if (!e) return NULL;
    FwcEvent *batch;
    Py_BEGIN_ALLOW_THREADS batch = fwc_engine_take_events(e);
    Py_END_ALLOW_THREADS if (!batch) Py_RETURN_NONE;
    FwcModuleState *st = fwc_state_of_module(module);
    PyObject *list = PyList_New(0);
    while (batch) {
        FwcEvent *ev = batch;
        batch = ev->next;
        PyObject *v = list ? fwc_delivery_view(st, ev->job) : NULL;
        if (!v || PyList_Append(list, v) < 0) Py_CLEAR(list);
        Py_XDECREF(v);
        fwc_job_decref(ev->job);
        free(ev);
    }
    return list;
}

/* _release_engine(engine): the callback thread is done with it */
PyObject *fwc_py_release_engine(PyObject *module, PyObject *cap)
{
    FwcEngine *e = capsule_engine(cap);
    if (!e) return NULL;
    fwc_engine_callbacks_done(e);
    fwc_engine_decref(e);
    Py_RETURN_NONE;
}

/* _close_all(timeout) -> list of lists of the deliveries each open engine could not
 * deliver (interpreter exit) */
PyObject *fwc_py_close_all(PyObject *module, PyObject *arg)
{
    double timeout = PyFloat_AsDouble(arg);
    if (timeout == -1.0 && PyErr_Occurred()) return NULL;
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    FwcEngine *e;
    while ((e = fwc_engine_next_open())) {
        size_t n;
        FwcJob **jobs;
        Py_BEGIN_ALLOW_THREADS jobs = fwc_engine_close(e, timeout, &n);
        Py_END_ALLOW_THREADS PyObject *views =
            fwc_delivery_views(fwc_state_of_module(module), jobs, n);
        fwc_engine_decref(e);
        if (!views || PyList_Append(out, views) < 0) {
            Py_XDECREF(views);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(views);
    }
    return out;
}
