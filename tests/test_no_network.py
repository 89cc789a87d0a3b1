"""The suite-wide guard really refuses outside connections (so no test can quietly depend on a download)."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from tests.conftest import NetworkAccessError


def test_outside_connection_is_refused() -> None:
    with pytest.raises(NetworkAccessError):
        socket.create_connection(("203.0.113.7", 80), timeout=1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NetworkAccessError):
            s.connect(("198.51.100.3", 443))
    finally:
        s.close()
    with pytest.raises((NetworkAccessError, OSError)):
        urllib.request.urlopen("http://203.0.113.7/weights.bin", timeout=1)


def test_loopback_stays_allowed() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        client = socket.create_connection(server.getsockname(), timeout=1)
        client.close()
    finally:
        server.close()
