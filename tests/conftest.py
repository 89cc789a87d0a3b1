"""Suite-wide fixtures: no test may open a network connection."""

from __future__ import annotations

import socket

import pytest


class NetworkAccessError(RuntimeError):
    pass


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test whose code connects to a non-local address (so nothing can depend on a download)."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address, *args, **kwargs):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host in ("localhost", "::1") or host.startswith("127.") or self.family == socket.AF_UNIX):
            return real_connect(self, address, *args, **kwargs)
        raise NetworkAccessError(f"test tried to open a network connection to {address!r}")

    def guarded_create_connection(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        host = address[0]
        if host in ("localhost", "::1") or str(host).startswith("127."):
            return socket._original_create_connection(address, *args, **kwargs)  # type: ignore[attr-defined]
        raise NetworkAccessError(f"test tried to open a network connection to {address!r}")

    if not hasattr(socket, "_original_create_connection"):
        socket._original_create_connection = socket.create_connection  # type: ignore[attr-defined]
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
