"""frappe_webhook_c — Frappe webhooks, natively.

The C extension (``_core``) does the work; this package re-exports it.
"""
from ._core import (  # noqa: F401
    MAX_DEPTH,
    ConditionError,
    DeliveryError,
    Request,
    Response,
    TemplateError,
    ValidationError,
    Webhook,
    __version__,
    dispatch,
    run_webhooks,
    sign,
    verify,
)

__all__ = [
    "ConditionError",
    "DeliveryError",
    "MAX_DEPTH",
    "Request",
    "Response",
    "TemplateError",
    "ValidationError",
    "Webhook",
    "dispatch",
    "run_webhooks",
    "sign",
    "verify",
]
