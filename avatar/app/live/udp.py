"""Returns a UDP sender bound to one resolved target: sends never raise, failures are counted and reported once.

A live stream must outlive its receiver: a Unreal editor or VTuber app that is closed, not yet started,
or on a network that drops packets must not stop the animation. So `send` catches the socket's errors
(an ICMP "port unreachable" reported on a later send, a network that is down), counts them and prints
one line the first time, then keeps going.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any

from avatar.app.live.target import Target


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class UDPSender:
    """Sends datagrams to one `Target` only; `sent` and `failed` count them; `close()` releases the socket."""

    def __init__(self, target: Target, what: str, log: Callable[[str], Any] = _stderr) -> None:
        self.target = target
        self.what = what
        self.log = log
        self.sock = socket.socket(target.family, socket.SOCK_DGRAM)
        self.sent = 0
        self.failed = 0

    def send(self, data: bytes) -> bool:
        """Return True when the datagram left; on a socket error count it, say so once, and return False."""
        try:
            self.sock.sendto(data, self.target.sockaddr)
        except OSError as e:
            self.failed += 1
            if self.failed == 1:
                self.log(f"emoavatar: warning: {self.what} to {self.target}: {e.strerror or e}; still streaming "
                         "(is the receiver running and reachable?)")
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        """Close the socket; idempotent."""
        self.sock.close()
