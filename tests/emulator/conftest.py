"""Fixtures for the emulator's own tests: a patched server and a raw moto server, each on a free
loopback port, started through the same `start` script the demo and the Rust tests use.

Tests that prove a fidelity patch run against both: they must pass on `harness` and fail on `raw`
(see `both_servers`, which marks the raw run xfail(strict=True): a patch test that passes on raw
moto fails the suite, because then the patch proves nothing).
"""
import os
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


@pytest.fixture(params=["harness", pytest.param("raw", marks=pytest.mark.xfail(strict=True, reason="raw moto lacks this AWS behaviour"))])
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
