import os
from typing import Any, Callable, Iterable, Mapping, Sequence

__version__: str
MAX_DEPTH: int

class ValidationError(ValueError): ...
class TemplateError(ValueError): ...
class ConditionError(ValueError): ...
class DeliveryError(Exception): ...

Rows = Sequence[Mapping[str, Any] | tuple[str, str]] | Mapping[str, str]

class Request:
    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def data(self) -> Any: ...

class Response:
    """The outcome of dispatch(); network failures are here (error), not raised."""
    @property
    def status(self) -> int: ...          # 0 when no response arrived
    @property
    def ok(self) -> bool: ...             # 2xx and no error
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def body(self) -> bytes: ...          # at most max_response_bytes
    @property
    def truncated(self) -> bool: ...
    @property
    def elapsed(self) -> float: ...       # seconds
    @property
    def error(self) -> str | None: ...
    @property
    def url(self) -> str: ...             # after redirects
    @property
    def request(self) -> Request: ...
    def header(self, name: str, default: Any = None) -> str | Any: ...
    def raise_for_status(self) -> None: ...

class Webhook:
    request_url: str
    name: str | None
    webhook_doctype: str | None
    webhook_docevent: str | None
    condition: str | Callable[[Any], Any] | None
    enabled: bool
    request_method: str
    request_structure: str
    webhook_json: str | None
    webhook_data: list[tuple[str, str]]
    webhook_headers: list[tuple[str, str]]
    enable_security: bool
    is_dynamic_url: bool
    timeout: float
    max_retries: int
    background_jobs_queue: str | None
    signature: tuple[str, ...]
    json_style: str
    follow_redirects: int
    verify_tls: bool
    ca_file: str | None
    client_cert: str | None
    client_key: str | None
    allow_private_networks: bool
    allowed_networks: tuple[str, ...]
    proxy: str | None
    max_response_bytes: int
    def __init__(
        self,
        request_url: str,
        *,
        name: str | None = None,
        webhook_doctype: str | None = None,
        webhook_docevent: str | None = None,
        condition: str | Callable[[Any], Any] | None = None,
        enabled: bool | int = True,
        request_method: str = "POST",
        request_structure: str | None = "",
        webhook_json: str | None = None,
        webhook_data: Rows | None = None,
        webhook_headers: Rows | None = None,
        enable_security: bool | int | None = None,
        webhook_secret: str | None = None,
        is_dynamic_url: bool | int = False,
        timeout: float = 5.0,
        max_retries: int = 3,
        background_jobs_queue: str | None = None,
        signature: str | Iterable[str] | None = None,
        json_style: str = "dumps",
        follow_redirects: int = 0,
        verify_tls: bool | int = True,
        ca_file: str | os.PathLike[str] | None = None,
        client_cert: str | os.PathLike[str] | None = None,
        client_key: str | os.PathLike[str] | None = None,
        allow_private_networks: bool | int = False,
        allowed_networks: Sequence[str] | None = None,
        proxy: str | None = None,
        max_response_bytes: int = 65536,
    ) -> None: ...
    @classmethod
    def from_frappe(cls, doc: Mapping[str, Any]) -> "Webhook": ...
    def request(self, doc: Any) -> Request: ...
    def preview_request_body(self, doc: Any) -> str: ...
    def send(self, doc: Any) -> Response: ...
    def meets_condition(self, doc: Any) -> bool: ...
    def matches(self, doc: Any, event: str, in_insert: bool = False) -> bool: ...

def run_webhooks(hooks: Iterable[Webhook], doc: Any, event: str, in_insert: bool = False, *,
                 on_error: str = "raise") -> list[Webhook]: ...
def _eval(expression: str, doc: Any) -> Any: ...
def dispatch(hook: Webhook, doc: Any) -> Response: ...
def _classify_address(address: str) -> str | None: ...
def _address_refusal(hook: Webhook, address: str) -> str | None: ...
def sign(secret: str | bytes, body: bytes | str, scheme: str = "frappe", *, msg_id: str | None = None,
         timestamp: int | None = None) -> dict[str, str]: ...
def verify(secret: str | bytes, body: bytes | str, headers: Mapping[str, str], scheme: str = "frappe", *,
           tolerance: int = 300) -> bool: ...
