"""Returns where a live sink sends: `HOST:PORT` parsed and resolved once, with one-line errors naming the flag.

The address is resolved here, once, and every packet goes to that one address: nothing but the named
host is ever sent to (no broadcast, no discovery, no fallback).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from avatar.errors import AvatarInputError


@dataclass(frozen=True)
class Target:
    """A resolved UDP destination: what the user wrote (`host`, `port`) and the socket address it resolved to."""

    host: str
    port: int
    family: int
    sockaddr: tuple

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_target(text: str, default_port: int, flag: str) -> Target:
    """Return the resolved `Target` of `HOST`, `HOST:PORT` or `[IPv6]:PORT` (port `default_port` when left out).

    Raises AvatarInputError (one line, naming `flag`) for an empty host, a port that is not a whole
    number in 1..65535, or a host name that does not resolve.
    """
    raw = (text or "").strip()
    example = f"use HOST:PORT, e.g. {flag} 127.0.0.1:{default_port}"
    if raw.startswith("["):  # [IPv6]:port
        end = raw.find("]")
        if end < 0:
            raise AvatarInputError(f"{flag} {text!r}: missing ']' after the IPv6 address; {example}")
        host, rest = raw[1:end], raw[end + 1 :]
        if rest and not rest.startswith(":"):
            raise AvatarInputError(f"{flag} {text!r}: expected ':PORT' after ']'; {example}")
        port_text = rest[1:] if rest else ""
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    elif raw.count(":") > 1:
        host, port_text = raw, ""  # a bare IPv6 address
    else:
        host, port_text = raw, ""
    if not host:
        raise AvatarInputError(f"{flag} {text!r} names no host; {example}")
    if port_text:
        try:
            port = int(port_text)
        except ValueError:
            raise AvatarInputError(f"{flag} {text!r}: port {port_text!r} is not a number; {example}") from None
    else:
        port = int(default_port)
    if not 1 <= port <= 65535:
        raise AvatarInputError(f"{flag} {text!r}: port {port} is outside 1..65535; {example}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP)
    except (socket.gaierror, UnicodeError) as e:
        reason = e.strerror if isinstance(e, socket.gaierror) and e.strerror else str(e)
        raise AvatarInputError(f"{flag} {text!r}: cannot resolve host {host!r} ({reason}); check the name or give an IP address") from None
    family, _, _, _, sockaddr = infos[0]
    return Target(host, port, family, sockaddr)
