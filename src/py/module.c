/* module.c — PEP 489 module: state, exceptions, types, module-level functions. */
#include "py/py.h"

/* ---------- test entry points: the JSON writer and the snapshot on arbitrary values ---------- */

/* _dumps(obj, style="dumps") -> str, for differential tests against json.dumps */
static PyObject *py_dumps(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "obj", "style", NULL };
    PyObject *obj;
    const char *style = "dumps";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|s:_dumps", kwlist, &obj, &style)) return NULL;
    FwcJsonStyle js;
    if (strcmp(style, "dumps") == 0) js = FWC_JSON_DUMPS;
    else if (strcmp(style, "as_json") == 0) js = FWC_JSON_AS_JSON;
    else return PyErr_Format(PyExc_ValueError, "unknown style %s", style);
    FwcSnapshot *snap = fwc_snapshot_value(obj);
    if (!snap) return NULL;
    FwcBuf out = FWC_BUF_INIT;
    FwcError err;
    FwcStatus st;
    Py_BEGIN_ALLOW_THREADS st = fwc_json_write(&out, &snap->root, js, &err);
    Py_END_ALLOW_THREADS PyObject *res =
        st ? fwc_raise(fwc_state_of_module(m), &err)
           : PyUnicode_DecodeASCII(out.data ? out.data : "", (Py_ssize_t)out.len, NULL);
    fwc_buf_free(&out);
    fwc_snapshot_decref(snap);
    return res;
}

/* _snapshot(doc) -> the normalised document as Python sees it after one round trip */
static PyObject *py_snapshot(PyObject *m, PyObject *doc)
{
    FwcSnapshot *snap = fwc_snapshot_take(doc);
    if (!snap) return NULL;
    PyObject *res = fwc_value_to_python(&snap->root);
    fwc_snapshot_decref(snap);
    return res;
}

/* _loads(text, style=None) -> json.loads(text) through the C parser (ValueError with
 * JSONDecodeError's message on error); with style "dumps"/"as_json", the JSON text the
 * writer makes of the parsed tree instead (the template body path). */
static PyObject *py_loads(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "text", "style", NULL };
    PyObject *text;
    const char *style = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|z:_loads", kwlist, &text, &style))
        return NULL;
    if (style && strcmp(style, "dumps") && strcmp(style, "as_json"))
        return PyErr_Format(PyExc_ValueError, "unknown style %s", style);
    /* bytes are parsed as they are (to test malformed UTF-8) */
    PyObject *bytes = PyBytes_Check(text) ? Py_NewRef(text)
                      : PyUnicode_Check(text)
                          ? PyUnicode_AsEncodedString(text, "utf-8", "surrogatepass")
                          : PyErr_Format(PyExc_TypeError, "_loads() needs str or bytes");
    if (!bytes) return NULL;
    FwcArena arena = { 0 };
    FwcBuf out = FWC_BUF_INIT;
    FwcValue v;
    FwcError err;
    FwcStatus st;
    /* an exact-size copy, so that the sanitizer build sees any read past the end */
    size_t n = (size_t)PyBytes_GET_SIZE(bytes);
    char *copy = malloc(n ? n : 1);
    if (!copy) {
        Py_DECREF(bytes);
        return PyErr_NoMemory();
    }
    memcpy(copy, PyBytes_AS_STRING(bytes), n);
    Py_BEGIN_ALLOW_THREADS st = fwc_json_parse(&arena, copy, n, &v, &err);
    if (!st && style)
        st = fwc_json_write(&out, &v, strcmp(style, "dumps") ? FWC_JSON_AS_JSON : FWC_JSON_DUMPS,
                            &err);
    Py_END_ALLOW_THREADS PyObject *res;
    if (st == FWC_ENOMEM) res = PyErr_NoMemory();
    else if (st == FWC_ETYPE) res = PyErr_Format(PyExc_TypeError, "%s", err.message);
    else if (st) res = PyErr_Format(PyExc_ValueError, "%s", err.message);
    else if (style)
        res = PyUnicode_DecodeASCII(out.data ? out.data : "", (Py_ssize_t)out.len, NULL);
    else res = fwc_value_to_python(&v);
    fwc_buf_free(&out);
    fwc_arena_free(&arena);
    free(copy);
    Py_DECREF(bytes);
    return res;
}

static PyMethodDef module_methods[] = {
    { "sign", (PyCFunction)(void (*)(void))fwc_py_sign, METH_VARARGS | METH_KEYWORDS,
      "sign(secret, body, scheme='frappe', *, msg_id=None, timestamp=None) -> dict of headers" },
    { "verify", (PyCFunction)(void (*)(void))fwc_py_verify, METH_VARARGS | METH_KEYWORDS,
      "verify(secret, body, headers, scheme='frappe', *, tolerance=300) -> bool" },
    { "_dumps", (PyCFunction)(void (*)(void))py_dumps, METH_VARARGS | METH_KEYWORDS,
      "test entry point: JSON writer" },
    { "_snapshot", (PyCFunction)py_snapshot, METH_O, "test entry point: snapshot round trip" },
    { "run_webhooks", (PyCFunction)(void (*)(void))fwc_py_run_webhooks,
      METH_VARARGS | METH_KEYWORDS,
      "run_webhooks(hooks, doc, event, in_insert=False, *, on_error='raise', batch=None) -> list "
      "of the hooks that fire, "
      "in order (each also added to batch)" },
    { "_eval", (PyCFunction)fwc_py_eval_expr, METH_VARARGS,
      "test entry point: _eval(expression, doc) -> value" },
    { "dispatch", (PyCFunction)(void (*)(void))fwc_py_dispatch, METH_FASTCALL,
      "dispatch(hook, doc) -> Response: build hook's request for doc and send it now (GIL "
      "released)" },
    { "_classify_address", (PyCFunction)fwc_py_classify_address, METH_O,
      "test entry point: why SSRF protection refuses an address, or None" },
    { "_address_refusal", (PyCFunction)(void (*)(void))fwc_py_address_refusal, METH_FASTCALL,
      "test entry point: the refusal text for hook and address, or None" },
    { "_loads", (PyCFunction)(void (*)(void))py_loads, METH_VARARGS | METH_KEYWORDS,
      "test entry point: JSON parser" },
    { "_render", (PyCFunction)(void (*)(void))fwc_py_render, METH_VARARGS | METH_KEYWORDS,
      "test entry point: _render(template, doc, json_escape=False) -> rendered text" },
    { "_take_results", (PyCFunction)fwc_py_take_results, METH_O,
      "internal: the on_result thread's next batch" },
    { "_release_engine", (PyCFunction)fwc_py_release_engine, METH_O,
      "internal: the on_result thread ended" },
    { "_take_unresolved", (PyCFunction)fwc_py_take_unresolved, METH_O,
      "internal: the resolver thread's next names to resolve, or None when the store closed" },
    { "_resolved", (PyCFunction)fwc_py_resolved, METH_VARARGS,
      "internal: _resolved(store, name, webhook_or_None, why=None)" },
    { "_release_store", (PyCFunction)fwc_py_release_store, METH_O,
      "internal: the resolver thread ended" },
    { "_close_all", (PyCFunction)fwc_py_close_all, METH_O,
      "internal: close every open Dispatcher (interpreter exit)" },
    { NULL },
};

/* ---------- init ---------- */

static int add_exception(PyObject *m, PyObject **slot, const char *name, PyObject *base,
                         const char *doc)
{
    char qualname[128];
    snprintf(qualname, sizeof qualname, "frappe_webhook_c.%s", name);
    *slot = PyErr_NewExceptionWithDoc(qualname, doc, base, NULL);
    if (!*slot) return -1;
    return PyModule_AddObjectRef(m, name, *slot);
}

static int add_type(PyObject *m, PyObject **slot, PyType_Spec *spec)
{
    *slot = PyType_FromModuleAndSpec(m, spec, NULL);
    if (!*slot) return -1;
    return PyModule_AddType(m, (PyTypeObject *)*slot);
}

static int module_exec(PyObject *m)
{
    FwcModuleState *st = fwc_state_of_module(m);
    if (fwc_snapshot_init() < 0) return -1;
    if (fwc_http_global_init() < 0) {
        PyErr_SetString(PyExc_ImportError,
                        "frappe_webhook_c: libcurl global initialisation failed");
        return -1;
    }
    if (add_exception(m, &st->ValidationError, "ValidationError", PyExc_ValueError,
                      "A webhook definition is invalid (raised at construction).") < 0 ||
        add_exception(m, &st->TemplateError, "TemplateError", PyExc_ValueError,
                      "A body or URL template failed to render, or rendered invalid JSON.") < 0 ||
        add_exception(m, &st->ConditionError, "ConditionError", PyExc_ValueError,
                      "A condition failed to evaluate.") < 0 ||
        add_exception(m, &st->DeliveryError, "DeliveryError", PyExc_Exception,
                      "A delivery did not succeed (raise_for_status).") < 0 ||
        add_exception(m, &st->StoreError, "StoreError", PyExc_OSError,
                      "The store (Dispatcher(store=...), Outbox) could not be read or written; "
                      "nothing was accepted.") < 0)
        return -1;
    if (add_type(m, &st->WebhookType, &fwc_webhook_spec) < 0 ||
        add_type(m, &st->RequestType, &fwc_request_spec) < 0 ||
        add_type(m, &st->ResponseType, &fwc_response_spec) < 0 ||
        add_type(m, &st->OutboxType, &fwc_outbox_spec) < 0)
        return -1;
    if (fwc_dispatcher_init(m, st) < 0) return -1;
    if (PyModule_AddStringConstant(m, "__version__", FWC_VERSION) < 0) return -1;
    if (PyModule_AddIntConstant(m, "MAX_DEPTH", FWC_MAX_DEPTH) < 0) return -1;
    return 0;
}

static int module_traverse(PyObject *m, visitproc visit, void *arg)
{
    FwcModuleState *st = fwc_state_of_module(m);
    Py_VISIT(st->ValidationError);
    Py_VISIT(st->TemplateError);
    Py_VISIT(st->ConditionError);
    Py_VISIT(st->DeliveryError);
    Py_VISIT(st->WebhookType);
    Py_VISIT(st->RequestType);
    Py_VISIT(st->ResponseType);
    Py_VISIT(st->DispatcherType);
    Py_VISIT(st->DeliveryType);
    Py_VISIT(st->QueueFull);
    Py_VISIT(st->StoreError);
    Py_VISIT(st->OutboxType);
    return 0;
}

static int module_clear(PyObject *m)
{
    FwcModuleState *st = fwc_state_of_module(m);
    Py_CLEAR(st->ValidationError);
    Py_CLEAR(st->TemplateError);
    Py_CLEAR(st->ConditionError);
    Py_CLEAR(st->DeliveryError);
    Py_CLEAR(st->WebhookType);
    Py_CLEAR(st->RequestType);
    Py_CLEAR(st->ResponseType);
    Py_CLEAR(st->DispatcherType);
    Py_CLEAR(st->DeliveryType);
    Py_CLEAR(st->QueueFull);
    Py_CLEAR(st->StoreError);
    Py_CLEAR(st->OutboxType);
    return 0;
}

static void module_free(void *m) { module_clear((PyObject *)m); }

static PyModuleDef_Slot module_slots[] = {
    { Py_mod_exec, module_exec },
    { 0, NULL },
};

static PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "frappe_webhook_c._core",
    .m_doc = "Frappe webhooks in C: snapshot, JSON, signatures, requests.",
    .m_size = sizeof(FwcModuleState),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__core(void)
{
    fwc_state_init(&module_def);
    return PyModuleDef_Init(&module_def);
}
