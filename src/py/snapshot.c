/* snapshot.c — one walk over a Python document (GIL held) into an immutable value
 * tree owned by one arena.  Normalises values as Frappe's
 * as_dict(convert_dates_to_str=True) followed by json.dumps(default=str) would:
 * None/bool/int/float/str/list/tuple/dict map to themselves, everything else becomes
 * str(value).  Naive datetime/date/time and timedelta are formatted natively (exact
 * types only: a subclass may override __str__). */
#include "py/py.h"
#include <datetime.h>

static PyObject *mapping_abc; /* collections.abc.Mapping, set by fwc_snapshot_init */

int fwc_snapshot_init(void)
{
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) return -1;
    if (!mapping_abc) {
        PyObject *abc = PyImport_ImportModule("collections.abc");
        if (!abc) return -1;
        mapping_abc = PyObject_GetAttrString(abc, "Mapping");
        Py_DECREF(abc);
        if (!mapping_abc) return -1;
    }
    return 0;
}

/* The walk: containers being visited (for cycles) and the path to the current value
 * (for error messages).  path[d] is the entry of the container open at depth d: a key
 * (a strong reference: user code run during the walk, a __str__ or items(), may drop
 * the container or list that held it), a list index, or nothing yet (key NULL, index
 * -1: the error is about the container itself). */
typedef struct {
    FwcArena *arena;
    int depth;
    PyObject *open[FWC_MAX_DEPTH + 1];
    struct {
        PyObject *key;
        Py_ssize_t index;
    } path[FWC_MAX_DEPTH + 1];
} Walk;

static void path_key(Walk *w, PyObject *key) { Py_XSETREF(w->path[w->depth].key, Py_NewRef(key)); }

static void path_index(Walk *w, Py_ssize_t i)
{
    Py_CLEAR(w->path[w->depth].key);
    w->path[w->depth].index = i;
}

static int convert(Walk *w, PyObject *o, FwcValue *out);

/* "$.items[2].parent" for the value being converted. */
static PyObject *path_text(Walk *w)
{
    PyObject *parts = PyList_New(0), *res = NULL;
    if (!parts) return NULL;
    PyObject *dollar = PyUnicode_FromString("$");
    if (!dollar || PyList_Append(parts, dollar) < 0) goto done;
    for (int i = 1; i <= w->depth; i++) {
        PyObject *k = w->path[i].key, *part;
        if (!k && w->path[i].index < 0) break; /* the container itself */
        if (!k) part = PyUnicode_FromFormat("[%zd]", w->path[i].index);
        else if (PyUnicode_Check(k) && PyUnicode_IsIdentifier(k))
            part = PyUnicode_FromFormat(".%U", k);
        else if (!(part = PyUnicode_FromFormat("[%R]", k))) {
            /* a key subclass's __repr__ failed: the error being reported matters more */
            PyErr_Clear();
            part = PyUnicode_FromFormat("[<%.100s>]", Py_TYPE(k)->tp_name);
        }
        if (!part || PyList_Append(parts, part) < 0) {
            Py_XDECREF(part);
            goto done;
        }
        Py_DECREF(part);
    }
    PyObject *empty = PyUnicode_FromString("");
    if (empty) {
        res = PyUnicode_Join(empty, parts);
        Py_DECREF(empty);
    }
done:
    Py_XDECREF(dollar);
    Py_DECREF(parts);
    return res;
}

/* Raises exc with "<message> at <path>". */
static int fail_at(Walk *w, PyObject *exc, const char *message)
{
    PyObject *path = path_text(w);
    if (path) {
        PyErr_Format(exc, "%s at %U", message, path);
        Py_DECREF(path);
    }
    return -1;
}

/* Re-raises the exception set by user code (str(), as_dict(), items()) as a ValueError
 * naming the path (a str, or NULL with an exception), chained to the original. */
static int reraise_at(PyObject *(*path_of)(Walk *), Walk *w)
{
    PyObject *type, *cause, *tb;
    PyErr_Fetch(&type, &cause, &tb);
    PyErr_NormalizeException(&type, &cause, &tb);
    if (tb) PyException_SetTraceback(cause, tb);
    PyObject *path = path_of(w);
    if (path) {
        PyErr_Format(PyExc_ValueError, "cannot snapshot value at %U: %s: %S", path,
                     Py_TYPE(cause)->tp_name, cause);
        Py_DECREF(path);
        PyObject *t2, *exc, *tb2;
        PyErr_Fetch(&t2, &exc, &tb2);
        PyErr_NormalizeException(&t2, &exc, &tb2);
        PyException_SetCause(exc, Py_NewRef(cause));
        PyException_SetContext(exc, Py_NewRef(cause));
        PyErr_Restore(t2, exc, tb2);
    }
    Py_XDECREF(type);
    Py_XDECREF(cause);
    Py_XDECREF(tb);
    return -1;
}

static int annotate(Walk *w) { return reraise_at(path_text, w); }

static PyObject *root_path(Walk *w)
{
    (void)w;
    return PyUnicode_FromString("$");
}

/* ---------- strings ---------- */

static int set_str(Walk *w, FwcValue *out, const char *s, size_t n, int ascii)
{
    if (n > FWC_MAX_LEN) return fail_at(w, PyExc_ValueError, "string longer than 4 GiB");
    char *p = fwc_arena_strdup(w->arena, s, n);
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    out->type = FWC_T_STR;
    out->ascii = (uint8_t)ascii;
    out->len = (uint32_t)n;
    out->u.s = p;
    return 0;
}

/* str -> UTF-8 in the arena; lone surrogates keep their 3-byte form. */
static int unicode_value(Walk *w, PyObject *s, FwcValue *out)
{
    if (PyUnicode_READY(s) < 0) return -1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (PyUnicode_IS_ASCII(s)) return set_str(w, out, PyUnicode_DATA(s), (size_t)n, 1);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    size_t len = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        len += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    }
    if (len > FWC_MAX_LEN) return fail_at(w, PyExc_ValueError, "string longer than 4 GiB");
    unsigned char *p = fwc_arena_alloc(w->arena, len + 1), *q = p;
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        q = (unsigned char *)fwc_utf8_put((char *)q, PyUnicode_READ(kind, data, i));
    *q = '\0';
    out->type = FWC_T_STR;
    out->ascii = 0;
    out->len = (uint32_t)len;
    out->u.s = (const char *)p;
    return 0;
}

/* str(o), as json.dumps(default=str) and Frappe's date conversion do. */
static int stringified(Walk *w, PyObject *o, FwcValue *out)
{
    PyObject *s = PyObject_Str(o);
    if (!s) return annotate(w);
    int r = unicode_value(w, s, out);
    Py_DECREF(s);
    return r;
}

/* Decimal digits of v (>= 0), zero-padded to width. */
static char *put_num(char *p, long v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width) tmp[n++] = '0';
    while (n) *p++ = tmp[--n];
    return p;
}

/* "H:MM:SS[.ffffff]" with the hours zero-padded to hour_width */
static char *put_hms(char *p, long h, int hour_width, int m, int s, int us)
{
    p = put_num(p, h, hour_width);
    *p++ = ':';
    p = put_num(p, m, 2);
    *p++ = ':';
    p = put_num(p, s, 2);
    if (us) {
        *p++ = '.';
        p = put_num(p, us, 6);
    }
    return p;
}

static char *put_ymd(char *p, int y, int m, int d)
{
    p = put_num(p, y, 4);
    *p++ = '-';
    p = put_num(p, m, 2);
    *p++ = '-';
    return put_num(p, d, 2);
}

/* Native str() of exact naive datetime/date/time and timedelta (sets *handled).  Aware
 * values and subclasses go through str(): their __str__/tzinfo may do anything. */
static int date_value(Walk *w, PyObject *o, FwcValue *out, int *handled)
{
    char b[64], *p = b;
    PyTypeObject *t = Py_TYPE(o);
    if (t == PyDateTimeAPI->DateTimeType) {
        if (((_PyDateTime_BaseTZInfo *)o)->hastzinfo) return 0;
        p = put_ymd(p, PyDateTime_GET_YEAR(o), PyDateTime_GET_MONTH(o), PyDateTime_GET_DAY(o));
        *p++ = ' ';
        p = put_hms(p, PyDateTime_DATE_GET_HOUR(o), 2, PyDateTime_DATE_GET_MINUTE(o),
                    PyDateTime_DATE_GET_SECOND(o), PyDateTime_DATE_GET_MICROSECOND(o));
    } else if (t == PyDateTimeAPI->DateType) {
        p = put_ymd(p, PyDateTime_GET_YEAR(o), PyDateTime_GET_MONTH(o), PyDateTime_GET_DAY(o));
    } else if (t == PyDateTimeAPI->TimeType) {
        if (((_PyDateTime_BaseTZInfo *)o)->hastzinfo) return 0;
        p = put_hms(p, PyDateTime_TIME_GET_HOUR(o), 2, PyDateTime_TIME_GET_MINUTE(o),
                    PyDateTime_TIME_GET_SECOND(o), PyDateTime_TIME_GET_MICROSECOND(o));
    } else if (t == PyDateTimeAPI->DeltaType) {
        /* timedelta.__str__: "[-]D day[s], H:MM:SS[.ffffff]", hours not padded */
        long days = PyDateTime_DELTA_GET_DAYS(o);
        int secs = PyDateTime_DELTA_GET_SECONDS(o);
        if (days) {
            if (days < 0) *p++ = '-';
            p = put_num(p, days < 0 ? -days : days, 1);
            const char *unit = days == 1 || days == -1 ? " day, " : " days, ";
            memcpy(p, unit, strlen(unit));
            p += strlen(unit);
        }
        p = put_hms(p, secs / 3600, 1, secs / 60 % 60, secs % 60,
                    PyDateTime_DELTA_GET_MICROSECONDS(o));
    } else {
        return 0;
    }
    *handled = 1;
    return set_str(w, out, b, (size_t)(p - b), 1);
}

/* ---------- numbers ---------- */

static int int_value(Walk *w, PyObject *o, FwcValue *out)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (!overflow) {
        out->type = FWC_T_INT;
        out->u.i = v;
        return 0;
    }
    /* int.__repr__, as json does for int subclasses too */
    PyObject *text = PyLong_Type.tp_repr(o);
    if (!text) return -1;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(text, &n);
    int r = s ? set_str(w, out, s, (size_t)n, 1) : -1;
    Py_DECREF(text);
    if (r == 0) out->type = FWC_T_BIGINT;
    return r;
}

/* ---------- containers ---------- */

static int enter(Walk *w, PyObject *container)
{
    for (int i = 0; i <= w->depth; i++)
        if (w->open[i] == container)
            return fail_at(w, PyExc_ValueError, "Circular reference detected");
    if (w->depth >= FWC_MAX_DEPTH) {
        char msg[96];
        snprintf(msg, sizeof msg, "document nests deeper than %d levels", FWC_MAX_DEPTH);
        return fail_at(w, PyExc_ValueError, msg);
    }
    w->open[++w->depth] = container;
    w->path[w->depth].key = NULL;
    w->path[w->depth].index = -1;
    return 0;
}

static void leave(Walk *w)
{
    Py_CLEAR(w->path[w->depth].key);
    w->depth--;
}

/* After a failed walk: drops the keys still held by the containers left open. */
static void unwind(Walk *w)
{
    while (w->depth > 0) leave(w);
}

static int changed_size(Walk *w, const char *what)
{
    char msg[64];
    snprintf(msg, sizeof msg, "%s changed size during snapshot", what);
    return fail_at(w, PyExc_RuntimeError, msg);
}

/* The shape that reads a value whole (a full snapshot). */
static const FwcShape WHOLE = { .whole = 1 };

static int shaped_value(Walk *w, PyObject *o, const FwcShape *s, FwcValue *out);

/* Every item, each as `elems` reads it (WHOLE for a full snapshot); None for items
 * nobody reads (elems NULL: the length is all that is seen). */
static int list_value(Walk *w, PyObject *seq, const FwcShape *elems, FwcValue *out)
{
    if (enter(w, seq) < 0) return -1;
    int is_list = PyList_Check(seq);
    Py_ssize_t n = is_list ? PyList_GET_SIZE(seq) : PyTuple_GET_SIZE(seq);
    if ((size_t)n > FWC_MAX_LEN) return fail_at(w, PyExc_ValueError, "list too long");
    FwcValue *items = n ? fwc_arena_alloc(w->arena, sizeof(FwcValue) * (size_t)n) : NULL;
    if (n && !items) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!elems) {
            items[i] = fwc_null();
            continue;
        }
        path_index(w, i);
        PyObject *item = Py_NewRef(is_list ? PyList_GET_ITEM(seq, i) : PyTuple_GET_ITEM(seq, i));
        int r = shaped_value(w, item, elems, &items[i]);
        Py_DECREF(item);
        if (r < 0) return -1;
        /* str() of an element may run arbitrary code that mutates the list */
        if (is_list && PyList_GET_SIZE(seq) != n) return changed_size(w, "list");
    }
    leave(w);
    out->type = FWC_T_LIST;
    out->len = (uint32_t)n;
    out->u.items = items;
    return 0;
}

static int key_value(Walk *w, PyObject *key, FwcValue *out)
{
    if (PyUnicode_Check(key)) return unicode_value(w, key, out);
    if (key == Py_None) {
        *out = fwc_null();
        return 0;
    }
    if (PyBool_Check(key)) {
        out->type = FWC_T_BOOL;
        out->u.i = key == Py_True;
        return 0;
    }
    if (PyLong_Check(key)) return int_value(w, key, out);
    if (PyFloat_Check(key)) {
        out->type = FWC_T_FLOAT;
        out->u.f = PyFloat_AS_DOUBLE(key);
        return 0;
    }
    PyObject *path = path_text(w);
    if (path) {
        PyErr_Format(PyExc_TypeError,
                     "keys must be str, int, float, bool or None, not %.100s at %U",
                     Py_TYPE(key)->tp_name, path);
        Py_DECREF(path);
    }
    return -1;
}

static int pair_value(Walk *w, PyObject *key, PyObject *value, FwcPair *pair)
{
    path_key(w, key);
    if (key_value(w, key, &pair->key) < 0) return -1;
    return convert(w, value, &pair->value);
}

/* Exact dicts are walked directly; subclasses and other Mappings through items(), as
 * json does, so an overridden items() is respected. */
static int dict_value(Walk *w, PyObject *map, FwcValue *out)
{
    if (enter(w, map) < 0) return -1;
    PyObject *items = NULL;
    Py_ssize_t n;
    if (PyDict_CheckExact(map)) {
        n = PyDict_GET_SIZE(map);
    } else {
        items = PyMapping_Items(map);
        if (!items) return annotate(w);
        n = PyList_GET_SIZE(items);
    }
    if ((size_t)n > FWC_MAX_LEN) {
        Py_XDECREF(items);
        return fail_at(w, PyExc_ValueError, "dict too large");
    }
    FwcPair *pairs = n ? fwc_arena_alloc(w->arena, sizeof(FwcPair) * (size_t)n) : NULL;
    if (n && !pairs) {
        Py_XDECREF(items);
        PyErr_NoMemory();
        return -1;
    }
    if (items) {
        /* items() may return a list its owner keeps, which a value's __str__ can then
         * shrink or clear: each pair is held while it is converted, the size re-checked */
        int r = 0;
        for (Py_ssize_t i = 0; r == 0 && i < n; i++) {
            PyObject *kv = Py_NewRef(PyList_GET_ITEM(items, i));
            if (!PyTuple_Check(kv) || PyTuple_GET_SIZE(kv) != 2)
                r = fail_at(w, PyExc_TypeError, "items() must yield (key, value) pairs");
            else r = pair_value(w, PyTuple_GET_ITEM(kv, 0), PyTuple_GET_ITEM(kv, 1), &pairs[i]);
            Py_DECREF(kv);
            if (r == 0 && PyList_GET_SIZE(items) != n) r = changed_size(w, "dictionary");
        }
        Py_DECREF(items);
        if (r < 0) return -1;
    } else {
        Py_ssize_t pos = 0, i = 0;
        PyObject *key, *value;
        while (PyDict_Next(map, &pos, &key, &value)) {
            if (i >= n || PyDict_GET_SIZE(map) != n) return changed_size(w, "dictionary");
            Py_INCREF(key);
            Py_INCREF(value);
            int r = pair_value(w, key, value, &pairs[i++]);
            Py_DECREF(key);
            Py_DECREF(value);
            if (r < 0) return -1;
        }
        if (i != n || PyDict_GET_SIZE(map) != n) return changed_size(w, "dictionary");
    }
    leave(w);
    out->type = FWC_T_DICT;
    out->len = (uint32_t)n;
    out->u.pairs = pairs;
    return 0;
}

/* One value; the order of checks is json's encoder's. */
static int convert(Walk *w, PyObject *o, FwcValue *out)
{
    out->ascii = 1;
    out->len = 0;
    if (o == Py_None) {
        out->type = FWC_T_NULL;
        return 0;
    }
    if (o == Py_True || o == Py_False) {
        out->type = FWC_T_BOOL;
        out->u.i = o == Py_True;
        return 0;
    }
    if (PyUnicode_Check(o)) return unicode_value(w, o, out);
    if (PyLong_Check(o)) return int_value(w, o, out);
    if (PyFloat_Check(o)) {
        out->type = FWC_T_FLOAT;
        out->u.f = PyFloat_AS_DOUBLE(o);
        return 0;
    }
    if (PyList_Check(o) || PyTuple_Check(o)) return list_value(w, o, &WHOLE, out);
    if (PyDict_Check(o)) return dict_value(w, o, out);
    int handled = 0;
    if (date_value(w, o, out, &handled) < 0) return -1;
    return handled ? 0 : stringified(w, o, out);
}

/* ---------- public ---------- */

static FwcSnapshot *snapshot_new(void)
{
    FwcSnapshot *s = fwc_snapshot_new();
    if (!s) PyErr_NoMemory();
    return s;
}

static int shaped_dict(Walk *w, PyObject *d, const FwcShape *s, FwcValue *out);

/* One walk into a new snapshot: of a document (a dict; only what `shape` reads when
 * given) or of any value. */
static FwcSnapshot *walk_root(PyObject *obj, int as_document, const FwcShape *shape)
{
    FwcSnapshot *s = snapshot_new();
    if (!s) return NULL;
    Walk *w = PyMem_Malloc(sizeof *w);
    if (!w) {
        free(s);
        PyErr_NoMemory();
        return NULL;
    }
    w->arena = &s->arena;
    w->depth = 0;
    w->open[0] = NULL;
    int r = !as_document ? convert(w, obj, &s->root)
            : shape      ? shaped_dict(w, obj, shape, &s->root)
                         : dict_value(w, obj, &s->root);
    unwind(w);
    PyMem_Free(w);
    if (r < 0) {
        fwc_snapshot_decref(s);
        return NULL;
    }
    return s;
}

FwcSnapshot *fwc_snapshot_value(PyObject *obj) { return walk_root(obj, 0, NULL); }

/* A dict whose items() and [] are dict's own (frappe._dict, OrderedDict...), so that
 * looking keys up directly sees what a full walk would. */
static int plain_dict(PyObject *o)
{
    if (PyDict_CheckExact(o)) return 1;
    if (!PyDict_Check(o) ||
        Py_TYPE(o)->tp_as_mapping->mp_subscript != PyDict_Type.tp_as_mapping->mp_subscript)
        return 0;
    PyObject *mine = PyObject_GetAttrString((PyObject *)Py_TYPE(o), "items");
    PyObject *dicts = mine ? PyObject_GetAttrString((PyObject *)&PyDict_Type, "items") : NULL;
    int same = mine && dicts && mine == dicts;
    Py_XDECREF(mine);
    Py_XDECREF(dicts);
    PyErr_Clear();
    return same;
}

/* ---------- shaped: only what a request reads (see FwcShape) ---------- */

/* The keys s names, those the dict has, in s's order. */
static int shaped_dict(Walk *w, PyObject *d, const FwcShape *s, FwcValue *out)
{
    if (enter(w, d) < 0) return -1;
    FwcPair *pairs = s->nkeys ? fwc_arena_alloc(w->arena, sizeof(FwcPair) * s->nkeys) : NULL;
    if (s->nkeys && !pairs) {
        PyErr_NoMemory();
        return -1;
    }
    uint32_t m = 0;
    /* a value's __str__ may mutate d: a missing key must mean missing in the document */
    Py_ssize_t size = PyDict_GET_SIZE(d);
    for (size_t i = 0; i < s->nkeys; i++) {
        PyObject *key = (PyObject *)s->keys[i].key;
        path_key(w, key);
        /* a colliding key's __eq__ is user code */
        PyObject *value = PyDict_GetItemWithError(d, key);
        if (!value) {
            if (PyErr_Occurred()) return annotate(w);
            continue; /* missing here and in the whole document alike */
        }
        Py_INCREF(value);
        int r = key_value(w, key, &pairs[m].key) < 0
                    ? -1
                    : shaped_value(w, value, s->keys[i].sub, &pairs[m].value);
        Py_DECREF(value);
        if (r < 0) return -1;
        m++;
        if (PyDict_GET_SIZE(d) != size) return changed_size(w, "dictionary");
    }
    leave(w);
    *out = (FwcValue){ .type = FWC_T_DICT, .ascii = 1, .len = m, .u.pairs = pairs };
    return 0;
}

static int shaped_value(Walk *w, PyObject *o, const FwcShape *s, FwcValue *out)
{
    if (!s->whole) {
        if (PyDict_CheckExact(o) && !s->dict_whole) return shaped_dict(w, o, s, out);
        if (PyList_CheckExact(o) || PyTuple_CheckExact(o)) return list_value(w, o, s->elems, out);
    }
    return convert(w, o, out);
}

FwcSnapshot *fwc_snapshot_take_shaped(PyObject *doc, const FwcShape *shape)
{
    if (shape->whole || shape->dict_whole || !plain_dict(doc)) return fwc_snapshot_take(doc);
    return walk_root(doc, 1, shape);
}

FwcSnapshot *fwc_snapshot_take(PyObject *doc)
{
    if (PyDict_Check(doc)) return walk_root(doc, 1, NULL);
    int is_mapping = PyObject_IsInstance(doc, mapping_abc);
    if (is_mapping < 0) return NULL;
    if (is_mapping) return walk_root(doc, 1, NULL);
    PyObject *as_dict = PyObject_GetAttrString(doc, "as_dict");
    if (!as_dict) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return NULL;
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "document must be a dict, a Mapping or have as_dict(), not %.100s",
                     Py_TYPE(doc)->tp_name);
        return NULL;
    }
    /* as Frappe's webhook does: doc.as_dict(convert_dates_to_str=True) */
    PyObject *kw = Py_BuildValue("{s:O}", "convert_dates_to_str", Py_True), *empty = PyTuple_New(0);
    PyObject *d = kw && empty ? PyObject_Call(as_dict, empty, kw) : NULL;
    Py_XDECREF(kw);
    Py_XDECREF(empty);
    Py_DECREF(as_dict);
    if (!d) {
        reraise_at(root_path, NULL);
        return NULL;
    }
    FwcSnapshot *s = NULL;
    is_mapping = PyDict_Check(d) ? 1 : PyObject_IsInstance(d, mapping_abc);
    if (is_mapping > 0) s = walk_root(d, 1, NULL);
    else if (is_mapping == 0)
        PyErr_Format(PyExc_TypeError, "as_dict() must return a dict or Mapping, not %.100s",
                     Py_TYPE(d)->tp_name);
    Py_DECREF(d);
    return s;
}

/* ---------- shapes: the interned str of each key, for lookups ---------- */

int fwc_shape_bind(FwcShape *s)
{
    if (!s) return 0;
    for (size_t i = 0; i < s->nkeys; i++) {
        FwcShapeKey *k = &s->keys[i];
        if (!k->key) {
            PyObject *key = PyUnicode_DecodeUTF8(k->name, (Py_ssize_t)k->len, "surrogatepass");
            if (!key) return -1;
            PyUnicode_InternInPlace(&key);
            k->key = key;
        }
        if (fwc_shape_bind(k->sub) < 0) return -1;
    }
    return fwc_shape_bind(s->elems);
}

static void shape_unbind(FwcShape *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nkeys; i++) {
        Py_XDECREF((PyObject *)s->keys[i].key);
        s->keys[i].key = NULL;
        shape_unbind(s->keys[i].sub);
    }
    shape_unbind(s->elems);
}

void fwc_shape_release(FwcShape *s)
{
    shape_unbind(s);
    fwc_shape_free(s);
}
