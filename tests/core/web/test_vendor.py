"""htmx is pinned: the vendored files must match the recorded hashes (ux.md G1)."""

import hashlib

from tests.conftest import ROOT

VENDOR = ROOT / "static" / "vendor"


def test_vendored_files_match_their_recorded_hashes():
    lines = (VENDOR / "SHA256SUMS").read_text().split("\n")
    entries = [line.split() for line in lines if line.strip()]
    assert {name for _digest, name in entries} == {"htmx-2.0.11/htmx.min.js", "htmx-ext-sse-2.2.4/sse.min.js"}
    for digest, name in entries:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, f"{name} changed"


def test_the_layout_loads_the_pinned_htmx():
    base = (ROOT / "templates" / "base.html").read_text()
    assert '<script src="/static/vendor/htmx-2.0.11/htmx.min.js" defer></script>' in base
    assert '"historyCacheSize":0' in base


async def test_vendored_htmx_is_served(client):
    response = await client.get("/static/vendor/htmx-2.0.11/htmx.min.js")
    assert response.status_code == 200
    assert 'version:"2.0.11"' in response.text
    assert hashlib.sha256(response.content).hexdigest() == (VENDOR / "SHA256SUMS").read_text().split()[0]
