import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from hypothesis import HealthCheck, settings  # noqa: E402

# Correctness, not speed, is tested: no per-example deadlines (CI machines and the
# sanitizer build are slow and noisy), and no flaky health checks about timing.
settings.register_profile("fwc", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fwc")  # derandomized: CI runs the examples a developer ran


# ---------- HTTP transport fixtures (tests/support/receiver.py) ----------

import shutil  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

import frappe_webhook_c as fwc  # noqa: E402

from support.dispatch_receiver import ScriptedReceiver  # noqa: E402
from support.receiver import Receiver  # noqa: E402


@pytest.fixture
def rx():
    """A scripted receiver for the Dispatcher tests (tests/support/dispatch_receiver.py)."""
    with ScriptedReceiver() as r:
        yield r


@pytest.fixture
def dispatchers():
    """make(**kw) -> Dispatcher; every one made is closed at the end of the test."""
    made = []

    def make(**kw):
        d = fwc.Dispatcher(**kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close(timeout=0)


@pytest.fixture
def receiver():
    """A recording HTTP server on 127.0.0.1, random port (see tests/support/receiver.py)."""
    with Receiver("127.0.0.1") as rx:
        yield rx


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A self-signed server certificate for 127.0.0.1/localhost, and a client CA with a
    client certificate for mutual TLS, all generated here with the openssl CLI."""
    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not installed")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "server.key", "-out", "server.pem", "-days", "2",
             "-subj", "/CN=fwc-test-server", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", cwd=d)
    _openssl("req", "-x509", *ec, "-keyout", "client-ca.key", "-out", "client-ca.pem", "-days", "2",
             "-subj", "/CN=fwc-test-client-ca", cwd=d)
    _openssl("req", *ec, "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=fwc-test-client", cwd=d)
    (d / "client.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    _openssl("x509", "-req", "-in", "client.csr", "-CA", "client-ca.pem", "-CAkey", "client-ca.key",
             "-CAcreateserial", "-out", "client.pem", "-days", "2", "-extfile", "client.ext", cwd=d)
    return {name: str(d / name) for name in ("server.pem", "server.key", "client-ca.pem", "client.pem", "client.key")}


@pytest.fixture
def tls_receiver(tls_files):
    """An HTTPS receiver with the self-signed certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files["server.pem"], tls_files["server.key"])
    with Receiver("127.0.0.1", ssl_context=ctx) as rx:
        yield rx


@pytest.fixture
def mtls_receiver(tls_files):
    """An HTTPS receiver that requires a client certificate issued by the client CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files["server.pem"], tls_files["server.key"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(tls_files["client-ca.pem"])
    with Receiver("127.0.0.1", ssl_context=ctx) as rx:
        yield rx
