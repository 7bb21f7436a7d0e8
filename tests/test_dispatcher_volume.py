"""Volume: 200 000 deliveries through one Dispatcher; nothing lost or duplicated (the
receiver logs every webhook-id), and the process's memory stays flat after warm-up.

The receiver is nginx (the Debian package the Makefile installs), or the Python
counting receiver in a subprocess when nginx is missing."""
import hashlib
import os

import pytest

import frappe_webhook_c as fwc
from support.dispatch_receiver import CountReceiver, NginxReceiver, nginx_binary

SANITIZED = "asan" in os.environ.get("LD_PRELOAD", "")
# under ASan+UBSan (make test-sanitize) everything runs several times slower: the same
# test with fewer deliveries keeps the suite's run time reasonable
N = 50_000 if SANITIZED else 200_000


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def fold(ids):
    """Order-independent digest of a set of ids (xor and sum of 64-bit hashes)."""
    x = s = 0
    for i in ids:
        h = int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8).digest(), "little")
        x ^= h
        s = (s + h) & (2**64 - 1)
    return x, s


def test_200k_deliveries_nothing_lost_or_duplicated_memory_flat(tmp_path):
    use_nginx = nginx_binary() is not None
    rx = NginxReceiver(tmp_path) if use_nginx else CountReceiver()
    with rx:
        h = fwc.Webhook(rx.url("/hook"), name="volume", allow_private_networks=True,
                        webhook_data=[("name", "id"), ("grand_total", "total"), ("customer", "customer")],
                        webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", signature="standard",
                        retry_schedule=[0.05], retry_jitter=0, max_retries=5)
        d = fwc.Dispatcher(max_queue=4000)
        x_acc = s_acc = 0
        warm = None
        for i in range(N):
            x = d.enqueue(h, {"doctype": "Sales Invoice", "name": f"SINV-{i:06d}", "grand_total": i * 0.5,
                              "customer": "Acme"}, block=True)
            hv = int.from_bytes(hashlib.blake2b(x.id.encode(), digest_size=8).digest(), "little")
            x_acc ^= hv
            s_acc = (s_acc + hv) & (2**64 - 1)
            del x
            if i == N // 4:
                assert d.flush(120) == []
                warm = rss_mb()
        assert d.flush(300) == []
        stats = d.stats()
        grown = rss_mb() - warm
        assert d.close(10) == []
        assert stats["delivered"] == N and stats["enqueued"] == N and stats["exhausted"] == 0
        assert stats["connections_opened"] <= 64
        if use_nginx:
            rx.stop()
            ids = rx.logged_ids()
            assert len(ids) == N                    # nothing duplicated (no retries either)
            assert len(set(ids)) == N               # every id once
            assert fold(ids) == (x_acc, s_acc)      # and they are exactly the ids enqueue returned
        else:
            rep = rx.report()
            assert rep["total"] == N and rep["unique_ids"] == N and rep["duplicated_ids"] == 0
            assert rep["unique_bodies"] == N
    if not SANITIZED:   # ASan's quarantine holds freed memory back by design
        assert grown < 32, f"RSS grew by {grown:.1f} MiB after warm-up"
