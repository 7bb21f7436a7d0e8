"""frappe_webhook_c — Frappe webhooks, natively.

The C extension (``_core``) does the work; this package re-exports it.
"""
from ._core import (  # noqa: F401
    MAX_DEPTH,
    ConditionError,
    DeliveryError,
    Request,
    TemplateError,
    ValidationError,
    Webhook,
    __version__,
    sign,
    verify,
)

__all__ = [
    "ConditionError",
    "DeliveryError",
    "MAX_DEPTH",
    "Request",
    "TemplateError",
    "ValidationError",
    "Webhook",
    "sign",
    "verify",
]
