/* to_python.c — a value tree back to Python objects (GIL held): Request.data, the
 * results of conditions and templates evaluated for Python callers, a response's header
 * lines (Response.headers, Delivery.response_headers). */
#include "py/py.h"

static PyObject *str_to_python(const FwcValue *v)
{
    if (v->ascii) return PyUnicode_DecodeASCII(v->u.s, v->len, NULL);
    /* surrogatepass: lone surrogates were stored in their 3-byte form */
    return PyUnicode_DecodeUTF8(v->u.s, v->len, "surrogatepass");
}

PyObject *fwc_value_to_python(const FwcValue *v)
{
    switch ((FwcType)v->type) {
    case FWC_T_NULL: Py_RETURN_NONE;
    case FWC_T_BOOL: return PyBool_FromLong((long)v->u.i);
    case FWC_T_INT: return PyLong_FromLongLong(v->u.i);
    case FWC_T_BIGINT: return PyLong_FromString(v->u.s, NULL, 10);
    case FWC_T_FLOAT: return PyFloat_FromDouble(v->u.f);
    case FWC_T_STR: return str_to_python(v);
    case FWC_T_LIST: {
        PyObject *list = PyList_New(v->len);
        if (!list) return NULL;
        for (uint32_t i = 0; i < v->len; i++) {
            PyObject *item = fwc_value_to_python(&v->u.items[i]);
            if (!item) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, i, item);
        }
        return list;
    }
    case FWC_T_DICT: {
        PyObject *dict = PyDict_New();
        if (!dict) return NULL;
        for (uint32_t i = 0; i < v->len; i++) {
            PyObject *key = fwc_value_to_python(&v->u.pairs[i].key);
            PyObject *val = key ? fwc_value_to_python(&v->u.pairs[i].value) : NULL;
            if (!val || PyDict_SetItem(dict, key, val) < 0) {
                Py_XDECREF(key);
                Py_XDECREF(val);
                Py_DECREF(dict);
                return NULL;
            }
            Py_DECREF(key);
            Py_DECREF(val);
        }
        return dict;
    }
    /* expression-engine results */
    case FWC_T_TUPLE:
    case FWC_T_SET: {
        FwcValue as_list = *v;
        as_list.type = FWC_T_LIST;
        PyObject *list = fwc_value_to_python(&as_list), *res;
        if (!list) return NULL;
        res = v->type == FWC_T_TUPLE ? PyList_AsTuple(list) : PySet_New(list);
        Py_DECREF(list);
        return res;
    }
    case FWC_T_RANGE: {
        long long start = v->len ? v->u.range[0] : 0, step = v->len ? v->u.range[1] : 1;
        return PyObject_CallFunction((PyObject *)&PyRange_Type, "LLL", start,
                                     start + (long long)v->len * step, step);
    }
    }
    PyErr_SetString(PyExc_SystemError, "corrupt value tree");
    return NULL;
}

/* Raw header lines -> [(name, value), ...] (see py.h). */
PyObject *fwc_header_list(const FwcBuf *raw, int unfold)
{
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    const char *p = raw->data, *end = raw->data + raw->len;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *line_end = eol ? eol : end;
        if (line_end > p && line_end[-1] == '\r') line_end--;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (unfold && (*p == ' ' || *p == '\t') && PyList_GET_SIZE(list)) {
            /* obsolete line folding */
            Py_ssize_t last = PyList_GET_SIZE(list) - 1;
            PyObject *prev = PyList_GET_ITEM(list, last);
            const char *s = p;
            while (s < line_end && (*s == ' ' || *s == '\t')) s++;
            PyObject *more = PyUnicode_DecodeLatin1(s, line_end - s, NULL);
            PyObject *joined =
                more ? PyUnicode_FromFormat("%U %U", PyTuple_GET_ITEM(prev, 1), more) : NULL;
            Py_XDECREF(more);
            PyObject *t = joined ? PyTuple_Pack(2, PyTuple_GET_ITEM(prev, 0), joined) : NULL;
            Py_XDECREF(joined);
            if (!t) goto error;
            PyList_SetItem(list, last, t);
        } else if (colon) {
            const char *v = colon + 1, *ve = line_end;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            PyObject *name = PyUnicode_DecodeLatin1(p, colon - p, NULL);
            PyObject *value = name ? PyUnicode_DecodeLatin1(v, ve - v, NULL) : NULL;
            PyObject *t = value ? PyTuple_Pack(2, name, value) : NULL;
            Py_XDECREF(name);
            Py_XDECREF(value);
            if (!t || PyList_Append(list, t) < 0) {
                Py_XDECREF(t);
                goto error;
            }
            Py_DECREF(t);
        }
        p = next;
    }
    return list;
error:
    Py_DECREF(list);
    return NULL;
}
