"""Per-request facts every handler needs: who, from where, which request, and the audit writer."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from litestar import Request

from portal.audit.chain import Actor, AuditTrail
from portal.auth.principal import Principal

__all__ = ["actor", "audit", "trail", "client_ip", "principal", "request_id", "safe_next"]


def principal(request: Request) -> Principal | None:
    return request.scope.get("user")


def request_id(request: Request) -> str:
    state = request.scope.setdefault("state", {})
    rid = state.get("request_id")
    if rid is None:
        rid = state["request_id"] = uuid.uuid4().hex[:16]
    return rid


def client_ip(request: Request) -> str:
    peer = request.client.host if request.client else ""
    trusted = request.app.state.settings.trusted_proxies
    if peer and trusted and _in(peer, trusted):
        # Only a proxy we trust may tell us the client's address (SEC-RATE-03).
        forwarded = request.headers.get("x-forwarded-for", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        while hops and _in(hops[-1], trusted):
            hops.pop()
        if hops:
            return hops[-1][:64]
    return peer[:64]


def _in(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for net in networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False


def actor(request: Request) -> Actor:
    user = principal(request)
    ip, rid = client_ip(request), request_id(request)
    if user is None:
        return Actor(user_id=None, name="anonymous", ip=ip, request_id=rid)
    return user.actor(ip=ip, request_id=rid)


def trail(request: Request) -> AuditTrail:
    return AuditTrail(request.app.state.audit_key, actor(request))


def citizen_trail(request: Request, citizen_id: int | None) -> AuditTrail:
    """The audit writer for a citizen's own action ("citizen:<id>"; "anonymous" before sign-in)."""
    who = Actor(user_id=None, name=f"citizen:{citizen_id}" if citizen_id else "anonymous",
                ip=client_ip(request), request_id=request_id(request))
    return AuditTrail(request.app.state.audit_key, who)


async def audit(request: Request, action: str, **fields: Any) -> int:
    """Record an audit row for this request's actor (inside the caller's transaction)."""
    return await trail(request)(action, **fields)


def safe_next(value: str | None, default: str = "/dashboard") -> str:
    """Only same-site paths may be redirect targets (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value
