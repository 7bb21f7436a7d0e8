/* conditions.c — the Python side of conditions (GIL held except where released):
 * compiling a Webhook's condition, Webhook.meets_condition / matches, the module-level
 * run_webhooks(), the slow path for callable conditions, and the _eval test entry point. */
#include "py/py.h"

/* ---------- compile (at Webhook construction) ---------- */

static void invalid_condition(FwcModuleState *st, const FwcError *err)
{
    if (err->code == FWC_ENOMEM) {
        PyErr_NoMemory();
        return;
    }
    if (err->line > 1)
        PyErr_Format(st->ValidationError, "Invalid Condition: %s (line %d, column %d)",
                     err->message, err->line, err->col);
    else
        PyErr_Format(st->ValidationError, "Invalid Condition: %s (column %d)", err->message,
                     err->col);
}

/* A condition written as a Jinja output, {{ doc.status == "Open" }}, is a Python set of a
 * set: valid syntax that fails on every document ("unhashable type: 'set'").  When what
 * is inside the braces is itself an expression, say so now (ValidationError, 1). */
static int looks_like_template(FwcModuleState *st, const char *u, size_t n)
{
    while (n && (*u == ' ' || *u == '\t' || *u == '\n' || *u == '\r')) u++, n--;
    while (n && (u[n - 1] == ' ' || u[n - 1] == '\t' || u[n - 1] == '\n' || u[n - 1] == '\r')) n--;
    if (n < 5 || memcmp(u, "{{", 2) || memcmp(u + n - 2, "}}", 2)) return 0;
    FwcError err;
    FwcExpr *inner = fwc_expr_compile(u + 2, n - 4, &err);
    if (!inner) return 0; /* not that confusion: the parser's own error follows */
    fwc_expr_free(inner);
    const char *in = u + 2;
    size_t len = n - 4;
    while (len && (*in == ' ' || *in == '\t')) in++, len--;
    while (len && (in[len - 1] == ' ' || in[len - 1] == '\t')) len--;
    char what[201];
    snprintf(what, sizeof what, "%.*s", (int)(len < 200 ? len : 200), in);
    PyErr_Format(st->ValidationError,
                 "Invalid Condition: a condition is a Python expression, not a Jinja template: "
                 "write %s without the {{ }}",
                 what);
    return 1;
}

int fwc_condition_compile(FwcModuleState *st, PyObject *src, FwcExpr **out)
{
    *out = NULL;
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(src, &n);
    if (!u) {
        PyErr_Clear();
        PyErr_SetString(st->ValidationError,
                        "Invalid Condition: not valid Unicode (lone surrogate)");
        return -1;
    }
    int blank = 1;
    for (Py_ssize_t i = 0; i < n && blank; i++)
        blank = u[i] == ' ' || u[i] == '\t' || u[i] == '\n' || u[i] == '\r';
    if (blank) return 0; /* as Frappe's `if not webhook.condition`, after stripping */
    if (looks_like_template(st, u, (size_t)n)) return -1;
    FwcError err;
    *out = fwc_expr_compile(u, (size_t)n, &err);
    if (!*out) {
        invalid_condition(st, &err);
        return -1;
    }
    return 0;
}

/* ---------- the document as callables see it: frappe._dict all the way down ---------- */

static PyObject *attrdict_type; /* created once, with the GIL */

static PyObject *get_attrdict_type(void)
{
    if (attrdict_type) return attrdict_type;
    PyObject *get = PyObject_GetAttrString((PyObject *)&PyDict_Type, "get");
    PyObject *setitem = PyObject_GetAttrString((PyObject *)&PyDict_Type, "__setitem__");
    PyObject *ns = get && setitem
                       ? Py_BuildValue("{s:O,s:O,s:s,s:s,s:()}", "__getattr__", get, "__setattr__",
                                       setitem, "__module__", "frappe_webhook_c", "__doc__",
                                       "frappe._dict: attribute access to keys, None when missing.",
                                       "__slots__")
                       : NULL;
    if (ns)
        attrdict_type = PyObject_CallFunction((PyObject *)&PyType_Type, "s(O)O", "_dict",
                                              (PyObject *)&PyDict_Type, ns);
    Py_XDECREF(get);
    Py_XDECREF(setitem);
    Py_XDECREF(ns);
    return attrdict_type;
}

static PyObject *to_attr(const FwcValue *v, int depth)
{
    if (v->type == FWC_T_DICT && depth < FWC_MAX_DEPTH + 2) {
        PyObject *tp = get_attrdict_type();
        PyObject *d = tp ? PyObject_CallNoArgs(tp) : NULL;
        if (!d) return NULL;
        for (uint32_t i = 0; i < v->len; i++) {
            PyObject *k = fwc_value_to_python(&v->u.pairs[i].key);
            PyObject *x = k ? to_attr(&v->u.pairs[i].value, depth + 1) : NULL;
            if (!x || PyDict_SetItem(d, k, x) < 0) {
                Py_XDECREF(k);
                Py_XDECREF(x);
                Py_DECREF(d);
                return NULL;
            }
            Py_DECREF(k);
            Py_DECREF(x);
        }
        return d;
    }
    if (v->type == FWC_T_LIST) {
        PyObject *l = PyList_New(v->len);
        if (!l) return NULL;
        for (uint32_t i = 0; i < v->len; i++) {
            PyObject *x = to_attr(&v->u.items[i], depth + 1);
            if (!x) {
                Py_DECREF(l);
                return NULL;
            }
            PyList_SET_ITEM(l, i, x);
        }
        return l;
    }
    return fwc_value_to_python(v);
}

/* ---------- evaluation of one hook's condition ---------- */

/* Calls a callable condition: 1/0, or -1 with the exception set. *doc_obj caches the
 * converted document between hooks. */
static int call_condition(PyObject *hook, FwcSnapshot *snap, PyObject **doc_obj)
{
    PyObject *fn = PyObject_GetAttrString(hook, "condition");
    if (!fn) return -1;
    if (!*doc_obj && !(*doc_obj = to_attr(&snap->root, 0))) {
        Py_DECREF(fn);
        return -1;
    }
    PyObject *r = PyObject_CallOneArg(fn, *doc_obj);
    Py_DECREF(fn);
    if (!r) return -1;
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    return t;
}

static int condition_holds(PyObject *hook, FwcHookSpec *spec, FwcSnapshot *snap, PyObject **doc_obj)
{
    if (spec->condition_callable) return call_condition(hook, snap, doc_obj);
    if (!spec->condition) return 1;
    FwcError err;
    FwcStatus status;
    int result = 0;
    Py_BEGIN_ALLOW_THREADS status = fwc_expr_test(spec->condition, &snap->root, &result, &err);
    Py_END_ALLOW_THREADS if (status)
    {
        fwc_raise(fwc_state_of(hook), &err);
        return -1;
    }
    return result;
}

static FwcHookSpec *spec_or_error(PyObject *hook)
{
    FwcHookSpec *spec = fwc_webhook_spec_of(hook);
    if (!spec)
        PyErr_Format(PyExc_TypeError, "expected a Webhook, not %.100s", Py_TYPE(hook)->tp_name);
    return spec;
}

PyObject *fwc_webhook_meets_condition(PyObject *self, PyObject *doc)
{
    FwcHookSpec *spec = spec_or_error(self);
    if (!spec) return NULL;
    if (!spec->condition && !spec->condition_callable) {
        /* still validate the document, as the other paths do */
        FwcSnapshot *snap = fwc_snapshot_take(doc);
        if (!snap) return NULL;
        fwc_snapshot_decref(snap);
        Py_RETURN_TRUE;
    }
    FwcSnapshot *snap = fwc_snapshot_take(doc);
    if (!snap) return NULL;
    PyObject *doc_obj = NULL;
    int r = condition_holds(self, spec, snap, &doc_obj);
    Py_XDECREF(doc_obj);
    fwc_snapshot_decref(snap);
    if (r < 0) return NULL;
    return PyBool_FromLong(r);
}

/* ---------- event matching ---------- */

/* Frappe's run_webhooks: the events it accepts at this moment. */
static int event_allowed(const char *event, int in_insert)
{
    static const char *const always[] = { "on_update", "after_insert", "on_submit",
                                          "on_cancel", "on_trash",     NULL };
    for (int i = 0; always[i]; i++)
        if (strcmp(event, always[i]) == 0) return 1;
    if (!in_insert &&
        (strcmp(event, "on_change") == 0 || strcmp(event, "on_update_after_submit") == 0))
        return 1;
    return 0;
}

/* Everything but the condition: enabled, doctype, event. */
static int static_match(const FwcHookSpec *spec, const FwcValue *root, const char *event,
                        int in_insert)
{
    if (!spec->enabled || !event_allowed(event, in_insert)) return 0;
    if (*spec->webhook_docevent && strcmp(spec->webhook_docevent, event) != 0) return 0;
    if (*spec->webhook_doctype) {
        const FwcValue *dt = fwc_dict_get(root, "doctype", 7);
        size_t n = strlen(spec->webhook_doctype);
        if (!dt || dt->type != FWC_T_STR || dt->len != n ||
            memcmp(dt->u.s, spec->webhook_doctype, n) != 0)
            return 0;
    }
    return 1;
}

static const char *event_arg(PyObject *event)
{
    if (!PyUnicode_Check(event)) {
        PyErr_Format(PyExc_TypeError, "event must be str, not %.100s", Py_TYPE(event)->tp_name);
        return NULL;
    }
    return PyUnicode_AsUTF8(event);
}

PyObject *fwc_webhook_matches(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "doc", "event", "in_insert", NULL };
    PyObject *doc, *event;
    int in_insert = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|p:matches", kwlist, &doc, &event,
                                     &in_insert))
        return NULL;
    FwcHookSpec *spec = spec_or_error(self);
    if (!spec) return NULL;
    const char *ev = event_arg(event);
    if (!ev) return NULL;
    FwcSnapshot *snap = fwc_snapshot_take(doc);
    if (!snap) return NULL;
    int r = static_match(spec, &snap->root, ev, in_insert);
    PyObject *doc_obj = NULL;
    if (r) r = condition_holds(self, spec, snap, &doc_obj);
    Py_XDECREF(doc_obj);
    fwc_snapshot_decref(snap);
    if (r < 0) return NULL;
    return PyBool_FromLong(r);
}

/* run_webhooks(hooks, doc, event, in_insert=False, *, on_error="raise", batch=None) -> list
 * With a batch (frappe_webhook_c.Batch), each hook that fires is also batch.add(hook, doc). */
PyObject *fwc_py_run_webhooks(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "hooks", "doc", "event", "in_insert", "on_error", "batch", NULL };
    PyObject *hooks, *doc, *event, *batch = Py_None;
    int in_insert = 0;
    const char *on_error = "raise";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|p$sO:run_webhooks", kwlist, &hooks, &doc,
                                     &event, &in_insert, &on_error, &batch))
        return NULL;
    int skip_errors;
    if (strcmp(on_error, "raise") == 0) skip_errors = 0;
    else if (strcmp(on_error, "skip") == 0) skip_errors = 1;
    else
        return PyErr_Format(PyExc_ValueError, "on_error must be 'raise' or 'skip', not '%s'",
                            on_error);
    const char *ev = event_arg(event);
    if (!ev) return NULL;
    PyObject *seq = PySequence_Fast(hooks, "hooks must be an iterable of Webhook objects");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    FwcHookSpec **specs = PyMem_Calloc((size_t)n + 1, sizeof *specs);
    /* state per hook: 0 no, 1 yes, 2 native pending, 3 callable; results/errors after */
    signed char *state = PyMem_Calloc((size_t)n + 1, 1);
    FwcError *errs = NULL;
    PyObject *result = NULL, *doc_obj = NULL;
    FwcSnapshot *snap = NULL;
    if (!specs || !state) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!(specs[i] = spec_or_error(items[i]))) goto done;
    if (!(snap = fwc_snapshot_take(doc))) goto done;
    Py_ssize_t native = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        FwcHookSpec *s = specs[i];
        if (!static_match(s, &snap->root, ev, in_insert)) state[i] = 0;
        else if (s->condition_callable) state[i] = 3;
        else if (s->condition) {
            state[i] = 2;
            native++;
        } else state[i] = 1;
    }
    if (native) {
        errs = PyMem_Malloc(sizeof *errs * (size_t)n);
        if (!errs) {
            PyErr_NoMemory();
            goto done;
        }
        Py_BEGIN_ALLOW_THREADS FwcArena scratch = { 0 };
        for (Py_ssize_t i = 0; i < n; i++) {
            if (state[i] != 2) continue;
            FwcValue v;
            FwcStatus st = fwc_expr_eval(specs[i]->condition, &snap->root, &scratch, &v, &errs[i]);
            state[i] = st ? -1 : (signed char)fwc_expr_truthy(&v);
            /* keep memory flat across many hooks */
            if (scratch.total > (1u << 20)) fwc_arena_free(&scratch);
        }
        fwc_arena_free(&scratch);
        Py_END_ALLOW_THREADS
    }
    if (!(result = PyList_New(0))) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        int fire = state[i];
        if (fire == -1) {
            if (skip_errors) continue;
            FwcModuleState *st = fwc_state_of(items[i]);
            if (errs[i].code == FWC_ENOMEM) PyErr_NoMemory();
            else
                PyErr_Format(st->ConditionError, "%s (condition of webhook '%s')", errs[i].message,
                             specs[i]->name);
            Py_CLEAR(result);
            goto done;
        }
        if (fire == 3) {
            fire = call_condition(items[i], snap, &doc_obj);
            if (fire < 0) {
                if (skip_errors && !PyErr_ExceptionMatches(PyExc_MemoryError) &&
                    !PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
                    PyErr_Clear();
                    continue;
                }
                Py_CLEAR(result);
                goto done;
            }
        }
        if (fire && PyList_Append(result, items[i]) < 0) {
            Py_CLEAR(result);
            goto done;
        }
    }
    /* Frappe's _add_webhook_to_queue: what fires joins the transaction's batch */
    for (Py_ssize_t i = 0; batch != Py_None && result && i < PyList_GET_SIZE(result); i++) {
        PyObject *r = PyObject_CallMethod(batch, "add", "OO", PyList_GET_ITEM(result, i), doc);
        if (!r) Py_CLEAR(result);
        Py_XDECREF(r);
    }
done:
    (void)module;
    Py_XDECREF(doc_obj);
    if (snap) fwc_snapshot_decref(snap);
    PyMem_Free(errs);
    PyMem_Free(specs);
    PyMem_Free(state);
    Py_DECREF(seq);
    return result;
}

/* ---------- test entry point ---------- */

/* _eval(source, doc) -> the value of the expression, as Python sees it */
PyObject *fwc_py_eval_expr(PyObject *module, PyObject *args)
{
    PyObject *src, *doc;
    if (!PyArg_ParseTuple(args, "UO:_eval", &src, &doc)) return NULL;
    FwcModuleState *st = fwc_state_of_module(module);
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(src, &n);
    if (!u) return NULL;
    FwcError err;
    FwcExpr *e = fwc_expr_compile(u, (size_t)n, &err);
    if (!e) {
        invalid_condition(st, &err);
        return NULL;
    }
    FwcSnapshot *snap = fwc_snapshot_take(doc);
    if (!snap) {
        fwc_expr_free(e);
        return NULL;
    }
    FwcArena scratch = { 0 };
    FwcValue v;
    FwcStatus status;
    Py_BEGIN_ALLOW_THREADS status = fwc_expr_eval(e, &snap->root, &scratch, &v, &err);
    Py_END_ALLOW_THREADS PyObject *res = status ? fwc_raise(st, &err) : fwc_value_to_python(&v);
    fwc_arena_free(&scratch);
    fwc_snapshot_decref(snap);
    fwc_expr_free(e);
    return res;
}
