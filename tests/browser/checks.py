"""What the browser tests check on every page they visit, in one place: the recorded ``Shot`` of a
page and the reports over a list of them (status, axe, the Nu checker, landmarks, text size).
Each report is a list of readable lines; empty means the check passed."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.browser.conftest import vnu

MODES = ("normal", "elder")
MIN_TEXT_PX = {"normal": 18.0, "elder": 22.0}
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]},
    "resultTypes": ["violations"],
}
# Running text of the page body (badges such as .tag and the phase banner are deliberately smaller).
FACTS_JS = """() => {
  const size = (el) => parseFloat(getComputedStyle(el).fontSize);
  const text = [...document.querySelectorAll('main p, main li, main dd, main dt, main td, main th, main label, main input:not([type=checkbox]):not([type=radio]), main select, main textarea, main button')]
    .filter((el) => el.getClientRects().length && !el.closest('.visually-hidden'))
    .map((el) => [el.tagName.toLowerCase() + (el.className ? '.' + el.className.split(' ').join('.') : ''), size(el)]);
  return {
    lang: document.documentElement.getAttribute('lang'),
    htmlClass: document.documentElement.className,
    mains: document.querySelectorAll('main').length,
    h1s: document.querySelectorAll('h1').length,
    body: size(document.body),
    text: text,
  };
}"""


@dataclass
class Shot:
    mode: str
    label: str
    url: str
    status: int | None
    expected_status: int
    source: str  # the HTML as the server sent it (parse errors show only here)
    html: str  # the document after parsing and scripts (page.content())
    violations: list[dict]
    facts: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"[{self.mode}] {self.label} ({self.url})"


def status_problems(shots: list[Shot]) -> list[str]:
    return [f"{s.name}: {s.status}, expected {s.expected_status}" for s in shots if s.status != s.expected_status]


def axe_problems(shots: list[Shot]) -> list[str]:
    report = []
    for shot in shots:
        for violation in shot.violations:
            targets = ", ".join(
                " ".join(node["target"]) if isinstance(node["target"], list) else str(node["target"])
                for node in violation["nodes"][:8]
            )
            report.append(f"{shot.name}: {violation['id']} ({violation['impact']}) {violation['help']} — {targets}")
    return report


def vnu_problems(shots: list[Shot]) -> list[str]:
    """Both what the server sent (parse errors show only there) and the live document, in one vnu run."""
    documents = [(f"{shot.name} as sent", shot.source) for shot in shots]
    documents += [(f"{shot.name} page.content()", shot.html) for shot in shots]
    results = vnu([html for _name, html in documents])
    return [f"{name}:\n    " + "\n    ".join(errors) for (name, _html), errors in zip(documents, results) if errors]


def shape_problems(shots: list[Shot]) -> list[str]:
    """Language, one <main> and one <h1>, and the 长辈版 class exactly in elder mode."""
    wrong = []
    for shot in shots:
        facts = shot.facts
        if facts["lang"] != "zh-CN":
            wrong.append(f"{shot.name}: <html lang={facts['lang']!r}>")
        if facts["mains"] != 1 or facts["h1s"] != 1:
            wrong.append(f"{shot.name}: {facts['mains']} <main>, {facts['h1s']} <h1>")
        if ("elder" in facts["htmlClass"].split()) != (shot.mode == "elder"):
            wrong.append(f"{shot.name}: <html class={facts['htmlClass']!r}>")
    return wrong


def small_text(shots: list[Shot], mode: str) -> list[str]:
    least = MIN_TEXT_PX[mode]
    small = []
    for shot in shots:
        if shot.facts["body"] < least:
            small.append(f"{shot.name}: body {shot.facts['body']}px")
        small += [f"{shot.name}: {what} {px}px" for what, px in shot.facts["text"] if px < least]
    return sorted(set(small))
