/* render.c — the Python-facing parts of the template engine (GIL held): compiling a
 * Webhook's templates with Frappe's error text, the snapshot a callable webhook_json
 * makes, and the _render test entry point. */
#include "py/py.h"

static void syntax_error(FwcModuleState *st, const FwcError *err)
{
    if (err->code == FWC_ENOMEM) {
        PyErr_NoMemory();
        return;
    }
    if (strcmp(err->message, "Illegal template") == 0) {
        PyErr_SetString(st->ValidationError, "Illegal template");
        return;
    }
    PyErr_Format(st->ValidationError, "Syntax error in template: line %d: %s",
                 err->line > 0 ? err->line : 1, err->message);
}

int fwc_template_compile(FwcModuleState *st, const char *src, FwcTemplate **out)
{
    FwcError err;
    *out = fwc_tmpl_compile(src, strlen(src), &err);
    if (!*out) {
        syntax_error(st, &err);
        return -1;
    }
    return 0;
}

/* _render(template, doc, json_escape=False) -> str: the rendered text */
PyObject *fwc_py_render(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "template", "doc", "json_escape", NULL };
    PyObject *src, *doc;
    int json_escape = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UO|p:_render", kwlist, &src, &doc,
                                     &json_escape))
        return NULL;
    FwcModuleState *st = fwc_state_of_module(module);
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(src, &n);
    if (!u) return NULL;
    FwcError err;
    FwcTemplate *t = fwc_tmpl_compile(u, (size_t)n, &err);
    if (!t) {
        syntax_error(st, &err);
        return NULL;
    }
    /* only what the template reads, as a Webhook's request snapshots it */
    FwcShape *shape = fwc_shape_new();
    FwcSnapshot *snap = NULL;
    if (!shape || fwc_tmpl_shape(t, shape) < 0) PyErr_NoMemory();
    else if (fwc_shape_bind(shape) == 0) snap = fwc_snapshot_take_shaped(doc, shape);
    fwc_shape_release(shape);
    if (!snap) {
        fwc_tmpl_free(t);
        return NULL;
    }
    FwcBuf out = FWC_BUF_INIT;
    FwcStatus status;
    Py_BEGIN_ALLOW_THREADS status = fwc_tmpl_render(t, &snap->root, json_escape, &out, &err);
    Py_END_ALLOW_THREADS PyObject *res =
        status
            ? fwc_raise(st, &err)
            : PyUnicode_DecodeUTF8(out.data ? out.data : "", (Py_ssize_t)out.len, "surrogatepass");
    fwc_buf_free(&out);
    fwc_snapshot_decref(snap);
    fwc_tmpl_free(t);
    return res;
}

FwcSnapshot *fwc_spec_snapshot(const FwcHookSpec *spec, PyObject *doc)
{
    if (!spec->json_callable || spec->nfields) return fwc_snapshot_take(doc);
    /* the slow path: data = webhook_json(doc), with the GIL, snapshotted like a body */
    PyObject *data = PyObject_CallOneArg(spec->json_callable, doc);
    if (!data) return NULL;
    FwcSnapshot *snap = fwc_snapshot_value(data);
    Py_DECREF(data);
    return snap;
}
