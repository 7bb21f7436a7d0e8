"""Background delivery, the Python side: the default dispatcher behind the module-level
``enqueue``/``flush``, ``Batch`` (Frappe's per-transaction webhook queue), the thread that
calls ``on_result``, and closing every dispatcher at interpreter exit.

The engine itself is native (``_core.Dispatcher``; src/engine.h lists its files).
"""
import atexit
import collections
import logging
import os
import threading
import weakref

from . import _core

logger = logging.getLogger("frappe_webhook_c")

#: seconds the default dispatcher (and any other still open) gets to deliver at exit
EXIT_TIMEOUT = 2.0

_default = None
_default_lock = threading.Lock()


def default_dispatcher():
    """The dispatcher behind ``enqueue()``/``flush()``, created on first use."""
    global _default
    d = _default
    if d is None or d.closed:
        with _default_lock:
            if _default is None or _default.closed:
                _default = _core.Dispatcher()
            d = _default
    return d


def enqueue(hook, doc, *, block=False, timeout=None):
    """Delivers ``hook``'s request for ``doc`` in the background (default dispatcher);
    returns the ``Delivery`` at once."""
    return default_dispatcher().enqueue(hook, doc, block=block, timeout=timeout)


def flush(timeout=None):
    """Waits until the default dispatcher has nothing queued or in flight; returns the
    deliveries not delivered yet (scheduled retries, or what the timeout cut off)."""
    d = _default
    return [] if d is None else d.flush(timeout)


def _hook_key(hook):
    name = hook.name
    return ("name", name) if name else ("id", id(hook))


def _doc_key(doc):
    try:
        name = doc.get("name")
    except AttributeError:
        name = getattr(doc, "name", None)
    return ("name", name) if name is not None else ("id", id(doc))


class Batch:
    """Frappe's webhook queue for one transaction.

    ``add(hook, doc)`` collects; ``commit()`` keeps only the last instance per
    (webhook name, document name) -- in the order of those last instances, exactly as
    Frappe's ``flush_webhook_execution_queue`` -- and enqueues them; ``rollback()`` drops
    everything.  As a context manager it commits on success and rolls back on an
    exception.  The documents are snapshotted at ``commit()``, as Frappe serialises them
    when it flushes after the commit.
    """

    __slots__ = ("_items", "dispatcher")

    def __init__(self, dispatcher=None):
        self._items = []
        self.dispatcher = dispatcher

    def add(self, hook, doc):
        if not isinstance(hook, _core.Webhook):
            raise TypeError(f"expected a Webhook, not {type(hook).__name__}")
        self._items.append((hook, doc))

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(list(self._items))

    def pending(self):
        """What ``commit()`` would enqueue, in order: a list of (hook, doc)."""
        seen = set()
        last = []
        for hook, doc in reversed(self._items):
            key = (_hook_key(hook), _doc_key(doc))
            if key not in seen:
                seen.add(key)
                last.append((hook, doc))
        last.reverse()
        return last

    def commit(self, *, block=False, timeout=None):
        """Enqueues the deduplicated deliveries; returns their ``Delivery`` objects.

        All or none: with a store they are committed in one transaction.  When they do
        not fit (``QueueFull``) or cannot be stored (``StoreError``), the batch keeps them,
        so ``commit()`` may be called again."""
        todo = self.pending()
        d = self.dispatcher if self.dispatcher is not None else default_dispatcher()
        # all or none (with a store: one transaction); on failure the batch is kept whole
        out = d.enqueue_many(todo, block=block, timeout=timeout)
        self._items = []
        return out

    def rollback(self):
        self._items = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.rollback()
        return False

    def __repr__(self):
        return f"<Batch {len(self._items)} pending>"


# ---------- on_result ----------

def _callback_loop(engine, on_result):
    try:
        while True:
            batch = _core._take_results(engine)
            if batch is None:
                return
            for delivery in batch:
                try:
                    on_result(delivery)
                except BaseException:
                    logger.exception("on_result raised for delivery %s", delivery.id)
            del batch
    finally:
        _core._release_engine(engine)


def _start_callback_thread(engine, on_result):
    t = threading.Thread(target=_callback_loop, args=(engine, on_result), name="frappe_webhook_c-on_result",
                         daemon=True)
    t.start()
    return t


def _resolver_loop(store, resolve):
    try:
        while True:
            names = _core._take_unresolved(store)
            if names is None:
                return
            for name in names:
                try:
                    hook = resolve(name)
                except BaseException as exc:
                    logger.exception("resolve(%r) raised", name)
                    _core._resolved(store, name, None, f"resolve({name!r}) raised {exc!r}")
                    continue
                if hook is None:
                    _core._resolved(store, name, None, f"resolve({name!r}) returned None")
                elif not isinstance(hook, _core.Webhook):
                    _core._resolved(store, name, None,
                                    f"resolve({name!r}) returned {type(hook).__name__}, not a Webhook")
                else:
                    _core._resolved(store, name, hook)
    finally:
        _core._release_store(store)


def _start_resolver_thread(store, resolve):
    """The thread that answers the store's questions "which Webhook is called <name>?"
    (stored deliveries keep only the name), by calling ``resolve(name)``."""
    t = threading.Thread(target=_resolver_loop, args=(store, resolve), name="frappe_webhook_c-resolve",
                         daemon=True)
    t.start()
    return t


#: dispatchers with a store, closed first at exit so that their leases are released
_stored = weakref.WeakSet()


def _track_stored(dispatcher):
    _stored.add(dispatcher)


#: ids named in the warning about deliveries not delivered (the rest are counted)
LOG_IDS = 5
#: webhooks named in it, most deliveries first
LOG_WEBHOOKS = 5


def _log_undelivered(deliveries, why):
    """One warning of bounded size, however many: how many and why (interrupted in flight,
    waiting for a retry, never attempted), per webhook, a few ids.  Every id is logged at
    DEBUG level; ``Dispatcher.close()`` returns the ``Delivery`` objects themselves."""
    n = len(deliveries)
    interrupted = sum(1 for d in deliveries if d.interrupted)
    retrying = sum(1 for d in deliveries if not d.interrupted and d.status == "Failed")
    kinds = []
    if interrupted:
        kinds.append(f"{interrupted} in flight when stopped (the receiver may have received them)")
    if retrying:
        kinds.append(f"{retrying} waiting for a retry")
    if n - interrupted - retrying:
        kinds.append(f"{n - interrupted - retrying} never attempted")
    per_hook = collections.Counter((d.webhook or "(unnamed)")[:80] for d in deliveries)
    hooks = ", ".join(f"{name!r} {k}" for name, k in per_hook.most_common(LOG_WEBHOOKS))
    if len(per_hook) > LOG_WEBHOOKS:
        hooks += f", {len(per_hook) - LOG_WEBHOOKS} other webhooks"
    ids = ", ".join(d.id for d in deliveries[:LOG_IDS]) + (f" and {n - LOG_IDS} more" if n > LOG_IDS else "")
    logger.warning("%s: %d deliveries not delivered: %s; per webhook: %s; ids: %s (Dispatcher.close() returns "
                   "them all; every id is logged at DEBUG level)", why, n, ", ".join(kinds), hooks, ids)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s: the deliveries not delivered: %s", why, " ".join(d.id for d in deliveries))


# ---------- fork and exit ----------

def _after_fork_in_child():
    global _default_lock
    _default_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _close_at_exit():
    for d in list(_stored):
        try:
            d.close(EXIT_TIMEOUT)
        except Exception:
            logger.exception("closing %r at exit", d)
    for undelivered in _core._close_all(EXIT_TIMEOUT):
        if undelivered:
            _log_undelivered(undelivered, "closing the dispatcher at interpreter exit")
