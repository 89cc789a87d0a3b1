"""Starts `emoavatar serve` the way a user does, for the browser tests (tests/test_playground*.py)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CLI = [sys.executable, "-c", "import sys; from avatar.app.cli import main; sys.exit(main())"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_playground(timeout_s: float = 300.0) -> Iterator[tuple[str, str]]:
    """Yield (url, start-up log) of `emoavatar serve` on a free port; SIGTERM it (kill after 60 s) on the way out."""
    emoavatar = shutil.which("emoavatar")
    port = free_port()
    proc = subprocess.Popen([*([emoavatar] if emoavatar else CLI), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                pytest.fail(f"emoavatar serve exited ({proc.wait()}):\n{''.join(lines)}")
            lines.append(line)
            if "open http://" in line:
                break
        else:
            pytest.fail(f"emoavatar serve did not start in {timeout_s:.0f} s:\n" + "".join(lines))
        yield f"http://127.0.0.1:{port}", "".join(lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
