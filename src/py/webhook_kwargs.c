/* webhook_kwargs.c — Webhook keyword arguments validated (as Frappe's Webhook.validate
 * does, with its messages) and compiled into an immutable FwcHookSpec that threads
 * share without the GIL. */
#include "py/py.h"
#include <ctype.h>
#include <math.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/* timeout's upper bound, seconds (1 day) */
#define FWC_MAX_TIMEOUT 86400

static const char *const DOC_EVENTS[] = {
    "after_insert",           "on_update", "on_submit", "on_cancel", "on_trash",
    "on_update_after_submit", "on_change", NULL,
};

static int invalid(FwcModuleState *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
    va_end(ap);
    if (msg) {
        PyErr_SetObject(st->ValidationError, msg);
        Py_DECREF(msg);
    }
    return -1;
}

/* The UTF-8 of str s (borrowed) and its length; NULL + exception.  Without len_out the
 * text is read as a C string, so a NUL in it is refused: C would silently cut the value
 * there ("127.0.0.1\0/0" would be read as 127.0.0.1/32). */
static const char *utf8_of(FwcModuleState *st, PyObject *s, const char *what, size_t *len_out)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(s)->tp_name);
        return NULL;
    }
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (!u) {
        PyErr_Clear();
        invalid(st, "%s is not valid Unicode (lone surrogate)", what);
        return NULL;
    }
    if (!len_out && strlen(u) != (size_t)n) {
        invalid(st, "%s contains a NUL character: %R", what, s);
        return NULL;
    }
    if (len_out) *len_out = (size_t)n;
    return u;
}

/* malloc'd UTF-8 copy of a str (NUL refused unless len_out takes the length); NULL +
 * exception. */
static char *cstr(FwcModuleState *st, PyObject *s, const char *what, size_t *len_out)
{
    size_t n;
    const char *u = utf8_of(st, s, what, len_out ? &n : NULL);
    if (!u) return NULL;
    if (!len_out) n = strlen(u);
    char *p = malloc((size_t)n + 1);
    if (!p) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(p, u, (size_t)n + 1);
    if (len_out) *len_out = (size_t)n;
    return p;
}

/* float(o) for an int or float option; an int too large for a double is inf, so that
 * it fails the option's range check (ValidationError) rather than raising OverflowError. */
static int number_of(PyObject *o, double *out)
{
    double v = PyFloat_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
        PyErr_Clear();
        v = HUGE_VAL;
    }
    *out = v;
    return 0;
}

/* Optional str argument: NULL/None -> copy of dflt. */
static char *opt_cstr(FwcModuleState *st, PyObject *s, const char *what, const char *dflt)
{
    if (!s || s == Py_None) {
        char *p = strdup(dflt);
        if (!p) PyErr_NoMemory();
        return p;
    }
    return cstr(st, s, what, NULL);
}

static int truthy(PyObject *o, int dflt)
{
    if (!o || o == Py_None) return dflt;
    return PyObject_IsTrue(o);
}

static int lower_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

/* ---------- URL: http(s)://host..., as Frappe's urlparse(url).netloc check ---------- */

static int validate_url(FwcModuleState *st, const char *url)
{
    FwcError err;
    return fwc_url_validate(url, &err) ? invalid(st, "%s", err.message) : 0;
}

/* ---------- child tables ---------- */

/* Row `row` of a child table as (first, second): a Mapping with the two field names,
 * or a 2-sequence.  New references. */
static int row_pair(PyObject *row, const char *f1, const char *f2, PyObject **a, PyObject **b)
{
    if (PyMapping_Check(row) && !PyTuple_Check(row) && !PyList_Check(row)) {
        *a = PyMapping_GetItemString(row, f1);
        if (!*a) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError)) return -1;
            PyErr_Clear();
            *a = Py_NewRef(Py_None);
        }
        *b = PyMapping_GetItemString(row, f2);
        if (!*b) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError)) {
                Py_CLEAR(*a);
                return -1;
            }
            PyErr_Clear();
            *b = Py_NewRef(Py_None);
        }
        return 0;
    }
    if ((PyTuple_Check(row) || PyList_Check(row)) && PySequence_Size(row) == 2) {
        *a = PySequence_GetItem(row, 0);
        *b = *a ? PySequence_GetItem(row, 1) : NULL;
        if (!*b) {
            Py_CLEAR(*a);
            return -1;
        }
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "a row must be a dict with '%s' and '%s' or a 2-tuple, not %.100s", f1, f2,
                 Py_TYPE(row)->tp_name);
    return -1;
}

/* A list of rows, or a dict {first: second}.  New reference to a list of 2-tuples. */
static PyObject *rows_of(PyObject *table, const char *what, const char *f1, const char *f2)
{
    PyObject *rows = PyList_New(0), *seq = NULL;
    if (!rows) return NULL;
    if (PyDict_Check(table)) {
        seq = PyDict_Items(table);
    } else if (PyList_Check(table) || PyTuple_Check(table)) {
        seq = PySequence_List(table);
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be a list of rows or a dict, not %.100s", what,
                     Py_TYPE(table)->tp_name);
        goto error;
    }
    if (!seq) goto error;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(seq); i++) {
        PyObject *a, *b;
        if (row_pair(PyList_GET_ITEM(seq, i), f1, f2, &a, &b) < 0) goto error;
        PyObject *t = PyTuple_Pack(2, a, b);
        Py_DECREF(a);
        Py_DECREF(b);
        if (!t || PyList_Append(rows, t) < 0) {
            Py_XDECREF(t);
            goto error;
        }
        Py_DECREF(t);
    }
    Py_DECREF(seq);
    return rows;
error:
    Py_XDECREF(seq);
    Py_DECREF(rows);
    return NULL;
}

static int is_empty(PyObject *o)
{
    return o == Py_None || (PyUnicode_Check(o) && PyUnicode_GET_LENGTH(o) == 0);
}

/* The body position of row's key, worked out once here so that building a request is
 * linear in the rows (a repeated key keeps its first position).  -1 + exception. */
static int field_slot(PyObject *slots, FwcFieldRow *row, size_t *nkeys)
{
    PyObject *key = PyBytes_FromStringAndSize(row->key, (Py_ssize_t)row->key_len); /* exact bytes */
    if (!key) return -1;
    PyObject *at = PyDict_GetItemWithError(slots, key);
    int r = 0;
    if (at) {
        row->slot = (uint32_t)PyLong_AsSize_t(at);
    } else if (PyErr_Occurred()) {
        r = -1;
    } else {
        PyObject *slot = PyLong_FromSize_t(*nkeys);
        r = slot ? PyDict_SetItem(slots, key, slot) : -1;
        Py_XDECREF(slot);
        row->slot = (uint32_t)*nkeys;
        row->first = 1;
        if (r == 0) ++*nkeys;
    }
    Py_DECREF(key);
    return r;
}

/* Field rows.  Names and keys keep their length (a document key may hold a NUL); the
 * repeated-field check compares the str objects (exact, and hashed: O(n)). */
static int compile_fields(FwcModuleState *st, FwcHookSpec *spec, PyObject *rows)
{
    Py_ssize_t n = PyList_GET_SIZE(rows);
    spec->fields = calloc((size_t)n + 1, sizeof *spec->fields);
    if (!spec->fields) return PyErr_NoMemory(), -1;
    PyObject *seen = PySet_New(NULL), *slots = PyDict_New(); /* fieldnames; key -> slot */
    if (!seen || !slots) {
        Py_XDECREF(seen);
        Py_XDECREF(slots);
        return -1;
    }
    int r = 0;
    for (Py_ssize_t i = 0; r == 0 && i < n; i++) {
        PyObject *f = PyTuple_GET_ITEM(PyList_GET_ITEM(rows, i), 0),
                 *k = PyTuple_GET_ITEM(PyList_GET_ITEM(rows, i), 1);
        if (is_empty(f) || is_empty(k)) {
            r = invalid(st, "Row %zd of webhook_data needs both a fieldname and a key", i + 1);
            break;
        }
        FwcFieldRow *row = &spec->fields[spec->nfields];
        if (!(row->fieldname = cstr(st, f, "webhook_data fieldname", &row->fieldname_len)) ||
            !(row->key = cstr(st, k, "webhook_data key", &row->key_len))) {
            r = -1;
            break;
        }
        spec->nfields++;
        /* an exact str copy: a str subclass's __hash__/__eq__ must not decide this */
        PyObject *name =
            PyUnicode_FromStringAndSize(row->fieldname, (Py_ssize_t)row->fieldname_len);
        int dup = name ? PySet_Contains(seen, name) : -1;
        if (dup == 0) dup = PySet_Add(seen, name);
        Py_XDECREF(name);
        if (dup < 0) r = -1;
        else if (dup > 0) r = invalid(st, "Same Field is entered more than once");
        if (r == 0 && field_slot(slots, row, &spec->nfield_keys) < 0) r = -1;
    }
    Py_DECREF(seen);
    Py_DECREF(slots);
    return r;
}

/* RFC 9110 token characters */
static int is_tchar(unsigned char c) { return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c)); }

#define HEADER_INJECTION "Header %R contains CR, LF or NUL (header injection)"

/* RFC 9110 field-value: visible characters, obs-text (bytes >= 0x80), SP and HTAB. */
static const char *header_value_problem(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '\r' || c == '\n' || c == 0) return HEADER_INJECTION;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return "Header %R value contains a control character (only tab is allowed in a field "
                   "value, RFC 9110)";
    }
    return NULL;
}

static int compile_headers(FwcModuleState *st, FwcHookSpec *spec, PyObject *rows)
{
    Py_ssize_t n = PyList_GET_SIZE(rows);
    spec->headers = calloc((size_t)n + 1, sizeof *spec->headers);
    if (!spec->headers) return PyErr_NoMemory(), -1;
    PyObject *index = PyDict_New(); /* name -> position, for repeated names */
    if (!index) return -1;
    int r = 0;
    for (Py_ssize_t i = 0; r == 0 && i < n; i++) {
        PyObject *k = PyTuple_GET_ITEM(PyList_GET_ITEM(rows, i), 0),
                 *v = PyTuple_GET_ITEM(PyList_GET_ITEM(rows, i), 1);
        /* Frappe: only rows where both key and value are set */
        if (is_empty(k) || is_empty(v)) continue;
        size_t klen, vlen;
        char *name = cstr(st, k, "header name", &klen),
             *value = name ? cstr(st, v, "header value", &vlen) : NULL;
        if (!value) {
            free(name);
            r = -1;
            break;
        }
        const char *problem = strlen(name) != klen || strpbrk(name, "\r\n")
                                  ? HEADER_INJECTION
                                  : header_value_problem(value, vlen);
        for (size_t j = 0; !problem && j < klen; j++)
            if (!is_tchar((unsigned char)name[j]))
                problem = "Header name %R is not a valid HTTP token";
        /* Frappe builds a dict: a repeated key keeps its first position, last value wins.
         * The name is a token (ASCII, no NUL), so an exact str of it is the dict key. */
        PyObject *key = problem ? NULL : PyUnicode_FromStringAndSize(name, (Py_ssize_t)klen);
        PyObject *at = key ? PyDict_GetItemWithError(index, key) : NULL;
        PyObject *pos = key && !at && !PyErr_Occurred() ? PyLong_FromSize_t(spec->nheaders) : NULL;
        if (problem || (!at && (!pos || PyDict_SetItem(index, key, pos) < 0))) {
            if (problem) invalid(st, problem, k);
            free(name);
            free(value);
            r = -1;
        } else if (at) {
            size_t j = PyLong_AsSize_t(at);
            free(name);
            free(spec->headers[j].value);
            spec->headers[j].value = value;
        } else {
            spec->headers[spec->nheaders].name = name;
            spec->headers[spec->nheaders].value = value;
            spec->nheaders++;
        }
        Py_XDECREF(key);
        Py_XDECREF(pos);
    }
    Py_DECREF(index);
    return r;
}

/* signature="frappe" | "standard" | "github" | a sequence of them */
static int parse_signatures(FwcModuleState *st, PyObject *sig, int *bits)
{
    static const struct {
        const char *name;
        int bit;
    } schemes[] = { { "frappe", FWC_SIG_FRAPPE },
                    { "standard", FWC_SIG_STANDARD },
                    { "github", FWC_SIG_GITHUB } };
    PyObject *seq = PyUnicode_Check(sig) ? PyTuple_Pack(1, sig) : PySequence_Tuple(sig);
    if (!seq) return -1;
    *bits = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(seq); i++) {
        PyObject *s = PyTuple_GET_ITEM(seq, i);
        Py_ssize_t len = 0;
        const char *name = PyUnicode_Check(s) ? PyUnicode_AsUTF8AndSize(s, &len) : NULL;
        if (name && strlen(name) != (size_t)len) name = NULL; /* "frappe\0x" is not "frappe" */
        int bit = 0;
        for (size_t j = 0; name && j < sizeof schemes / sizeof *schemes; j++)
            if (lower_eq(name, schemes[j].name)) bit = schemes[j].bit;
        if (!bit) {
            PyErr_Clear();
            invalid(st, "Unknown signature scheme %R; expected 'frappe', 'standard' or 'github'",
                    s);
            Py_DECREF(seq);
            return -1;
        }
        *bits |= bit;
    }
    Py_DECREF(seq);
    if (!*bits) return invalid(st, "signature must name at least one scheme");
    return 0;
}

/* ---------- the spec ---------- */

/* Keyword arguments, as Frappe's Webhook DocType names them (plus this library's). */
/* clang-format off */
#define HOOK_KEYWORDS(X)                                                                          \
    X(request_url) X(name) X(webhook_doctype) X(webhook_docevent) X(condition) X(enabled)         \
    X(request_method) X(request_structure) X(webhook_json) X(webhook_data) X(webhook_headers)     \
    X(enable_security) X(webhook_secret) X(is_dynamic_url) X(timeout) X(max_retries)              \
    X(background_jobs_queue) X(signature) X(json_style) X(follow_redirects) X(verify_tls)         \
    X(ca_file) X(client_cert) X(client_key) X(allow_private_networks) X(allowed_networks)         \
    X(proxy) X(max_response_bytes) X(retry_schedule) X(retry_jitter) X(json_escape)
/* clang-format on */

typedef struct {
#define FIELD(n) PyObject *n;
    HOOK_KEYWORDS(FIELD)
#undef FIELD
} HookArgs;

static const char *const hook_keyword_names[] = {
#define NAME(n) #n,
    HOOK_KEYWORDS(NAME)
#undef NAME
        NULL
};

const char *const *fwc_hook_keywords(void) { return hook_keyword_names; }

static int unpack_kwargs(PyObject *kwargs, HookArgs *a)
{
    memset(a, 0, sizeof *a);
    PyObject **slots = (PyObject **)a;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (kwargs && PyDict_Next(kwargs, &pos, &key, &value)) {
        size_t i = 0;
        Py_ssize_t len = 0;
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8AndSize(key, &len) : NULL;
        if (k && strlen(k) != (size_t)len) k = NULL;
        while (k && hook_keyword_names[i] && strcmp(hook_keyword_names[i], k) != 0) i++;
        if (!k || !hook_keyword_names[i]) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "Webhook() got an unexpected keyword argument %R", key);
            return -1;
        }
        slots[i] = value;
    }
    return 0;
}

/* Adds attr name -> value to the attrs dict the Python type exposes. */
static int expose(PyObject *attrs, const char *name, PyObject *value)
{
    if (!value) return -1;
    int r = PyDict_SetItemString(attrs, name, value);
    Py_DECREF(value);
    return r;
}

static PyObject *str_or_none(const char *s)
{
    return *s ? PyUnicode_FromString(s) : Py_NewRef(Py_None);
}

/* ---------- transport options (used by http.c) ---------- */

/* An int option in [lo, hi]; None/missing gives dflt.  bool is refused (TypeError). */
static int int_option(FwcModuleState *st, PyObject *o, const char *what, long lo, long hi,
                      long dflt, long *out)
{
    *out = dflt;
    if (!o || o == Py_None) return 0;
    if (!PyLong_Check(o) || PyBool_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    int overflow;
    long v = PyLong_AsLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow || v < lo || v > hi)
        return invalid(st, "%s must be from %ld to %ld, not %R", what, lo, hi, o);
    *out = v;
    return 0;
}

/* A readable file path (str or os.PathLike) -> malloc'd copy in *out; None leaves NULL. */
static int path_option(FwcModuleState *st, PyObject *o, const char *what, char **out,
                       PyObject **shown)
{
    *shown = Py_NewRef(Py_None);
    if (!o || o == Py_None) return 0;
    PyObject *fs = PyOS_FSPath(o);
    if (!fs) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a path (str or os.PathLike), not %.100s", what,
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    if (!PyUnicode_Check(fs)) {
        PyObject *dec =
            PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(fs), PyBytes_GET_SIZE(fs));
        Py_DECREF(fs);
        if (!(fs = dec)) return -1;
    }
    Py_SETREF(*shown, fs);
    size_t len;
    if (!(*out = cstr(st, fs, what, &len))) return -1;
    if (!len) return invalid(st, "%s is empty", what);
    if (strlen(*out) != len) return invalid(st, "%s contains a NUL character", what);
    /* a regular file: /dev/zero, a FIFO or a directory would hang or fail the transfer */
    struct stat sb;
    if (stat(*out, &sb) != 0 || access(*out, R_OK) != 0)
        return invalid(st, "%s %R cannot be read: %s", what, fs, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return invalid(st, "%s %R is not a regular file", what, fs);
    return 0;
}

/* follow_redirects, verify_tls, ca_file, client_cert, client_key, allow_private_networks,
 * allowed_networks, proxy, max_response_bytes: validated into spec and exposed in attrs. */
static int transport_options(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a,
                             PyObject *attrs)
{
    PyObject *ca = NULL, *cert = NULL, *key = NULL, *nets = NULL;
    long v;
    spec->serial = fwc_spec_next_serial();
    if (int_option(st, a->follow_redirects, "follow_redirects", 0, 50, 0, &v) < 0) goto error;
    spec->follow_redirects = (int)v;
    if (int_option(st, a->max_response_bytes, "max_response_bytes", 0, 1L << 30,
                   FWC_DEFAULT_MAX_RESPONSE, &v) < 0)
        goto error;
    spec->max_response_bytes = (size_t)v;
    if ((spec->verify_tls = truthy(a->verify_tls, 1)) < 0) goto error;
    if ((spec->allow_private_networks = truthy(a->allow_private_networks, 0)) < 0) goto error;
    if (path_option(st, a->ca_file, "ca_file", &spec->ca_file, &ca) < 0 ||
        path_option(st, a->client_cert, "client_cert", &spec->client_cert, &cert) < 0 ||
        path_option(st, a->client_key, "client_key", &spec->client_key, &key) < 0)
        goto error;
    if (spec->client_key && !spec->client_cert) {
        invalid(st, "client_key needs client_cert (the certificate that goes with the key)");
        goto error;
    }
    if (a->proxy && a->proxy != Py_None) {
        if (!(spec->proxy = cstr(st, a->proxy, "proxy", NULL))) goto error;
        static const char *const schemes[] = { "http://", "https://", "socks5://", "socks5h://",
                                               NULL };
        int ok = 0;
        for (int i = 0; schemes[i]; i++)
            if (strncasecmp(spec->proxy, schemes[i], strlen(schemes[i])) == 0 &&
                spec->proxy[strlen(schemes[i])] && spec->proxy[strlen(schemes[i])] != '/')
                ok = 1;
        for (const char *p = spec->proxy; ok && *p; p++)
            if ((unsigned char)*p <= ' ' || *p == 0x7f) ok = 0;
        if (!ok) {
            invalid(st,
                    "proxy must be an http://, https://, socks5:// or socks5h:// URL with a host, "
                    "not %R",
                    a->proxy);
            goto error;
        }
    }
    if (!(nets = PyList_New(0))) goto error;
    if (a->allowed_networks && a->allowed_networks != Py_None) {
        PyObject *seq = PyUnicode_Check(a->allowed_networks) || PyBytes_Check(a->allowed_networks)
                            ? NULL
                            : PySequence_Fast(a->allowed_networks, "");
        if (!seq) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         "allowed_networks must be a list of CIDR strings, not %.100s",
                         Py_TYPE(a->allowed_networks)->tp_name);
            goto error;
        }
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        spec->allowed_networks = calloc((size_t)n + 1, sizeof *spec->allowed_networks);
        if (!spec->allowed_networks) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            goto error;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
            if (!PyUnicode_Check(item)) {
                PyErr_Format(PyExc_TypeError, "allowed_networks entries must be str, not %.100s",
                             Py_TYPE(item)->tp_name);
                Py_DECREF(seq);
                goto error;
            }
            const char *text = utf8_of(st, item, "allowed_networks entry", NULL);
            char why[256], canon[64];
            if (!text) {
                Py_DECREF(seq);
                goto error;
            }
            if (fwc_net_parse(text, &spec->allowed_networks[i], why, sizeof why) < 0) {
                invalid(st, "allowed_networks: %s", why);
                Py_DECREF(seq);
                goto error;
            }
            spec->nallowed_networks++;
            fwc_net_format(&spec->allowed_networks[i], canon, sizeof canon);
            PyObject *c = PyUnicode_FromString(canon);
            if (!c || PyList_Append(nets, c) < 0) {
                Py_XDECREF(c);
                Py_DECREF(seq);
                goto error;
            }
            Py_DECREF(c);
        }
        Py_DECREF(seq);
    }
    if (expose(attrs, "follow_redirects", PyLong_FromLong(spec->follow_redirects)) < 0 ||
        expose(attrs, "verify_tls", PyBool_FromLong(spec->verify_tls)) < 0 ||
        expose(attrs, "ca_file", Py_NewRef(ca)) < 0 ||
        expose(attrs, "client_cert", Py_NewRef(cert)) < 0 ||
        expose(attrs, "client_key", Py_NewRef(key)) < 0 ||
        expose(attrs, "allow_private_networks", PyBool_FromLong(spec->allow_private_networks)) <
            0 ||
        expose(attrs, "allowed_networks", PyList_AsTuple(nets)) < 0 ||
        expose(attrs, "proxy",
               spec->proxy ? PyUnicode_FromString(spec->proxy) : Py_NewRef(Py_None)) < 0 ||
        expose(attrs, "max_response_bytes", PyLong_FromSize_t(spec->max_response_bytes)) < 0)
        goto error;
    Py_DECREF(ca);
    Py_DECREF(cert);
    Py_DECREF(key);
    Py_DECREF(nets);
    return 0;
error:
    Py_XDECREF(ca);
    Py_XDECREF(cert);
    Py_XDECREF(key);
    Py_XDECREF(nets);
    return -1;
}

/* ---------- retries (used by the Dispatcher, dispatcher.c) ---------- */

/* Frappe's background retry steps: 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
static const double DEFAULT_RETRY_SCHEDULE[] = { 300, 1800, 7200, 18000, 36000, 36000 };

/* retry_schedule (seconds between attempts; the last step repeats when max_retries is
 * longer) and retry_jitter (fraction of each step, 0..1): validated into spec, exposed
 * as a tuple of floats and a float. */
static int retry_options(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a, PyObject *attrs)
{
    size_t n = sizeof DEFAULT_RETRY_SCHEDULE / sizeof *DEFAULT_RETRY_SCHEDULE;
    PyObject *seq = NULL;
    if (a->retry_schedule && a->retry_schedule != Py_None) {
        if (PyUnicode_Check(a->retry_schedule) || PyBytes_Check(a->retry_schedule) ||
            !(seq = PySequence_Fast(a->retry_schedule, ""))) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         "retry_schedule must be a sequence of seconds, not %.100s",
                         Py_TYPE(a->retry_schedule)->tp_name);
            return -1;
        }
        n = (size_t)PySequence_Fast_GET_SIZE(seq);
        if (n == 0 || n > 100) {
            Py_DECREF(seq);
            return invalid(st, "retry_schedule must have 1 to 100 steps, not %zu", n);
        }
    }
    if (!(spec->retry_schedule = malloc(n * sizeof *spec->retry_schedule))) {
        Py_XDECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    spec->nretry_schedule = n;
    for (size_t i = 0; i < n; i++) {
        if (!seq) {
            spec->retry_schedule[i] = DEFAULT_RETRY_SCHEDULE[i];
            continue;
        }
        PyObject *item = PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)i);
        if ((!PyLong_Check(item) && !PyFloat_Check(item)) || PyBool_Check(item)) {
            PyErr_Format(PyExc_TypeError, "retry_schedule steps must be numbers, not %.100s",
                         Py_TYPE(item)->tp_name);
            Py_DECREF(seq);
            return -1;
        }
        double v;
        if (number_of(item, &v) < 0) {
            Py_DECREF(seq);
            return -1;
        }
        if (!(v >= 0) || !(v <= 30 * 86400.0)) {
            invalid(st, "retry_schedule steps must be from 0 to 2592000 seconds (30 days), not %R",
                    item);
            Py_DECREF(seq);
            return -1;
        }
        spec->retry_schedule[i] = v;
    }
    Py_XDECREF(seq);
    spec->retry_jitter = 0.2;
    if (a->retry_jitter && a->retry_jitter != Py_None) {
        if ((!PyLong_Check(a->retry_jitter) && !PyFloat_Check(a->retry_jitter)) ||
            PyBool_Check(a->retry_jitter)) {
            PyErr_Format(PyExc_TypeError, "retry_jitter must be a number, not %.100s",
                         Py_TYPE(a->retry_jitter)->tp_name);
            return -1;
        }
        if (number_of(a->retry_jitter, &spec->retry_jitter) < 0) return -1;
        if (!(spec->retry_jitter >= 0 && spec->retry_jitter <= 1))
            return invalid(st, "retry_jitter must be a fraction from 0 to 1, not %R",
                           a->retry_jitter);
    }
    PyObject *steps = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; steps && i < n; i++) {
        PyObject *f = PyFloat_FromDouble(spec->retry_schedule[i]);
        if (!f) Py_CLEAR(steps);
        else PyTuple_SET_ITEM(steps, (Py_ssize_t)i, f);
    }
    if (expose(attrs, "retry_schedule", steps) < 0 ||
        expose(attrs, "retry_jitter", PyFloat_FromDouble(spec->retry_jitter)) < 0)
        return -1;
    return 0;
}

/* ---------- the validators, in the order their errors are raised ---------- */

/* request_url (required) and is_dynamic_url: a static URL is checked now, a dynamic one
 * is a template, compiled now and checked again after each rendering. */
static int url_options(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a)
{
    if (!a->request_url || a->request_url == Py_None) {
        PyErr_SetString(PyExc_TypeError,
                        "Webhook() missing required keyword argument 'request_url'");
        return -1;
    }
    if (!(spec->request_url = cstr(st, a->request_url, "request_url", NULL))) return -1;
    if ((spec->is_dynamic_url = truthy(a->is_dynamic_url, 0)) < 0) return -1;
    if (!spec->is_dynamic_url) return validate_url(st, spec->request_url);
    if (!*spec->request_url) return invalid(st, "Check Request URL");
    /* a dynamic URL is rendered per event with the body's context (tmpl_*.c) */
    return fwc_template_compile(st, spec->request_url, &spec->url_tmpl);
}

/* name, webhook_doctype, webhook_docevent (one of Frappe's doc events) and enabled */
static int identity_options(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a)
{
    if (!(spec->name = opt_cstr(st, a->name, "name", ""))) return -1;
    if (!(spec->webhook_doctype = opt_cstr(st, a->webhook_doctype, "webhook_doctype", "")))
        return -1;
    if (!(spec->webhook_docevent = opt_cstr(st, a->webhook_docevent, "webhook_docevent", "")))
        return -1;
    if (*spec->webhook_docevent) {
        size_t i = 0;
        while (DOC_EVENTS[i] && strcmp(DOC_EVENTS[i], spec->webhook_docevent) != 0) i++;
        if (!DOC_EVENTS[i])
            return invalid(
                st,
                "Unknown doc event %R; expected one of after_insert, on_update, on_submit, "
                "on_cancel, on_trash, on_update_after_submit, on_change",
                a->webhook_docevent);
    }
    return (spec->enabled = truthy(a->enabled, 1)) < 0 ? -1 : 0;
}

/* request_method, upper-cased: POST, PUT, DELETE or PATCH */
static int method_option(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a)
{
    if (!(spec->request_method = opt_cstr(st, a->request_method, "request_method", "POST")))
        return -1;
    for (char *p = spec->request_method; *p; p++) *p = (char)toupper((unsigned char)*p);
    if (strcmp(spec->request_method, "POST") && strcmp(spec->request_method, "PUT") &&
        strcmp(spec->request_method, "DELETE") && strcmp(spec->request_method, "PATCH"))
        return invalid(st, "Request Method must be POST, PUT, DELETE or PATCH, not %R",
                       a->request_method);
    return 0;
}

/* request_structure: '', 'Form URL-Encoded' (or 'form') or 'JSON', any case */
static int structure_option(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a)
{
    char *structure = opt_cstr(st, a->request_structure, "request_structure", "");
    if (!structure) return -1;
    int r = 0;
    if (!*structure) spec->structure = FWC_STRUCT_NONE;
    else if (lower_eq(structure, "Form URL-Encoded") || lower_eq(structure, "form"))
        spec->structure = FWC_STRUCT_FORM;
    else if (lower_eq(structure, "JSON")) spec->structure = FWC_STRUCT_JSON;
    else
        r = invalid(st, "Unknown Request Structure %R; expected '', 'Form URL-Encoded' or 'JSON'",
                    a->request_structure);
    free(structure);
    return r;
}

/* webhook_json (a template or a callable) and json_escape; Frappe's validate_request_body:
 * Form drops the template */
static int template_options(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a)
{
    if (a->webhook_json && a->webhook_json != Py_None && spec->structure != FWC_STRUCT_FORM) {
        if (!PyUnicode_Check(a->webhook_json) && PyCallable_Check(a->webhook_json)) {
            /* the slow path: (doc) -> data, with the GIL; attrs keeps the reference */
            if (spec->is_dynamic_url)
                return invalid(st,
                               "a callable webhook_json cannot be combined with is_dynamic_url");
            spec->json_callable = a->webhook_json;
        } else {
            if (!(spec->webhook_json = cstr(st, a->webhook_json, "webhook_json", NULL))) return -1;
            /* Frappe: `elif webhook.webhook_json:` -- an empty template means no template */
            if (!*spec->webhook_json) {
                free(spec->webhook_json);
                spec->webhook_json = NULL;
            } else if (fwc_template_compile(st, spec->webhook_json, &spec->json_tmpl) < 0) {
                return -1;
            }
        }
    }
    return (spec->json_escape = truthy(a->json_escape, 0)) < 0 ? -1 : 0;
}

/* webhook_data, the field rows (JSON drops them): *rows is the normalised table (new
 * reference, also set on error when made) */
static int field_options(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a, PyObject **rows)
{
    if (!(*rows =
              a->webhook_data && a->webhook_data != Py_None && spec->structure != FWC_STRUCT_JSON
                  ? rows_of(a->webhook_data, "webhook_data", "fieldname", "key")
                  : PyList_New(0)))
        return -1;
    return compile_fields(st, spec, *rows);
}

/* webhook_headers, the header rows: *rows as in field_options */
static int header_options(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a, PyObject **rows)
{
    if (!(*rows = a->webhook_headers && a->webhook_headers != Py_None
                      ? rows_of(a->webhook_headers, "webhook_headers", "key", "value")
                      : PyList_New(0)))
        return -1;
    return compile_headers(st, spec, *rows);
}

/* The secret of an enabled security: a str, copied into spec, checked as a "standard"
 * key when that scheme is asked for. */
static int secret_option(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a)
{
    if (!PyUnicode_Check(a->webhook_secret)) {
        PyErr_Format(PyExc_TypeError, "webhook_secret must be str, not %.100s",
                     Py_TYPE(a->webhook_secret)->tp_name);
        return -1;
    }
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(a->webhook_secret, &n);
    if (!u) {
        PyErr_Clear();
        return invalid(st, "Invalid Webhook Secret");
    }
    if (!(spec->secret = malloc((size_t)n + 1))) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(spec->secret, u, (size_t)n + 1);
    spec->secret_len = (size_t)n;
    spec->signatures = FWC_SIG_FRAPPE;
    if (a->signature && a->signature != Py_None &&
        parse_signatures(st, a->signature, &spec->signatures) < 0)
        return -1;
    if (spec->signatures & FWC_SIG_STANDARD) {
        unsigned char key[512];
        size_t keylen = sizeof key;
        FwcError err;
        FwcStatus bad =
            fwc_sign_key(FWC_SIG_STANDARD, spec->secret, spec->secret_len, key, &keylen, &err);
        OPENSSL_cleanse(key, sizeof key);
        if (bad) return invalid(st, "Invalid Webhook Secret: %s", err.message);
    }
    return 0;
}

/* enable_security, webhook_secret, signature.  Security is on by default when a secret is
 * given; enable_security=0 leaves it unused.  *security: whether it is on. */
static int security_options(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a, int *security)
{
    int has_secret = a->webhook_secret && !is_empty(a->webhook_secret);
    if ((*security = truthy(a->enable_security, has_secret)) < 0) return -1;
    if (*security) {
        if (!has_secret)
            return invalid(
                st, "Invalid Webhook Secret: enable_security is set but webhook_secret is empty");
        return secret_option(st, spec, a);
    }
    if (a->signature && a->signature != Py_None) {
        int bits;
        if (parse_signatures(st, a->signature, &bits) < 0) return -1;
        if (!has_secret) return invalid(st, "signature needs a webhook_secret");
    }
    return 0;
}

/* json_style: 'dumps' or 'as_json' */
static int json_style_option(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a)
{
    char *style = opt_cstr(st, a->json_style, "json_style", "dumps");
    if (!style) return -1;
    int r = 0;
    if (strcmp(style, "dumps") == 0) spec->json_style = FWC_JSON_DUMPS;
    else if (strcmp(style, "as_json") == 0) spec->json_style = FWC_JSON_AS_JSON;
    else r = invalid(st, "json_style must be 'dumps' or 'as_json', not %R", a->json_style);
    free(style);
    return r;
}

/* timeout (seconds, Frappe: webhook.timeout or 5) and max_retries (0..100, default 3) */
static int timeout_options(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a)
{
    spec->timeout = 5.0;
    if (a->timeout && a->timeout != Py_None) {
        if (!PyLong_Check(a->timeout) && !PyFloat_Check(a->timeout)) {
            PyErr_Format(PyExc_TypeError, "timeout must be a number, not %.100s",
                         Py_TYPE(a->timeout)->tp_name);
            return -1;
        }
        if (number_of(a->timeout, &spec->timeout) < 0) return -1;
        /* bounded so that every transport's conversion (milliseconds in a long) is exact */
        if (!(spec->timeout > 0) || !(spec->timeout <= FWC_MAX_TIMEOUT))
            return invalid(st,
                           "timeout must be a positive number of seconds up to %d (1 day), not %R",
                           FWC_MAX_TIMEOUT, a->timeout);
    }
    spec->max_retries = 3;
    if (a->max_retries && a->max_retries != Py_None) {
        long r = PyLong_Check(a->max_retries) && !PyBool_Check(a->max_retries)
                     ? PyLong_AsLong(a->max_retries)
                     : -2;
        if (r == -1 && PyErr_Occurred()) PyErr_Clear();
        if (r < 0 || r > 100)
            return invalid(st, "max_retries must be an integer from 0 to 100, not %R",
                           a->max_retries);
        spec->max_retries = (int)r;
    }
    return 0;
}

/* background_jobs_queue (a str, only shown) */
static int queue_option(const HookArgs *a)
{
    if (a->background_jobs_queue && a->background_jobs_queue != Py_None &&
        !PyUnicode_Check(a->background_jobs_queue)) {
        PyErr_SetString(PyExc_TypeError, "background_jobs_queue must be str");
        return -1;
    }
    return 0;
}

/* condition: a str compiled once, here (expr_*.c), or a callable the Webhook keeps */
static int condition_option(FwcModuleState *st, FwcHookSpec *spec, const HookArgs *a)
{
    if (a->condition && a->condition != Py_None && !PyUnicode_Check(a->condition) &&
        !PyCallable_Check(a->condition)) {
        PyErr_SetString(PyExc_TypeError, "condition must be str or a callable");
        return -1;
    }
    if (a->condition && PyUnicode_Check(a->condition) &&
        fwc_condition_compile(st, a->condition, &spec->condition) < 0)
        return -1;
    spec->condition_callable =
        a->condition && a->condition != Py_None && !PyUnicode_Check(a->condition);
    return 0;
}

/* What Python sees of the options not exposed by their validator: normalised, the secret
 * never shown. */
static int expose_options(const FwcHookSpec *spec, const HookArgs *a, PyObject *field_rows,
                          PyObject *header_rows, int security, PyObject *attrs)
{
    static const char *const sig_names[] = { "frappe", "standard", "github" };
    PyObject *sigs = PyList_New(0);
    for (int i = 0; sigs && i < 3; i++)
        if (spec->signatures & (1 << i)) {
            PyObject *s = PyUnicode_FromString(sig_names[i]);
            if (!s || PyList_Append(sigs, s) < 0) Py_CLEAR(sigs);
            Py_XDECREF(s);
        }
    static const char *const structures[] = { "", "Form URL-Encoded", "JSON" };
    int r = 0;
    if (expose(attrs, "request_url", Py_NewRef(a->request_url)) < 0 ||
        expose(attrs, "name", str_or_none(spec->name)) < 0 ||
        expose(attrs, "webhook_doctype", str_or_none(spec->webhook_doctype)) < 0 ||
        expose(attrs, "webhook_docevent", str_or_none(spec->webhook_docevent)) < 0 ||
        expose(attrs, "condition", Py_NewRef(a->condition ? a->condition : Py_None)) < 0 ||
        expose(attrs, "enabled", PyBool_FromLong(spec->enabled)) < 0 ||
        expose(attrs, "request_method", PyUnicode_FromString(spec->request_method)) < 0 ||
        expose(attrs, "request_structure", PyUnicode_FromString(structures[spec->structure])) < 0 ||
        expose(attrs, "webhook_json",
               spec->json_callable  ? Py_NewRef(spec->json_callable)
               : spec->webhook_json ? PyUnicode_FromString(spec->webhook_json)
                                    : Py_NewRef(Py_None)) < 0 ||
        expose(attrs, "json_escape", PyBool_FromLong(spec->json_escape)) < 0 ||
        expose(attrs, "webhook_data", Py_NewRef(field_rows)) < 0 ||
        expose(attrs, "webhook_headers", Py_NewRef(header_rows)) < 0 ||
        expose(attrs, "enable_security", PyBool_FromLong(security)) < 0 ||
        expose(attrs, "is_dynamic_url", PyBool_FromLong(spec->is_dynamic_url)) < 0 ||
        expose(attrs, "timeout", PyFloat_FromDouble(spec->timeout)) < 0 ||
        expose(attrs, "max_retries", PyLong_FromLong(spec->max_retries)) < 0 ||
        expose(attrs, "background_jobs_queue",
               Py_NewRef(a->background_jobs_queue ? a->background_jobs_queue : Py_None)) < 0 ||
        expose(attrs, "signature", sigs ? PyList_AsTuple(sigs) : NULL) < 0 ||
        expose(attrs, "json_style",
               PyUnicode_FromString(spec->json_style == FWC_JSON_DUMPS ? "dumps" : "as_json")) < 0)
        r = -1;
    Py_XDECREF(sigs);
    return r;
}

FwcHookSpec *fwc_spec_from_kwargs(FwcModuleState *st, PyObject *kwargs, PyObject **attrs_out)
{
    HookArgs a;
    PyObject *attrs = NULL, *field_rows = NULL, *header_rows = NULL;
    int security = 0;
    FwcHookSpec *spec = calloc(1, sizeof *spec);
    if (!spec) return (FwcHookSpec *)PyErr_NoMemory();
    atomic_init(&spec->refs, 1);
    if (unpack_kwargs(kwargs, &a) < 0 || !(attrs = PyDict_New()) || url_options(st, spec, &a) < 0 ||
        identity_options(st, spec, &a) < 0 || method_option(st, spec, &a) < 0 ||
        structure_option(st, spec, &a) < 0 || template_options(st, spec, &a) < 0 ||
        field_options(st, spec, &a, &field_rows) < 0 ||
        header_options(st, spec, &a, &header_rows) < 0 ||
        security_options(st, spec, &a, &security) < 0 || json_style_option(st, spec, &a) < 0 ||
        timeout_options(st, spec, &a) < 0 || retry_options(st, spec, &a, attrs) < 0 ||
        queue_option(&a) < 0 || condition_option(st, spec, &a) < 0 ||
        transport_options(st, spec, &a, attrs) < 0 ||
        expose_options(spec, &a, field_rows, header_rows, security, attrs) < 0) {
        Py_XDECREF(attrs);
        Py_XDECREF(field_rows);
        Py_XDECREF(header_rows);
        fwc_spec_decref(spec);
        return NULL;
    }
    Py_DECREF(field_rows);
    Py_DECREF(header_rows);
    *attrs_out = attrs;
    return spec;
}
