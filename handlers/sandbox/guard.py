"""Only this machine may use the sandbox: it signs requests as Slack for whoever reaches it.

Every /sandbox route answers a client on 127.0.0.1 whose request names 127.0.0.1 or
localhost in its Host header. The Host check stops a web page on another site from reaching
the sandbox through a DNS name rebound to 127.0.0.1 (DNS rebinding). The page's own actions
(`page_action`) must also come from the page itself: a JSON body (which a cross-site form or
`no-cors` fetch cannot send without a CORS preflight, which is never granted) and, where the
browser says where a request comes from (Origin, Sec-Fetch-Site), from this same origin.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.config import SANDBOX_HOST

REFUSAL = "The sandbox answers on 127.0.0.1 only"
HOST_NAMES = frozenset({SANDBOX_HOST, "localhost"})


def host_name(header: str) -> str:
    """The name in a Host header, without its port."""
    header = header.strip().lower()
    if header.startswith("["):  # an IPv6 literal: [::1]:3000
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if ":" in header else header


def allowed(request: Request) -> bool:
    """Whether the request comes from 127.0.0.1 and is addressed to 127.0.0.1 or localhost."""
    client = request.client
    if client is None or client.host != SANDBOX_HOST:
        return False
    return host_name(request.headers.get("host", "")) in HOST_NAMES


def page_action(request: Request) -> bool:
    """Whether a POST to the page's API comes from the sandbox page (not another site)."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        return False
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    scheme, _, rest = origin.lower().partition("://")
    return scheme == "http" and host_name(rest) in HOST_NAMES and rest == host_of(request)


def host_of(request: Request) -> str:
    return request.headers.get("host", "").strip().lower()


def refusal() -> Response:
    return JSONResponse({"error": REFUSAL}, 403)


class GuardedRoute(APIRoute):
    """A route that answers only what `allowed` lets through."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            if not allowed(request):
                return refusal()
            return await handler(request)

        return guarded
