"""Fails any attempt by a test to connect anywhere but this machine's loopback."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class NetworkAccessError(RuntimeError):
    """Raised when a test tries to reach beyond 127.0.0.1 / ::1."""


def _is_loopback(host: str) -> bool:
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _check(address: Any, family: int) -> None:
    if family == socket.AF_UNIX or not isinstance(address, tuple):
        return
    host = str(address[0])
    if not _is_loopback(host):
        raise NetworkAccessError(f"test tried to reach {host}:{address[1]}; only loopback allowed")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(address, self.family)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(address, self.family)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not _is_loopback(name):
            raise NetworkAccessError(f"test tried to resolve {name}; only loopback allowed")
    return _real_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo
