"""TOTP second factor (RFC 6238, 30 s steps, 6 digits) with replay protection."""

from __future__ import annotations

import io

import pyotp
import qrcode
import qrcode.image.svg

from portal import clock

__all__ = ["new_secret", "provisioning_uri", "qr_svg", "verify_code"]

ISSUER = "吹哨报到综治服务平台"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    # Drop the XML declaration so the SVG can be inlined in HTML.
    return svg[svg.index("<svg"):]


def verify_code(secret: str, code: str, last_step: int) -> int | None:
    """Return the matched time step (to store as ``totp_last_step``) or None.

    Accepts the current step and one on either side for clock drift, but never a step at or before
    ``last_step``: a code cannot be used twice.
    """
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = int(clock.now().timestamp()) // totp.interval
    for step in (current - 1, current, current + 1):
        if step > last_step and pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None
