"""frappe_webhook_c — Frappe webhooks, natively.

The C extension (``_core``) does the work; this package re-exports it.
"""
from ._core import (  # noqa: F401
    MAX_DEPTH,
    ConditionError,
    Delivery,
    DeliveryError,
    Dispatcher,
    Outbox,
    QueueFull,
    Request,
    Response,
    StoreError,
    TemplateError,
    ValidationError,
    Webhook,
    __version__,
    dispatch,
    run_webhooks,
    sign,
    verify,
)
from ._delivery import Batch, default_dispatcher, enqueue, flush  # noqa: F401

__all__ = [
    "Batch",
    "ConditionError",
    "Delivery",
    "DeliveryError",
    "Dispatcher",
    "MAX_DEPTH",
    "Outbox",
    "QueueFull",
    "Request",
    "Response",
    "StoreError",
    "TemplateError",
    "ValidationError",
    "Webhook",
    "default_dispatcher",
    "dispatch",
    "enqueue",
    "flush",
    "run_webhooks",
    "sign",
    "verify",
]
