/* webhook_object.c — what one Webhook object holds: its spec, its attributes and the
 * shape of what its requests read; the other files reach a Webhook's spec and the
 * snapshot of a document through here. */
#include "py/py.h"

int fwc_webhook_clear(FwcWebhookObject *self)
{
    Py_CLEAR(self->attrs);
    return 0;
}

void fwc_webhook_dealloc(FwcWebhookObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    fwc_webhook_clear(self);
    fwc_shape_release(self->shape);
    fwc_spec_decref(self->spec);
    tp->tp_free(self);
    Py_DECREF(tp);
}

FwcHookSpec *fwc_webhook_get_spec(FwcModuleState *st, PyObject *hook)
{
    if (!PyObject_TypeCheck(hook, (PyTypeObject *)st->WebhookType)) {
        PyErr_Format(PyExc_TypeError, "expected a Webhook, not %.100s", Py_TYPE(hook)->tp_name);
        return NULL;
    }
    return ((FwcWebhookObject *)hook)->spec;
}

FwcSnapshot *fwc_webhook_snapshot(PyObject *hook, PyObject *doc)
{
    FwcWebhookObject *self = (FwcWebhookObject *)hook;
    return self->shape ? fwc_snapshot_take_shaped(doc, self->shape)
                       : fwc_spec_snapshot(self->spec, doc);
}

/* The spec of a Webhook (borrowed) or NULL; the type cannot be subclassed. */
FwcHookSpec *fwc_webhook_spec_of(PyObject *obj)
{
    if (Py_TYPE(obj)->tp_dealloc != (destructor)fwc_webhook_dealloc) return NULL;
    return ((FwcWebhookObject *)obj)->spec;
}
