/* dispatch.c — dispatch(hook, doc): snapshot with the GIL, then build and send on this
 * thread's own libcurl handle with the GIL released; and the test entry points of the SSRF
 * address classifier. */
#include "py/py.h"
#include <arpa/inet.h>

/* ---------- dispatch ---------- */

PyObject *fwc_dispatch(FwcModuleState *st, PyObject *hook, PyObject *doc)
{
    FwcHookSpec *spec = fwc_webhook_get_spec(st, hook);
    if (!spec) return NULL;
    FwcSnapshot *snap = fwc_webhook_snapshot(hook, doc); /* only what the request reads */
    if (!snap) return NULL;
    char msg_id[32] = "";
    long long now = 0;
    if (spec->signatures & FWC_SIG_STANDARD) {
        fwc_new_msg_id(msg_id);
        now = (long long)time(NULL);
    }
    FwcBuilt built;
    FwcResult res;
    FwcError err;
    FwcStatus status;
    fwc_spec_incref(spec);
    /* from here until the response is in, no GIL and no PyObject */
    Py_BEGIN_ALLOW_THREADS status = fwc_request_build(spec, snap, msg_id, now, &built, &err);
    fwc_snapshot_decref(snap);
    if (!status) {
        status = fwc_http_send(spec, &built, &res, &err);
        if (status) fwc_built_release(&built);
    }
    fwc_spec_decref(spec);
    Py_END_ALLOW_THREADS if (status) return fwc_raise(st, &err);
    PyObject *request = fwc_request_new(st, &built);
    if (!request) {
        fwc_result_free(&res);
        return NULL;
    }
    return fwc_response_new(st, &res, request);
}

/* dispatch(hook, doc) -> Response */
PyObject *fwc_py_dispatch(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "dispatch() takes 2 arguments (hook, doc), %zd given",
                            nargs);
    return fwc_dispatch(fwc_state_of_module(module), args[0], args[1]);
}

/* ---------- test entry points for the SSRF address classifier ---------- */

static int parse_addr(PyObject *addr, int *family, uint8_t out[16])
{
    const char *text = PyUnicode_Check(addr) ? PyUnicode_AsUTF8(addr) : NULL;
    if (!text) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "address must be str, not %.100s",
                         Py_TYPE(addr)->tp_name);
        return -1;
    }
    if (inet_pton(AF_INET, text, out) == 1) *family = 4;
    else if (inet_pton(AF_INET6, text, out) == 1) *family = 6;
    else {
        PyErr_Format(PyExc_ValueError, "%R is not an IP address", addr);
        return -1;
    }
    return 0;
}

/* _classify_address("169.254.169.254") -> "link-local address", or None when public */
PyObject *fwc_py_classify_address(PyObject *module, PyObject *addr)
{
    int family;
    uint8_t a[16];
    if (parse_addr(addr, &family, a) < 0) return NULL;
    const char *why = fwc_addr_class(family, a);
    return why ? PyUnicode_FromString(why) : Py_NewRef(Py_None);
}

/* _address_refusal(hook, "10.1.2.3") -> the refusal text, or None when hook may connect */
PyObject *fwc_py_address_refusal(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError,
                            "_address_refusal() takes 2 arguments (hook, address)");
    FwcHookSpec *spec = fwc_webhook_get_spec(fwc_state_of_module(module), args[0]);
    if (!spec) return NULL;
    int family;
    uint8_t a[16];
    if (parse_addr(args[1], &family, a) < 0) return NULL;
    char msg[256];
    if (fwc_addr_check(spec, family, a, msg, sizeof msg) == 0) Py_RETURN_NONE;
    return PyUnicode_FromString(msg);
}
