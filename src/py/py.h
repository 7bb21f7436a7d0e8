/* py.h — the Python layer: the only one that includes Python.h.
 *
 *   module.c        the module: methods, types, exceptions, init
 *   state.c         module state, and fwc_raise: the one FwcError -> exception map
 *   snapshot.c      a Python document -> a snapshot (GIL held, one walk); shape keys
 *   to_python.c     a value tree -> Python objects
 *   webhook.c       the Webhook type; webhook_kwargs.c validates its keyword arguments
 *                   into an FwcHookSpec; webhook_object.c is the spec and snapshot of one
 *   conditions.c    conditions: run_webhooks(), Webhook.matches/meets_condition, _eval
 *   render.c        templates: render(), and the snapshot of a callable webhook_json
 *   signing.c       sign() and verify()
 *   request_type.c  the Request type (a built request); response.c the Response type
 *   dispatch.c      dispatch(): build and send on this thread, the GIL released
 *   dispatcher.c    the Dispatcher type (enqueue, flush, close, stats) on engine/
 *   delivery.c      the Delivery type: a view of one background delivery
 *   results.c       the on_result thread's side, and close at interpreter exit
 *
 * Code here runs with the GIL and returns NULL / -1 with an exception set; it releases
 * the GIL around everything below it that may take time (render, build, send, waits). */
#ifndef FWC_PY_H
#define FWC_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "store/store.h"

typedef struct FwcModuleState FwcModuleState;

/* ---------- module state and errors (state.c) ---------- */

struct FwcModuleState {
    PyObject *ValidationError;
    PyObject *TemplateError;
    PyObject *ConditionError;
    PyObject *DeliveryError;
    PyObject *WebhookType;
    PyObject *RequestType;
    PyObject *ResponseType;
    PyObject *DispatcherType;
    PyObject *DeliveryType;
    PyObject *QueueFull;
    PyObject *StoreError;
    PyObject *OutboxType;
};

/* Remembers the module definition the state accessors look types up by (module init). */
void fwc_state_init(PyModuleDef *def);
FwcModuleState *fwc_state_of_type(PyTypeObject *tp); /* borrowed; for heap types */
FwcModuleState *fwc_state_of_module(PyObject *m);
/* The module state of an instance of one of the module's heap types (borrowed). */
static inline FwcModuleState *fwc_state_of(PyObject *obj)
{
    return fwc_state_of_type(Py_TYPE(obj));
}
/* Raises the Python exception for a GIL-free error; returns NULL. */
PyObject *fwc_raise(FwcModuleState *st, const FwcError *err);

/* ---------- values and snapshots (to_python.c, snapshot.c) ---------- */

/* Python object for a value (dicts keep their key types).  New reference. */
PyObject *fwc_value_to_python(const FwcValue *v);
/* A response's "Name: value\r\n" lines -> [(name, value), ...]: values decoded as
 * latin-1, as http.client does, blanks around them stripped, lines without a colon
 * skipped.  unfold: an obsolete folded line (leading space or tab) is joined to the
 * previous value (Response.headers); else it is read as any other line
 * (Delivery.response_headers).  New reference, or NULL + exception. */
PyObject *fwc_header_list(const FwcBuf *raw, int unfold);

/* New snapshot of a document (dict, Mapping, or object with as_dict()), normalised as
 * Frappe's as_dict(convert_dates_to_str=True) + json.dumps(default=str) would.
 * Returns NULL with an exception set (ValueError for cycles/depth, TypeError for keys,
 * both with a $.path). */
FwcSnapshot *fwc_snapshot_take(PyObject *doc);
/* Imports datetime's C API and collections.abc.Mapping; called at module init. */
int fwc_snapshot_init(void);
/* Creates the interned str keys of a shape; -1 + exception. */
int fwc_shape_bind(FwcShape *s);
/* Releases the keys and frees the shape. */
void fwc_shape_release(FwcShape *s);
/* Snapshot of only what a bound shape reads of a plain dict document (other documents:
 * a full snapshot).  NULL + exception. */
FwcSnapshot *fwc_snapshot_take_shaped(PyObject *doc, const FwcShape *shape);
/* Snapshot of any JSON-able Python value (root may be any type). */
FwcSnapshot *fwc_snapshot_value(PyObject *obj);

/* ---------- conditions (conditions.c) and templates (render.c) ---------- */

/* Compiles a Webhook's condition source (str); *out NULL for a blank condition.
 * -1 with ValidationError("Invalid Condition: <reason> (column N)"). */
int fwc_condition_compile(FwcModuleState *st, PyObject *src, FwcExpr **out);
PyObject *fwc_py_run_webhooks(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *fwc_py_eval_expr(PyObject *module, PyObject *args);
PyObject *fwc_webhook_meets_condition(PyObject *self, PyObject *doc);
PyObject *fwc_webhook_matches(PyObject *self, PyObject *args, PyObject *kwargs);
/* -1 with ValidationError("Syntax error in template ..."), else 0 and *out. */
int fwc_template_compile(FwcModuleState *st, const char *src, FwcTemplate **out);
PyObject *fwc_py_render(PyObject *module, PyObject *args, PyObject *kwargs);
/* The snapshot a request of spec needs: for a callable webhook_json (and no field rows),
 * the callable's result; otherwise the document's.  NULL + exception. */
FwcSnapshot *fwc_spec_snapshot(const FwcHookSpec *spec, PyObject *doc);

/* ---------- signing (signing.c) ---------- */

PyObject *fwc_py_sign(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *fwc_py_verify(PyObject *module, PyObject *args, PyObject *kwargs);

/* ---------- the Webhook (webhook.c, webhook_object.c, webhook_kwargs.c) ---------- */

typedef struct {
    PyObject_HEAD FwcHookSpec *spec;
    PyObject *attrs; /* normalised keyword values, for the read-only attributes */
    FwcShape *shape; /* what a request reads of the document, NULL: all of it */
} FwcWebhookObject;

int fwc_webhook_clear(FwcWebhookObject *self);    /* tp_clear */
void fwc_webhook_dealloc(FwcWebhookObject *self); /* tp_dealloc */
/* The spec of a Webhook object (borrowed), or NULL when obj is not a Webhook. */
FwcHookSpec *fwc_webhook_spec_of(PyObject *obj);
/* The spec of a Webhook object (borrowed), or NULL + TypeError. */
FwcHookSpec *fwc_webhook_get_spec(FwcModuleState *st, PyObject *hook);
/* The snapshot hook's request needs of doc (only what it reads: see FwcShape): new
 * reference, or NULL + exception. */
FwcSnapshot *fwc_webhook_snapshot(PyObject *hook, PyObject *doc);
/* Keyword names Webhook() accepts, NULL-terminated (for from_frappe). */
const char *const *fwc_hook_keywords(void);
/* Validates keyword arguments into a new spec; NULL + ValidationError/TypeError. */
FwcHookSpec *fwc_spec_from_kwargs(FwcModuleState *st, PyObject *kwargs, PyObject **attrs_out);

/* ---------- requests, responses, dispatch (request_type.c, response.c, dispatch.c) ---------- */

/* Request Python object owning a built request (stolen). NULL + exception on failure. */
PyObject *fwc_request_new(FwcModuleState *st, FwcBuilt *built);
/* Response Python object (response.c): takes the result (moved) and a new reference to
 * the Request.  NULL + exception. */
PyObject *fwc_response_new(FwcModuleState *st, FwcResult *res, PyObject *request);
/* Builds and sends the request of hook (a Webhook) for doc; GIL released after the
 * snapshot. */
PyObject *fwc_dispatch(FwcModuleState *st, PyObject *hook, PyObject *doc);
/* Module-level dispatch(hook, doc), _classify_address(addr), _address_refusal(hook, addr). */
PyObject *fwc_py_dispatch(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *fwc_py_classify_address(PyObject *module, PyObject *addr);
PyObject *fwc_py_address_refusal(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* ---------- background delivery (dispatcher.c, delivery.c, results.c) ---------- */

/* Adds Dispatcher, Delivery and QueueFull to the module (module init). */
int fwc_dispatcher_init(PyObject *m, FwcModuleState *st);
/* Module-level helpers for frappe_webhook_c._delivery: the on_result thread's
 * _take_results(engine) / _release_engine(engine), and _close_all(timeout) at exit. */
PyObject *fwc_py_take_results(PyObject *module, PyObject *cap);
PyObject *fwc_py_release_engine(PyObject *module, PyObject *cap);
PyObject *fwc_py_close_all(PyObject *module, PyObject *timeout);
/* The Delivery object showing job: the existing one when there is one, else a new one.
 * New reference; NULL + exception. */
PyObject *fwc_delivery_view(FwcModuleState *st, FwcJob *j);
/* A list of the Delivery objects of jobs, consuming the job references and the array
 * (from fwc_engine_close / fwc_engine_live_jobs).  NULL + exception. */
PyObject *fwc_delivery_views(FwcModuleState *st, FwcJob **jobs, size_t n);

/* ---------- the store's Python face (outbox.c) ---------- */

/* The file path of a store= argument (str / PathLike, or sqlite:///abs/path), as bytes
 * (new reference); -1 + exception. */
int fwc_store_path_from(PyObject *store, PyObject **path_bytes);
/* The delivery log, for Outbox and Dispatcher (args as the Python methods take them). */
PyObject *fwc_outbox_deliveries(FwcModuleState *st, FwcStore *s, PyObject *args, PyObject *kw);
PyObject *fwc_outbox_attempts(FwcModuleState *st, FwcStore *s, PyObject *id);
PyObject *fwc_outbox_purge(FwcModuleState *st, FwcStore *s, double retention, PyObject *args,
                           PyObject *kw);
PyObject *fwc_outbox_counts(FwcModuleState *st, FwcStore *s);
/* A capsule holding a reference to s, for the resolver thread. */
PyObject *fwc_store_capsule(FwcStore *s);
PyObject *fwc_py_take_unresolved(PyObject *module, PyObject *cap);
PyObject *fwc_py_resolved(PyObject *module, PyObject *args);
PyObject *fwc_py_release_store(PyObject *module, PyObject *cap);

/* ---------- module (module.c) ---------- */

/* Type specs registered by module.c */
extern PyType_Spec fwc_webhook_spec;
extern PyType_Spec fwc_request_spec;
extern PyType_Spec fwc_response_spec;
extern PyType_Spec fwc_delivery_spec;
extern PyType_Spec fwc_outbox_spec;

#endif
