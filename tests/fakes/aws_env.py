"""Fake AWS credentials, alone or pointed at a moto_server on loopback (in-process moto: `aws`, tests.fakes.asg_cluster).

Fixtures (registered for every test in tests/conftest.py):

    def test_refresh(aws_credentials): ...   # no endpoint: the test's Stubber or mock_aws answers
    def test_drill(aws_env): ...             # AWS_ENDPOINT_URL -> this module's moto_server on 127.0.0.1
"""

from __future__ import annotations

import pytest

from tests.fakes.ports import free_port

DEFAULT_REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials in us-east-1, and no endpoint override left from the caller's environment."""
    for key, value in {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": DEFAULT_REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture(scope="module")
def moto_endpoint():
    """A moto_server in this process's threads, on a free loopback port, for one test module."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch):
    """boto3 in this process, and the environment of any subprocess, pointed at the module's moto_server."""
    env = {"AWS_ENDPOINT_URL": moto_endpoint, **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": DEFAULT_REGION}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env
