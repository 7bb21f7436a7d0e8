/* fuzz_snapshot_write.c — the snapshot (snapshot.c: Python value -> value tree), the
 * JSON writer (json_write.c) and the way back (value.c), against Python's own json.
 *
 * The one target that needs Python: a snapshot is made *of* Python objects.  A small
 * structured decoder builds a Python value from the input (None, bools, ints of any
 * size, any float, str with any code point including lone surrogates, lists, tuples,
 * dicts with str/int/float/bool/None keys and sometimes an invalid key, dates and times,
 * Decimal, bytes, sets, subclasses that override __repr__/__str__, OrderedDict, shared
 * and circular references, deep nesting).  Then:
 *   - fwc_snapshot_value fails exactly when json.dumps(v, default=str) does, with the
 *     same exception type; else the writer's text is json.dumps's, byte for byte (both
 *     styles; sorted only without NaN keys, whose order timsort alone decides);
 *   - the text parses (json_parse.c);
 *   - fwc_value_to_python of the tree dumps to the same text;
 *   - for a dict, fwc_snapshot_take gives the same tree. */
#include "fuzz_common.h"

/* Python's objects are freed at interpreter exit, never per input. */
const char *__asan_default_options(void) { return "detect_leaks=0"; }

static PyObject *ns; /* helpers defined below */

static const char HELPERS[] =
    "import json, datetime, decimal, collections\n"
    "class I(int):\n"
    "    def __repr__(self): return 'I!'\n"
    "    __str__ = __repr__\n"
    "class F(float):\n"
    "    def __repr__(self): return 'F!'\n"
    "    __str__ = __repr__\n"
    "class S(str):\n"
    "    def __str__(self): return 'S!'\n"
    "class D(dict):\n"
    "    def items(self): return list(reversed(list(dict.items(self))))\n"
    "class Obj:\n"
    "    def __str__(self): return 'obj\\udcff\\u00e9'\n"
    "def dumps(o): return json.dumps(o, default=str)\n"
    "def as_json(o): return json.dumps(o, indent=1, sort_keys=True, separators=(',', ': '), "
    "default=str)\n"
    "def date(y, m, d): return datetime.date(y, m, d)\n"
    "def dt(y, m, d, H, M, S, us): return datetime.datetime(y, m, d, H, M, S, us)\n"
    "def tm(H, M, S, us): return datetime.time(H, M, S, us)\n"
    "def td(d, s, us): return datetime.timedelta(days=d, seconds=s, microseconds=us)\n"
    "def aware(y): return datetime.datetime(y, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)\n"
    "def dec(s): return decimal.Decimal(s)\n"
    "def od(pairs): return collections.OrderedDict(pairs)\n";

/* Whether exc is the snapshot's "nests deeper than FWC_MAX_DEPTH levels" error. */
static int is_depth_error(PyObject *exc)
{
    PyObject *text = PyObject_Str(exc);
    const char *t = text ? PyUnicode_AsUTF8(text) : NULL;
    int yes = t && strstr(t, "nests deeper than") != NULL;
    Py_XDECREF(text);
    PyErr_Clear();
    return yes;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    PyPreConfig pre;
    PyPreConfig_InitPythonConfig(&pre);
    pre.allocator = PYMEM_ALLOCATOR_MALLOC; /* ASan sees every object */
    Py_PreInitialize(&pre);
    Py_InitializeEx(0);
    if (fwc_snapshot_init() < 0) {
        PyErr_Print();
        abort();
    }
    PyObject *main = PyImport_AddModule("__main__");
    ns = PyModule_GetDict(main);
    PyObject *r = PyRun_String(HELPERS, Py_file_input, ns, ns);
    if (!r) {
        PyErr_Print();
        abort();
    }
    Py_DECREF(r);
    return 0;
}

/* ---------- the decoder ---------- */

typedef struct {
    const uint8_t *p, *end;
    int nan_key;        /* a float NaN key somewhere: sorted output is not comparable */
    PyObject *pool[16]; /* values built so far, for shared references */
    int npool;
    PyObject *open[8]; /* lists still being built, for cycles */
} Dec;

static unsigned byte(Dec *d) { return d->p < d->end ? *d->p++ : 0; }
static int left(Dec *d) { return d->p < d->end; }

static PyObject *call(const char *fn, const char *fmt, ...)
{
    PyObject *f = PyDict_GetItemString(ns, fn);
    va_list ap;
    va_start(ap, fmt);
    PyObject *args = Py_VaBuildValue(fmt, ap);
    va_end(ap);
    if (!f || !args) {
        Py_XDECREF(args);
        return NULL;
    }
    PyObject *r = PyObject_CallObject(f, args);
    Py_DECREF(args);
    return r;
}

static PyObject *value(Dec *d, int depth);

static PyObject *text(Dec *d)
{
    unsigned n = byte(d) % 24, mode = byte(d) % 3;
    if (mode == 0) {
        /* UTF-8 as given; invalid bytes become U+FFFD */
        size_t k = (size_t)(d->end - d->p) < n ? (size_t)(d->end - d->p) : n;
        PyObject *s = PyUnicode_DecodeUTF8((const char *)d->p, (Py_ssize_t)k, "replace");
        d->p += k;
        return s;
    }
    /* code points, surrogates and astral ones included */
    Py_UCS4 cps[24];
    for (unsigned i = 0; i < n; i++) {
        unsigned a = byte(d), b = byte(d);
        Py_UCS4 cp = mode == 1 ? (Py_UCS4)a : ((Py_UCS4)a << 8 | b);
        if (mode == 2 && (a & 0x80)) cp = 0xD800 + (b & 0x3) * 0x400 + a; /* surrogate range */
        if (a == 0xFF) cp = 0x10000 + (Py_UCS4)b * 0x100 + a;
        cps[i] = cp > 0x10FFFF ? 0x10FFFF : cp;
    }
    return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, cps, n);
}

static PyObject *number(Dec *d, unsigned kind)
{
    uint8_t raw[8];
    for (int i = 0; i < 8; i++) raw[i] = (uint8_t)byte(d);
    switch (kind) {
    case 0: return PyLong_FromLong((int8_t)raw[0]);
    case 1: {
        int64_t v;
        memcpy(&v, raw, 8);
        return PyLong_FromLongLong(v);
    }
    case 2: {
        /* a big int: up to 40 bytes, either sign */
        uint8_t big[40] = { 0 };
        unsigned n = raw[0] % 40 + 1;
        for (unsigned i = 0; i < n; i++) big[i] = (uint8_t)byte(d);
        return _PyLong_FromByteArray(big, n, 1, 1);
    }
    default: {
        double f;
        memcpy(&f, raw, 8);
        if (raw[0] == 1) f = 0.0 * -1.0;
        return PyFloat_FromDouble(f);
    }
    }
}

static PyObject *key(Dec *d)
{
    unsigned k = byte(d) % 9;
    switch (k) {
    case 0:
    case 1:
    case 2: return text(d);
    case 3: return number(d, 0);
    case 4: return number(d, 2);
    case 5: {
        PyObject *f = number(d, 3);
        if (f && Py_IS_NAN(PyFloat_AS_DOUBLE(f))) d->nan_key = 1;
        return f;
    }
    case 6: return PyBool_FromLong(byte(d) & 1);
    case 7: Py_RETURN_NONE;
    default: return Py_BuildValue("(ii)", 1, 2); /* json refuses it: TypeError */
    }
}

static PyObject *container(Dec *d, unsigned kind, int depth)
{
    unsigned n = byte(d) % 8;
    if (kind == 0 || kind == 1) {
        PyObject *l = PyList_New(0);
        if (!l) return NULL;
        int slot = depth < 8 ? depth : -1;
        if (slot >= 0) d->open[slot] = l;
        for (unsigned i = 0; i < n && left(d); i++) {
            PyObject *v = value(d, depth + 1);
            if (!v || PyList_Append(l, v) < 0) {
                Py_XDECREF(v);
                Py_DECREF(l);
                l = NULL;
                break;
            }
            Py_DECREF(v);
        }
        if (slot >= 0) d->open[slot] = NULL;
        if (l && kind == 1) {
            PyObject *t = PyList_AsTuple(l);
            Py_DECREF(l);
            return t;
        }
        return l;
    }
    PyObject *m = PyDict_New();
    if (!m) return NULL;
    for (unsigned i = 0; i < n && left(d); i++) {
        PyObject *k = key(d), *v = k ? value(d, depth + 1) : NULL;
        if (!v || PyDict_SetItem(m, k, v) < 0) {
            Py_XDECREF(k);
            Py_XDECREF(v);
            Py_DECREF(m);
            return NULL;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    if (kind == 3) {
        PyObject *r = call("od", "(O)", m);
        Py_DECREF(m);
        return r;
    }
    if (kind == 4) {
        PyObject *D = PyDict_GetItemString(ns, "D");
        PyObject *r = D ? PyObject_CallOneArg(D, m) : NULL;
        Py_DECREF(m);
        return r;
    }
    return m;
}

static PyObject *value(Dec *d, int depth)
{
    unsigned op = byte(d) % 26;
    PyObject *v = NULL;
    if (depth > 40 && op >= 8 && op <= 12) op = 0; /* bounded nesting, except op 22 */
    switch (op) {
    case 0: Py_RETURN_NONE;
    case 1: Py_RETURN_TRUE;
    case 2: Py_RETURN_FALSE;
    case 3:
    case 4:
    case 5:
    case 6: v = number(d, op - 3); break;
    case 7: v = text(d); break;
    case 8:
    case 9:
    case 10:
    case 11:
    case 12: v = container(d, op - 8, depth); break;
    case 13: {
        unsigned y = byte(d) * 8 + 1, m = byte(d) % 12 + 1, dd = byte(d) % 28 + 1;
        v = call("date", "(iii)", (int)y, (int)m, (int)dd);
        break;
    }
    case 14: {
        unsigned y = byte(d) * 8 + 1, m = byte(d) % 12 + 1, dd = byte(d) % 28 + 1, H = byte(d) % 24,
                 M = byte(d) % 60, S = byte(d) % 60, us = byte(d) % 3 ? 0 : byte(d) * 3907;
        v = call("dt", "(iiiiiii)", (int)y, (int)m, (int)dd, (int)H, (int)M, (int)S, (int)us);
        break;
    }
    case 15:
        v = call("tm", "(iiii)", (int)(byte(d) % 24), (int)(byte(d) % 60), (int)(byte(d) % 60),
                 (int)(byte(d) % 2 ? byte(d) * 3907 : 0));
        break;
    case 16:
        v = call("td", "(iii)", (int)(int8_t)byte(d) * 4000, (int)(int8_t)byte(d) * 400,
                 (int)(int8_t)byte(d) * 9000);
        break;
    case 17: v = call("aware", "(i)", (int)(byte(d) * 7 + 1)); break;
    case 18: {
        static const char *decs[] = {
            "1.10", "-0", "NaN", "1E+3", "0.000001", "Infinity", "123456789012345678901234567890.5"
        };
        v = call("dec", "(s)", decs[byte(d) % 7]);
        break;
    }
    case 19: {
        unsigned n = byte(d) % 8;
        size_t k = (size_t)(d->end - d->p) < n ? (size_t)(d->end - d->p) : n;
        v = PyBytes_FromStringAndSize((const char *)d->p, (Py_ssize_t)k);
        d->p += k;
        break;
    }
    case 20: {
        /* subclasses with their own repr/str, and a plain object */
        static const char *cls[] = { "I", "F", "S", "Obj" };
        unsigned c = byte(d) % 4;
        PyObject *C = PyDict_GetItemString(ns, cls[c]);
        if (!C) return NULL;
        if (c == 0) v = PyObject_CallFunction(C, "i", (int)(int8_t)byte(d));
        else if (c == 1) v = PyObject_CallFunction(C, "d", (double)(int8_t)byte(d) / 4);
        else if (c == 2) v = PyObject_CallFunction(C, "s", "sub");
        else v = PyObject_CallNoArgs(C);
        break;
    }
    case 21: {
        /* a set: str(set) by default=str */
        PyObject *s = PySet_New(NULL);
        for (unsigned i = 0, n = byte(d) % 4; s && i < n; i++) {
            PyObject *x = PyLong_FromLong((long)byte(d));
            if (!x || PySet_Add(s, x) < 0) Py_CLEAR(s);
            Py_XDECREF(x);
        }
        v = s;
        break;
    }
    case 22: {
        /* a deep chain of lists: 1..300 (the snapshot's bound is FWC_MAX_DEPTH) */
        unsigned n = byte(d) + byte(d) % 64;
        v = PyList_New(0);
        for (unsigned i = 0; v && i < n; i++) {
            PyObject *outer = PyList_New(1);
            if (!outer) Py_CLEAR(v);
            else {
                PyList_SET_ITEM(outer, 0, v);
                v = outer;
            }
        }
        break;
    }
    case 23:
        /* a shared reference to an earlier value */
        if (d->npool) {
            v = d->pool[byte(d) % d->npool];
            Py_INCREF(v);
            return v;
        }
        Py_RETURN_NONE;
    case 24: {
        /* a reference to a list still being built: a cycle */
        unsigned k = byte(d) % 8;
        if (k < 8 && k < (unsigned)depth && d->open[k]) {
            Py_INCREF(d->open[k]);
            return d->open[k];
        }
        Py_RETURN_NONE;
    }
    default: v = text(d); break;
    }
    if (v && d->npool < 16) {
        Py_INCREF(v);
        d->pool[d->npool++] = v;
    }
    return v;
}

/* ---------- the checks ---------- */

static PyObject *py_dump(const char *fn, PyObject *v) { return call(fn, "(O)", v); }

/* The pending exception, normalised (PyErr_GetRaisedException is 3.12+). */
static PyObject *take_exception(void)
{
    PyObject *type, *val, *tb;
    PyErr_Fetch(&type, &val, &tb);
    PyErr_NormalizeException(&type, &val, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return val;
}

static void check_text(const FwcBuf *b, PyObject *want, const char *what)
{
    Py_ssize_t n;
    const char *w = PyUnicode_AsUTF8AndSize(want, &n);
    FUZZ_CHECK(w, "json gave no UTF-8");
    FUZZ_CHECK((size_t)n == b->len && memcmp(w, b->data, b->len) == 0,
               "%s differs from json:\nours: %.*s\njson: %s", what, (int)b->len, b->data, w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Dec d = { data, data + size };
    PyObject *v = value(&d, 0);
    for (int i = 0; i < d.npool; i++) Py_DECREF(d.pool[i]);
    if (!v) {
        PyErr_Clear(); /* the decoder asked for something Python refuses (a date) */
        return 0;
    }

    PyObject *want = py_dump("dumps", v);
    PyObject *want_type = NULL;
    if (!want) {
        PyObject *exc = take_exception();
        want_type = (PyObject *)Py_TYPE(exc);
        Py_INCREF(want_type);
        Py_DECREF(exc);
    }

    FwcSnapshot *s = fwc_snapshot_value(v);
    if (!s) {
        FUZZ_CHECK(PyErr_Occurred(), "snapshot failed without an exception");
        PyObject *exc = take_exception();
        /* the snapshot's documented depth bound (json.dumps goes deeper; shared references
         * can place a deep value below itself, so the decoder cannot count the depth) */
        int too_deep = PyErr_GivenExceptionMatches(exc, PyExc_ValueError) && is_depth_error(exc);
        if (!too_deep) {
            if (!want_type) {
                PyObject *text = PyObject_Repr(exc);
                FUZZ_CHECK(0, "snapshot failed where json did not: %s",
                           text ? PyUnicode_AsUTF8(text) : "?");
            }
            FUZZ_CHECK(PyErr_GivenExceptionMatches(exc, want_type), "snapshot raised %s, json %s",
                       Py_TYPE(exc)->tp_name, ((PyTypeObject *)want_type)->tp_name);
        }
        Py_DECREF(exc);
        goto done;
    }
    FUZZ_CHECK(want, "json failed (%s) where the snapshot did not",
               ((PyTypeObject *)want_type)->tp_name);

    FwcBuf out = FWC_BUF_INIT;
    FwcError err = { 0 };
    FwcStatus st = fwc_json_write(&out, &s->root, FWC_JSON_DUMPS, &err);
    FUZZ_CHECK(st == FWC_OK, "dumps style failed: %s", err.message);
    check_text(&out, want, "dumps");

    FwcArena arena = { 0 };
    FwcValue back;
    st = fwc_json_parse(&arena, out.data, out.len, &back, &err);
    FUZZ_CHECK(st == FWC_OK, "the writer's output does not parse: %s", err.message);
    fwc_arena_free(&arena);

    /* the tree back in Python dumps the same */
    PyObject *py = fwc_value_to_python(&s->root);
    FUZZ_CHECK(py, "value_to_python failed");
    PyObject *again = py_dump("dumps", py);
    FUZZ_CHECK(again, "json cannot dump value_to_python's result");
    check_text(&out, again, "value_to_python -> dumps");
    Py_DECREF(again);
    Py_DECREF(py);

    /* sort_keys: json raises TypeError for keys it cannot order, we give FWC_ETYPE */
    FwcBuf pretty = FWC_BUF_INIT;
    st = fwc_json_write(&pretty, &s->root, FWC_JSON_AS_JSON, &err);
    PyObject *want_pretty = py_dump("as_json", v);
    if (!d.nan_key) {
        if (want_pretty) {
            FUZZ_CHECK(st == FWC_OK, "as_json failed where json did not: %s", err.message);
            check_text(&pretty, want_pretty, "as_json");
        } else {
            FUZZ_CHECK(PyErr_ExceptionMatches(PyExc_TypeError), "json's sort failed oddly");
            FUZZ_CHECK(st == FWC_ETYPE, "as_json: status %d where json raised TypeError", (int)st);
        }
    }
    PyErr_Clear();
    Py_XDECREF(want_pretty);
    fwc_buf_free(&pretty);

    /* a document snapshot of a dict is the same tree */
    if (PyDict_Check(v)) {
        FwcSnapshot *doc = fwc_snapshot_take(v);
        FUZZ_CHECK(doc, "snapshot_take failed where snapshot_value did not");
        FwcBuf t = FWC_BUF_INIT;
        FUZZ_CHECK(fwc_json_write(&t, &doc->root, FWC_JSON_DUMPS, &err) == FWC_OK, "%s",
                   err.message);
        check_text(&t, want, "snapshot_take -> dumps");
        fwc_buf_free(&t);
        fwc_snapshot_decref(doc);
    }
    fwc_buf_free(&out);
    fwc_snapshot_decref(s);
done:
    PyErr_Clear();
    Py_XDECREF(want);
    Py_XDECREF(want_type);
    /* break the cycles the decoder made */
    if (PyList_Check(v)) PyList_SetSlice(v, 0, PyList_GET_SIZE(v), NULL);
    Py_DECREF(v);
    return 0;
}
