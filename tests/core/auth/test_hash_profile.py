"""The test suite's cheap password hashing never reaches a production process."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

PROBE = (
    "from portal.auth.passwords import hash_password; "
    "print(hash_password('a long enough passphrase').split('$')[3])"
)


def _params(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**clean, **env},
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout.strip()


def test_production_hashes_at_full_cost_even_when_asked_for_the_test_profile():
    assert _params(PORTAL_ENV="production", PORTAL_PASSWORD_HASH_PROFILE="test") == "m=65536,t=3,p=4"


def test_the_default_is_full_cost_and_the_test_profile_is_cheap():
    assert _params(PORTAL_ENV="demo") == "m=65536,t=3,p=4"
    assert _params(PORTAL_ENV="development", PORTAL_PASSWORD_HASH_PROFILE="test") == "m=1024,t=1,p=1"
