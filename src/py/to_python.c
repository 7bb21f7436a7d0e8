/* to_python.c — a value tree back to Python objects (GIL held): Request.data, the
 * results of conditions and templates evaluated for Python callers. */
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
    case FWC_T_NULL:
        Py_RETURN_NONE;
    case FWC_T_BOOL:
        return PyBool_FromLong((long)v->u.i);
    case FWC_T_INT:
        return PyLong_FromLongLong(v->u.i);
    case FWC_T_BIGINT:
        return PyLong_FromString(v->u.s, NULL, 10);
    case FWC_T_FLOAT:
        return PyFloat_FromDouble(v->u.f);
    case FWC_T_STR:
        return str_to_python(v);
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
        return PyObject_CallFunction((PyObject *)&PyRange_Type, "LLL", start, start + (long long)v->len * step, step);
    }
    }
    PyErr_SetString(PyExc_SystemError, "corrupt value tree");
    return NULL;
}
