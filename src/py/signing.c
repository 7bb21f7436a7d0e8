/* signing.c — sign() and verify() for Python callers: argument checks, then the signer
 * and verifier of request/sign.c. */
#include "py/py.h"
#include <openssl/crypto.h>

#define BIG_BODY (64 * 1024) /* below this, releasing the GIL costs more than it saves */

/* ---------- Python-facing helpers (GIL held) ---------- */

/* Bytes of a str (UTF-8) or bytes-like argument, borrowed from `obj` or from `owned`. */
typedef struct {
    Py_buffer view;
    int has_view;
    PyObject *owned; /* contiguous copy of a non-contiguous buffer */
    const char *p;
    size_t n;
} ArgBytes;

static void arg_bytes_release(ArgBytes *b)
{
    if (b->has_view) PyBuffer_Release(&b->view);
    b->has_view = 0;
    Py_CLEAR(b->owned);
}

static int arg_bytes(PyObject *obj, const char *what, ArgBytes *b)
{
    Py_ssize_t n;
    if (PyUnicode_Check(obj)) {
        if (!(b->p = PyUnicode_AsUTF8AndSize(obj, &n))) {
            if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError,
                             "%s: str cannot be encoded as UTF-8 (lone surrogate)", what);
            }
            return -1;
        }
        b->n = (size_t)n;
        return 0;
    }
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be str or bytes-like, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyObject_GetBuffer(obj, &b->view, PyBUF_SIMPLE) == 0) {
        b->has_view = 1;
        b->p = b->view.buf;
        b->n = (size_t)b->view.len;
        return 0;
    }
    /* a non-contiguous memoryview refuses PyBUF_SIMPLE; bytes() makes it contiguous */
    if (!PyErr_ExceptionMatches(PyExc_BufferError)) return -1;
    PyErr_Clear();
    if (!(b->owned = PyBytes_FromObject(obj))) return -1;
    b->p = PyBytes_AS_STRING(b->owned);
    b->n = (size_t)PyBytes_GET_SIZE(b->owned);
    return 0;
}

static int arg_scheme(PyObject *obj, FwcSigScheme *out)
{
    if (!obj) return 0; /* default "frappe" */
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "scheme must be str, not %.100s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyUnicode_CompareWithASCIIString(obj, "frappe") == 0) *out = FWC_SIG_FRAPPE;
    else if (PyUnicode_CompareWithASCIIString(obj, "standard") == 0) *out = FWC_SIG_STANDARD;
    else if (PyUnicode_CompareWithASCIIString(obj, "github") == 0) *out = FWC_SIG_GITHUB;
    else {
        PyErr_Format(PyExc_ValueError,
                     "unknown signature scheme %R (expected 'frappe', 'standard' or 'github')",
                     obj);
        return -1;
    }
    return 0;
}

/* A non-negative integer argument (anything with __index__, but not bool).  Values past
 * LLONG_MAX give `big` when it is >= 0, else ValueError. */
static int arg_nonneg_int(PyObject *obj, const char *what, long long big, long long *out)
{
    PyObject *idx;
    long long v;
    int overflow = 0;

    if (PyBool_Check(obj) || !PyIndex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be int, not %.100s", what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (!(idx = PyNumber_Index(obj))) return -1;
    v = PyLong_AsLongLongAndOverflow(idx, &overflow);
    Py_DECREF(idx);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow > 0 && big >= 0) v = big;
    else if (overflow || v < 0) {
        PyErr_Format(PyExc_ValueError, "%s must be a non-negative int that fits in 64 bits", what);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---------- sign() ---------- */

PyObject *fwc_py_sign(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "secret", "body", "scheme", "msg_id", "timestamp", NULL };
    PyObject *secret_o, *body_o, *scheme_o = NULL, *msg_id_o = Py_None, *ts_o = Py_None;
    PyObject *result = NULL, *value = NULL;
    ArgBytes secret = { 0 }, body = { 0 };
    FwcSigScheme scheme = FWC_SIG_FRAPPE;
    FwcSigHeader hdr[3];
    FwcError err = { 0 };
    const char *msg_id = NULL;
    long long timestamp = -1;
    int n;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O$OO:sign", kwlist, &secret_o, &body_o,
                                     &scheme_o, &msg_id_o, &ts_o))
        return NULL;
    if (arg_scheme(scheme_o, &scheme) < 0) goto error;
    if (arg_bytes(secret_o, "secret", &secret) < 0) goto error;
    if (arg_bytes(body_o, "body", &body) < 0) goto error;
    /* msg_id and timestamp only matter for "standard", but a wrong type is always a bug */
    if (msg_id_o != Py_None) {
        Py_ssize_t len;
        if (!PyUnicode_Check(msg_id_o)) {
            PyErr_Format(PyExc_TypeError, "msg_id must be str or None, not %.100s",
                         Py_TYPE(msg_id_o)->tp_name);
            goto error;
        }
        /* checked here whatever the scheme, so a bad id fails the same way everywhere */
        if (!(msg_id = PyUnicode_AsUTF8AndSize(msg_id_o, &len))) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) goto error;
            PyErr_Clear();
        }
        if (!msg_id || !fwc_sign_msg_id_valid(msg_id, (size_t)len)) {
            PyErr_Format(PyExc_ValueError,
                         "msg_id must be 1 to %d printable ASCII characters without spaces",
                         FWC_SIG_MSG_ID_MAX);
            goto error;
        }
    }
    if (ts_o != Py_None && arg_nonneg_int(ts_o, "timestamp", -1, &timestamp) < 0) goto error;

    if (body.n > BIG_BODY) {
        Py_BEGIN_ALLOW_THREADS n =
            fwc_sign(scheme, secret.p, secret.n, body.p, body.n, msg_id, timestamp, hdr, &err);
        Py_END_ALLOW_THREADS
    } else {
        n = fwc_sign(scheme, secret.p, secret.n, body.p, body.n, msg_id, timestamp, hdr, &err);
    }
    if (n < 0) {
        fwc_raise(fwc_state_of_module(module), &err);
        goto error;
    }

    if (!(result = PyDict_New())) goto error;
    for (int i = 0; i < n; i++) {
        if (!(value = PyUnicode_FromString(hdr[i].value))) goto error;
        if (PyDict_SetItemString(result, hdr[i].name, value) < 0) goto error;
        Py_CLEAR(value);
    }
    arg_bytes_release(&secret);
    arg_bytes_release(&body);
    return result;
error:
    Py_XDECREF(value);
    Py_XDECREF(result);
    arg_bytes_release(&secret);
    arg_bytes_release(&body);
    return NULL;
}

/* ---------- verify() ---------- */

/* Case-insensitive comparison of a header-name key (str or bytes) with an ASCII name. */
static int name_matches(PyObject *key, const char *name)
{
    size_t n = strlen(name);
    if (PyUnicode_Check(key)) {
        int kind = PyUnicode_KIND(key);
        const void *data = PyUnicode_DATA(key);
        if ((size_t)PyUnicode_GET_LENGTH(key) != n) return 0;
        for (size_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, (Py_ssize_t)i);
            if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
            if (c != (Py_UCS4)(unsigned char)name[i]) return 0;
        }
        return 1;
    }
    if (PyBytes_Check(key)) {
        const char *k = PyBytes_AS_STRING(key);
        if ((size_t)PyBytes_GET_SIZE(key) != n) return 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)k[i];
            if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
            if (c != (unsigned char)name[i]) return 0;
        }
        return 1;
    }
    return 0;
}

/* Records one (key, value) pair against the wanted names (lowercase). */
static void match_header(PyObject *key, PyObject *value, const char *const *names, int nnames,
                         PyObject **found, int *dup)
{
    for (int i = 0; i < nnames; i++) {
        if (!name_matches(key, names[i])) continue;
        /* two spellings of one header: which one was signed is anyone's guess */
        if (found[i]) *dup = 1;
        else {
            Py_INCREF(value);
            found[i] = value;
        }
        return;
    }
}

/* Looks up names case-insensitively in a Mapping (anything with items()).  found[i] gets
 * a new reference to the value, or stays NULL.  The references keep the values alive
 * while the GIL is released, whatever happens to the mapping meanwhile. */
static int find_headers(PyObject *headers, const char *const *names, int nnames, PyObject **found,
                        int *dup)
{
    PyObject *meth = NULL, *items = NULL, *seq = NULL;

    if (PyDict_Check(headers)) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        /* name_matches runs no Python code, so the dict cannot change under PyDict_Next */
        while (PyDict_Next(headers, &pos, &key, &value))
            match_header(key, value, names, nnames, found, dup);
        return 0;
    }
    if (!(meth = PyObject_GetAttrString(headers, "items"))) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "headers must be a mapping, not %.100s",
                         Py_TYPE(headers)->tp_name);
        }
        goto error;
    }
    if (!(items = PyObject_CallNoArgs(meth))) goto error;
    if (!(seq = PySequence_Fast(items, "headers.items() must return an iterable"))) goto error;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_TypeError, "headers.items() must yield (name, value) pairs");
            goto error;
        }
        match_header(PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1), names, nnames, found,
                     dup);
    }
    Py_DECREF(meth);
    Py_DECREF(items);
    Py_DECREF(seq);
    return 0;
error:
    Py_XDECREF(meth);
    Py_XDECREF(items);
    Py_XDECREF(seq);
    return -1;
}

/* Bytes of a header value (str as UTF-8, or bytes), as received: fwc_verify strips the
 * whitespace around it.  1 ok, 0 garbled (wrong type, lone surrogate), -1 exception. */
static int header_value(PyObject *v, const char **p, size_t *n)
{
    Py_ssize_t len;
    const char *s;
    if (PyUnicode_Check(v)) {
        if (!(s = PyUnicode_AsUTF8AndSize(v, &len))) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
            PyErr_Clear();
            return 0;
        }
    } else if (PyBytes_Check(v)) {
        s = PyBytes_AS_STRING(v);
        len = PyBytes_GET_SIZE(v);
    } else {
        return 0;
    }
    *p = s;
    *n = (size_t)len;
    return 1;
}

PyObject *fwc_py_verify(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = { "secret", "body", "headers", "scheme", "tolerance", NULL };
    static const char *const frappe_names[] = { "x-frappe-webhook-signature" };
    static const char *const github_names[] = { "x-hub-signature-256" };
    static const char *const standard_names[] = { "webhook-signature", "webhook-id",
                                                  "webhook-timestamp" };
    PyObject *secret_o, *body_o, *headers_o, *scheme_o = NULL, *tol_o = NULL;
    PyObject *found[3] = { NULL, NULL, NULL };
    ArgBytes secret = { 0 }, body = { 0 };
    FwcSigScheme scheme = FWC_SIG_FRAPPE;
    FwcError err = { 0 };
    FwcStatus rc;
    unsigned char key[FWC_SIG_KEY_MAX];
    size_t keylen = sizeof key;
    const char *const *names;
    const char *sig, *id = NULL, *tsval = NULL;
    size_t sig_len, id_len = 0, ts_len = 0;
    long long tolerance = 300;
    int nnames, dup = 0, ok = 0, r;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|O$O:verify", kwlist, &secret_o, &body_o,
                                     &headers_o, &scheme_o, &tol_o))
        return NULL;
    if (arg_scheme(scheme_o, &scheme) < 0) goto error;
    if (arg_bytes(secret_o, "secret", &secret) < 0) goto error;
    if (arg_bytes(body_o, "body", &body) < 0) goto error;
    if (tol_o && arg_nonneg_int(tol_o, "tolerance", LLONG_MAX, &tolerance) < 0) goto error;
    /* the key first: a bad secret is the caller's error whatever the headers say */
    if (fwc_sign_key(scheme, secret.p, secret.n, key, &keylen, &err) != FWC_OK) {
        fwc_raise(fwc_state_of_module(module), &err);
        goto error;
    }

    if (scheme == FWC_SIG_STANDARD) names = standard_names, nnames = 3;
    else if (scheme == FWC_SIG_GITHUB) names = github_names, nnames = 1;
    else names = frappe_names, nnames = 1;
    if (find_headers(headers_o, names, nnames, found, &dup) < 0) goto error;
    if (dup) goto done;
    for (int i = 0; i < nnames; i++)
        if (!found[i]) goto done;
    if ((r = header_value(found[0], &sig, &sig_len)) <= 0) goto check;
    if (scheme == FWC_SIG_STANDARD) {
        if ((r = header_value(found[1], &id, &id_len)) <= 0) goto check;
        if ((r = header_value(found[2], &tsval, &ts_len)) <= 0) goto check;
    }

    /* found[] holds references, so id/sig stay valid without the GIL */
    if (body.n > BIG_BODY) {
        Py_BEGIN_ALLOW_THREADS rc =
            fwc_verify(scheme, key, keylen, body.p, body.n, sig, sig_len, id, id_len, tsval, ts_len,
                       tolerance, (long long)fwc_wall_now(), &ok, &err);
        Py_END_ALLOW_THREADS
    } else {
        rc = fwc_verify(scheme, key, keylen, body.p, body.n, sig, sig_len, id, id_len, tsval,
                        ts_len, tolerance, (long long)fwc_wall_now(), &ok, &err);
    }
    if (rc != FWC_OK) {
        fwc_raise(fwc_state_of_module(module), &err);
        goto error;
    }
    goto done;

check:
    if (r < 0) goto error;
done:
    OPENSSL_cleanse(key, sizeof key);
    for (int i = 0; i < 3; i++) Py_XDECREF(found[i]);
    arg_bytes_release(&secret);
    arg_bytes_release(&body);
    return PyBool_FromLong(ok);
error:
    OPENSSL_cleanse(key, sizeof key);
    for (int i = 0; i < 3; i++) Py_XDECREF(found[i]);
    arg_bytes_release(&secret);
    arg_bytes_release(&body);
    return NULL;
}
