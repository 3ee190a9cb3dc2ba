"""Who provides the room: the built-in WebRTC room (default) or a deployment's own Jitsi server.

Chosen by the module's own settings (environment, read when used, so core's Settings stay
module-free):

* ``PORTAL_VIDEO_PROVIDER`` — ``builtin`` (default), ``jitsi``, or ``package.module:factory`` for a
  deployment's own provider (a BigBlueButton server, say): ``factory(environ)`` returns an object
  with ``kind`` and ``room_for(session, participant, *, center_code="") -> RoomInfo``;
* ``PORTAL_VIDEO_ICE_SERVERS`` — JSON list of RTCIceServer dicts for the built-in room (STUN/TURN
  behind NAT); default ``[]``: host candidates only, enough on one network or 127.0.0.1;
* ``PORTAL_VIDEO_JITSI_URL`` (e.g. ``https://meet.example.gov.cn``), ``PORTAL_VIDEO_JITSI_APP_ID``
  (the JWT's ``iss``, default ``whistle``), ``PORTAL_VIDEO_JITSI_SECRET`` (HS256 key shared with
  the Jitsi server's token authentication), ``PORTAL_VIDEO_JITSI_TTL_MINUTES`` (default 240).

The interface is ``room_for(session, participant) → RoomInfo``. Core has no pluggy hook for it (a
provider is this module's business); the dotted-path setting is the hook a deployment uses without
changing this package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import os
from dataclasses import dataclass

from portal import clock

__all__ = ["BuiltinProvider", "JitsiProvider", "ProviderError", "RoomInfo", "ice_servers", "provider", "room_for"]


@dataclass(frozen=True)
class RoomInfo:
    kind: str  # builtin | external
    url: str
    token: str = ""


def ice_servers(environ=None) -> list[dict]:
    """The configured ICE servers; a malformed value counts as none (logged nowhere secret)."""
    raw_value = (environ or os.environ).get("PORTAL_VIDEO_ICE_SERVERS", "").strip()
    if not raw_value:
        return []
    try:
        value = json.loads(raw_value)
    except ValueError:
        return []
    return [item for item in value if isinstance(item, dict) and item.get("urls")] if isinstance(value, list) else []


class BuiltinProvider:
    kind = "builtin"

    def room_for(self, session: dict, participant: dict, *, center_code: str = "") -> RoomInfo:
        if participant.get("kind") == "citizen" and center_code:
            return RoomInfo("builtin", f"/m/video_petition/c/{center_code}/room/{session['id']}")
        return RoomInfo("builtin", f"/m/video_petition/room/{session['id']}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_hs256(claims: dict, secret: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    signature = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


class JitsiProvider:
    """Room URL ``{base}/{room}?jwt=…`` for a Jitsi Meet server with token authentication."""

    kind = "external"

    def __init__(self, base_url: str, secret: str, app_id: str = "whistle", ttl_minutes: int = 240) -> None:
        if not secret:
            raise ValueError("PORTAL_VIDEO_JITSI_SECRET is required with PORTAL_VIDEO_PROVIDER=jitsi")
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.app_id = app_id
        self.ttl = ttl_minutes * 60

    def room_name(self, session: dict) -> str:
        # Not guessable from the session id alone: the room name is keyed with the secret.
        digest = hmac.new(self.secret.encode(), f"video_petition:{session['id']}".encode(), hashlib.sha256).hexdigest()
        return f"whistle-{session['id']}-{digest[:12]}"

    def room_for(self, session: dict, participant: dict, *, center_code: str = "") -> RoomInfo:
        room = self.room_name(session)
        now = int(clock.now().timestamp())
        claims = {
            "aud": "jitsi",
            "iss": self.app_id,
            "sub": self.base_url.split("://", 1)[-1].split("/", 1)[0] or "*",
            "room": room,
            "iat": now,
            "nbf": now - 60,
            "exp": now + self.ttl,
            "context": {
                "user": {
                    "id": str(participant["id"]),
                    "name": participant.get("display_name", ""),
                    "moderator": participant.get("kind") == "host",
                },
            },
            "moderator": participant.get("kind") == "host",
        }
        token = jwt_hs256(claims, self.secret)
        return RoomInfo("external", f"{self.base_url}/{room}?jwt={token}", token)


class ProviderError(ValueError):
    """``PORTAL_VIDEO_PROVIDER`` names something that is not a usable provider."""


def _custom(spec: str, env) -> object:
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ProviderError(f"PORTAL_VIDEO_PROVIDER={spec}: cannot import it ({exc})") from None
    # A class or a factory function is called with the environment; an object is used as it is.
    made = factory(env) if isinstance(factory, type) or not hasattr(factory, "room_for") and callable(factory) else factory
    if not callable(getattr(made, "room_for", None)):
        raise ProviderError(f"PORTAL_VIDEO_PROVIDER={spec}: the object has no room_for(session, participant)")
    return made


def provider(environ=None):
    env = environ or os.environ
    spec = env.get("PORTAL_VIDEO_PROVIDER", "builtin").strip()
    if ":" in spec:
        return _custom(spec, env)
    if spec.lower() == "jitsi":
        try:
            ttl = int(env.get("PORTAL_VIDEO_JITSI_TTL_MINUTES", "240"))
        except ValueError:
            ttl = 240
        return JitsiProvider(env.get("PORTAL_VIDEO_JITSI_URL", ""), env.get("PORTAL_VIDEO_JITSI_SECRET", ""),
                             env.get("PORTAL_VIDEO_JITSI_APP_ID", "whistle") or "whistle", ttl)
    return BuiltinProvider()


def room_for(session: dict, participant: dict, *, center_code: str = "", environ=None) -> RoomInfo:
    return provider(environ).room_for(session, participant, center_code=center_code)
