"""On a phone (390×844 CSS px): window staff sign in and reach the workbench, and every button, form
control and standalone link in the header and main area is at least 44×44 CSS px (ux.md).

Links inside running text (an inline ``<a>`` in a paragraph, such as 「提出意见建议」 in the phase
banner) are exempt: their height is the line's, as WCAG 2.5.8 allows for inline targets.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal.i18n import gettext
from tests.browser.conftest import sign_in

MIN_TARGET = 44.0

TARGETS_JS = """() => {
  const selector = ['a[href]', 'button', 'input:not([type=hidden])', 'select', 'textarea', 'summary']
    .flatMap((what) => ['header ' + what, 'main ' + what]).join(', ');
  return [...document.querySelectorAll(selector)]
    .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
    .map((el) => {
      const box = el.getBoundingClientRect();
      const inline = el.tagName === 'A' && getComputedStyle(el).display === 'inline' && el.closest('p') !== null;
      return {
        what: el.tagName.toLowerCase() + (el.className ? '.' + el.className.split(' ').join('.') : ''),
        text: (el.textContent || el.getAttribute('aria-label') || el.name || '').trim().replace(/\\s+/g, ' ').slice(0, 40),
        width: Math.round(box.width * 10) / 10,
        height: Math.round(box.height * 10) / 10,
        inline: inline,
      };
    });
}"""


def _small_targets(page, label: str) -> tuple[list[str], list[str]]:
    small, exempt = [], []
    for target in page.evaluate(TARGETS_JS):
        if target["width"] >= MIN_TARGET - 0.01 and target["height"] >= MIN_TARGET - 0.01:
            continue
        line = f"{label}: {target['what']} 「{target['text']}」 {target['width']}×{target['height']}"
        (exempt if target["inline"] else small).append(line)
    return small, exempt


@pytest.mark.browser
def test_window_staff_on_a_phone(phone_page):
    page = phone_page
    page.goto("/login")
    small, exempt = _small_targets(page, "/login")
    sign_in(page, "dmz_window")
    expect(page.locator("h1")).to_have_text(gettext("Workbench"))
    expect(page.locator("header nav.service-nav").get_by_role("link", name="示例服务", exact=True)).to_be_visible()
    more_small, more_exempt = _small_targets(page, "/dashboard")
    small += more_small
    exempt += more_exempt
    if exempt:
        print("inline text links under 44×44 (exempt):\n  " + "\n  ".join(exempt))
    assert not small, f"targets under {MIN_TARGET:.0f}×{MIN_TARGET:.0f} CSS px on a phone:\n" + "\n".join(small)
    # Nothing scrolls sideways on the phone either.
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
