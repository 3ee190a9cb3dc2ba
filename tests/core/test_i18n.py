"""The zh_CN catalog translates every message found in the code and templates, and keeps its placeholders.

Extraction uses babel.cfg itself (the same method map as ``make messages``), so a message added to
a template or a Python file without a translation fails here, naming the message and where it is.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from jinja2 import Environment

from portal import i18n

ROOT = Path(__file__).resolve().parents[2]
PO_PATH = i18n.LOCALE_DIR / i18n.LOCALE / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


@lru_cache(maxsize=None)
def extracted() -> dict[str, list[str]]:
    """msgid -> where it is used, for every message in the code and templates."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, "babel.cfg")
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map):
        msgid = message[0] if isinstance(message, tuple) else message  # plural messages are keyed by the singular
        found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


@lru_cache(maxsize=None)
def catalog() -> Catalog:
    with PO_PATH.open("rb") as handle:
        return read_po(handle, locale=i18n.LOCALE)


def entries():
    return [message for message in catalog() if message.id]


def strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def ids(message) -> list[str]:
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


def test_extraction_finds_code_and_template_messages():
    found = extracted()
    # One message from a template and one from Python code: babel.cfg really covers both.
    assert "Skip to main content" in found and any(p.startswith("templates/") for p in found["Skip to main content"])
    assert "Enter your username." in found and any(p.startswith("portal/") for p in found["Enter your username."])
    assert "Hello, %(name)s." in found  # newstyle gettext with a keyword argument
    assert "Enter an 11-digit mobile number, for example 138 0000 0000." in found


def test_every_message_is_translated():
    by_id = {message.id if isinstance(message.id, str) else message.id[0]: message for message in entries()}
    problems = []
    for msgid, where in sorted(extracted().items()):
        message = by_id.get(msgid)
        if message is None:
            problems.append(f"not in the catalog: {msgid!r} ({', '.join(where)})")
        elif message.fuzzy:
            problems.append(f"marked fuzzy: {msgid!r} ({', '.join(where)})")
        elif not all(s and s.strip() for s in strings(message)):
            problems.append(f"no translation: {msgid!r} ({', '.join(where)})")
    assert not problems, "run `make messages` and translate in messages.po:\n" + "\n".join(problems)


def test_no_entry_is_fuzzy():
    fuzzy = [message.id for message in entries() if message.fuzzy]
    assert not catalog().fuzzy, "the header entry is marked fuzzy"
    assert not fuzzy, f"fuzzy entries are ignored at run time: {fuzzy}"


def test_translations_keep_their_placeholders():
    problems = []
    for message in entries():
        expected = {name for msgid in ids(message) for name in PLACEHOLDER.findall(msgid)}
        for text in strings(message):
            if not text:
                continue
            got = set(PLACEHOLDER.findall(text))
            if got != expected:
                problems.append(f"{message.id!r}: expected {sorted(expected)}, translation has {sorted(got)}: {text!r}")
            elif expected:
                try:
                    text % {name: "x" for name in expected}  # exactly what portal.i18n.gettext does
                except (ValueError, TypeError, KeyError) as exc:
                    problems.append(f"{message.id!r}: translation cannot be formatted ({exc}): {text!r}")
    assert not problems, "\n".join(problems)


def test_runtime_lookup():
    assert i18n.gettext("Sign out") == "退出"
    assert i18n._("Hello, %(name)s.", name="王芳") == "王芳，您好。"


def test_jinja_newstyle_gettext_uses_the_catalog():
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    env.install_gettext_translations(i18n.translations(), newstyle=True)  # as portal.app does
    template = env.from_string('{{ _("Skip to main content") }}|{{ _("Hello, %(name)s.", name=who) }}')
    assert template.render(who="王芳") == "跳到主要内容|王芳，您好。"
