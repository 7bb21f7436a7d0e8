/* state.c — the module state every Python-facing file reaches its types and exceptions
 * through, and fwc_raise: the one map from a GIL-free FwcError to a Python exception. */
#include "py/py.h"

FwcModuleState *fwc_state_of_module(PyObject *m) { return (FwcModuleState *)PyModule_GetState(m); }

#if PY_VERSION_HEX < 0x030B0000
/* PyType_GetModuleByDef arrived in 3.11: the same walk over the MRO for the first heap
 * type defined by this module (a Python subclass of Webhook is not, its base is). */
static PyObject *PyType_GetModuleByDef(PyTypeObject *tp, PyModuleDef *def)
{
    PyObject *mro = tp->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *t = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE)) continue;
        PyObject *m = ((PyHeapTypeObject *)t)->ht_module;
        if (m && PyModule_GetDef(m) == def) return m;
    }
    PyErr_Format(PyExc_TypeError,
                 "PyType_GetModuleByDef: no superclass of '%s' has the given module", tp->tp_name);
    return NULL;
}
#endif

static PyModuleDef *module_def; /* module.c's, set before the module is created */

void fwc_state_init(PyModuleDef *def) { module_def = def; }

FwcModuleState *fwc_state_of_type(PyTypeObject *tp)
{
    PyObject *m = PyType_GetModuleByDef(tp, module_def);
    return m ? fwc_state_of_module(m) : NULL;
}

PyObject *fwc_raise(FwcModuleState *st, const FwcError *err)
{
    PyObject *exc;
    switch (err->code) {
    case FWC_ENOMEM: return PyErr_NoMemory();
    case FWC_ETYPE: exc = PyExc_TypeError; break;
    case FWC_ECONDITION: exc = st->ConditionError; break;
    case FWC_ETEMPLATE: exc = st->TemplateError; break;
    case FWC_ERUNTIME: exc = PyExc_RuntimeError; break;
    case FWC_ESTORE: exc = st->StoreError; break;
    default: exc = PyExc_ValueError; break;
    }
    /* The message may quote a document's string: lone surrogates are kept as their
     * surrogatepass bytes (fwc.h), and a truncated message may end inside a character;
     * neither may turn into a UnicodeDecodeError instead of the error itself. */
    size_t n = strnlen(err->message, sizeof err->message);
    PyObject *text = PyUnicode_DecodeUTF8(err->message, (Py_ssize_t)n, "surrogatepass");
    if (!text) {
        PyErr_Clear();
        text = PyUnicode_DecodeUTF8(err->message, (Py_ssize_t)n, "replace");
    }
    if (!text) return NULL;
    PyErr_SetObject(exc, text);
    Py_DECREF(text);
    return NULL;
}
