"""Fixtures for the emulator's own tests: a patched server and a raw moto server, each on a free
loopback port, started through the same `start` script the demo and the Rust tests use.

Tests that prove a fidelity patch run against both: they must pass on `harness`, and on `raw` they
must fail the way their `raw_moto` marker declares (see `raw_moto` below): at that statement of the
test, with that exception and message. A raw run that passes fails the suite (the patch would prove
nothing), and so does one that fails any other way (a connection error, a different exception, an
earlier statement), because then it proves nothing about the behaviour the test names.
"""
import functools
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "ap-northeast-1"
ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, raw=False, env=None):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        args = [os.path.join(HERE, "start"), "--port", str(self.port)] + (["--raw"] if raw else [])
        self.proc = subprocess.Popen(args, env={**os.environ, **(env or {})},
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("emulator not ready after 120 s")
            time.sleep(0.05)

    def reset(self):
        req = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=30).read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def harness_server():
    server = Server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def raw_server():
    server = Server(raw=True)
    yield server
    server.stop()


@pytest.fixture
def harness(harness_server):
    harness_server.reset()
    return harness_server


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "raw_moto(at, raises, match): how a both_servers test fails on raw moto: the test's "
        "statement containing `at` raises an exception whose class name is `raises` (or one of them) "
        "and whose text matches the regex `match`")


def _raw_outcome(fn, spec):
    """`fn` (a test on raw moto) wrapped to check it fails as `spec` declares, reported xfail."""
    at, raises, match = spec.kwargs["at"], spec.kwargs["raises"], spec.kwargs["match"]
    raises = (raises,) if isinstance(raises, str) else tuple(raises)
    ats = (at,) if isinstance(at, str) else tuple(at)

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            fn(*args, **kwargs)
        except (Exception, pytest.fail.Exception) as e:
            names = {c.__name__ for c in type(e).__mro__}
            frames = [f for f in __import__("traceback").extract_tb(e.__traceback__) if f.name == fn.__name__]
            where = ""
            if frames:
                f = frames[-1]
                with open(f.filename) as src:
                    lines = src.read().split("\n")
                where = "\n".join(lines[f.lineno - 1:(f.end_lineno or f.lineno)])
            if names.isdisjoint(raises) or not re.search(match, str(e)) or not any(a in where for a in ats):
                raise AssertionError(
                    f"raw moto failed otherwise than declared (raw_moto at={at!r} raises={raises} match={match!r}): "
                    f"{type(e).__name__} at {where.strip()!r}: {str(e)[:300]}") from e
            pytest.xfail(f"raw moto: {type(e).__name__} at {at!r}")
        pytest.fail("passes on raw moto: the patch this test proves makes no difference")
    return run


def pytest_collection_modifyitems(items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("both_servers") != "raw":
            continue
        spec = item.get_closest_marker("raw_moto")
        if spec is None:
            raise pytest.UsageError(f"{item.nodeid}: a both_servers test declares how raw moto fails (@pytest.mark.raw_moto)")
        item.obj = _raw_outcome(item.obj, spec)


@pytest.fixture(params=["harness", "raw"])
def both_servers(request):
    server = request.getfixturevalue(f"{request.param}_server")
    server.reset()
    return server


def client(server, service, account=ACCOUNT_A, region=REGION, credentials=None):
    """A boto3 client for `account`. Without `credentials`, the account is chosen with moto's
    x-moto-account-id header (works on raw moto and on the harness alike)."""
    creds = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    c = boto3.client(service, endpoint_url=server.endpoint, region_name=region,
                     config=Config(retries={"max_attempts": 1}), **creds)
    if credentials is None:
        def add_account_header(request, **_):
            request.headers["x-moto-account-id"] = account
        c.meta.events.register("before-sign", add_account_header)
    return c
