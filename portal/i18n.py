"""Message catalogs. Source strings are English; the UI is Simplified Chinese (zh_CN catalog).

The .po file is compiled in memory at import, so there is no build step and no stale .mo file.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

__all__ = ["LOCALE", "gettext", "ngettext", "translations", "_"]

LOCALE = "zh_CN"
LOCALE_DIR = Path(__file__).parent / "locale"


@lru_cache(maxsize=None)
def translations(locale: str = LOCALE) -> Translations:
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def gettext(message: str, **params: object) -> str:
    text = translations().gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    text = translations().ngettext(singular, plural, n)
    return text % params if params else text


_ = gettext
