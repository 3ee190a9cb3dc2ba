"""The numbers page: per center (with its subtree rolled up) and period, from the counters only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from litestar import Request, Response, Router, get

from portal import clock
from portal.auth.guards import staff_guard
from portal.db import raw
from portal.i18n import _
from portal.matters.forms import parse_date
from portal.centers.scope import prefix_range
from portal.matters.stats import METRICS
from portal.tables import Center
from portal.web.render import render
from portal.web.request import principal

__all__ = ["ROUTES", "RATES", "rollup"]

# rate: (numerator, denominator, label, formula as published on the definitions page)
RATES = {
    "timely_acceptance": ("decided_in_time", "decided", "及时受理率",
                          "期限内作出受理、不予受理、转送或交办决定的事项数 ÷ 期间内作出上述决定的事项数"),
    "on_time_completion": ("replied_in_time", "replied", "按期办结率",
                           "在60日（经批准延期的，为延长后的期限）内出具处理意见书的事项数 ÷ 期间内出具处理意见书的事项数"),
    "satisfaction": ("satisfied", "rated", "满意率",
                     "评价为“满意”或“基本满意”的事项数 ÷ 期间内作出评价的事项数"),
}
COUNTS = {
    "received": ("受理登记", "期间内登记的事项数（各渠道）"),
    "accepted": ("受理", "期间内作出受理决定（含交办时受理）的事项数"),
    "declined": ("不予受理", "期间内出具不予受理告知书的事项数"),
    "forwarded": ("转送", "期间内转送其他中心或机关的事项数"),
    "on_spot": ("现场化解", "期间内答复时记为现场化解的事项数"),
    "joint": ("联合调处", "期间内答复时记为联合调处的事项数"),
    "replied": ("答复", "期间内出具处理意见书的事项数"),
    "closed": ("办结", "期间内办结的事项数"),
}


@dataclass
class Period:
    start: dt.date
    end: dt.date


def _period(params) -> tuple[Period, dict]:
    today = clock.local(clock.now()).date()
    errors: dict[str, str] = {}
    start_raw, end_raw = params.get("from") or "", params.get("to") or ""
    start = parse_date(start_raw) if start_raw else today.replace(day=1)
    end = parse_date(end_raw) if end_raw else today
    if start is None:
        errors["from"] = _("Enter the first day as a date, for example 2026-01-01.")
    if end is None:
        errors["to"] = _("Enter the last day as a date, for example 2026-12-31.")
    if start and end and start > end:
        errors["to"] = _("The last day must not be before the first day.")
    if errors:
        start, end = today.replace(day=1), today
    return Period(start, end), errors


async def rollup(center_path: str, period: Period) -> list[dict]:
    """One row per center of the subtree, each with its own and its subtree's counters."""
    low, high = prefix_range(center_path)
    centers = await Center.select(Center.id, Center.name, Center.level, Center.path).where(
        (Center.path >= low) & (Center.path < high)
    ).order_by(Center.path)
    sums = await raw(
        "SELECT s.center, s.metric, SUM(s.count) AS n FROM matter_stat s JOIN center c ON c.id = s.center "
        "WHERE c.path >= {} AND c.path < {} AND s.day >= {} AND s.day <= {} GROUP BY s.center, s.metric",
        low, high, period.start, period.end,
    )
    own: dict[int, dict[str, int]] = {}
    for row in sums:
        own.setdefault(row["center"], {})[row["metric"]] = int(row["n"])
    rows = []
    for center in centers:
        totals = {metric: 0 for metric in METRICS}
        for other in centers:
            if other["path"].startswith(center["path"]):
                for metric, n in own.get(other["id"], {}).items():
                    totals[metric] += n
        rates = {}
        for key, (num, den, _label, _formula) in RATES.items():
            rates[key] = (totals[num], totals[den], (totals[num] / totals[den] * 100) if totals[den] else None)
        rows.append({**center, "depth": center["path"].count("/") - center_path.count("/"), "totals": totals, "rates": rates})
    return rows


@get("/numbers", opt={"permission": "numbers.view"})
async def numbers_page(request: Request) -> Response:
    user = principal(request)
    period, errors = _period(request.query_params)
    rows = await rollup(user.center_path, period)
    values = {"from": request.query_params.get("from") or period.start.isoformat(), "to": request.query_params.get("to") or period.end.isoformat()}
    return await render(request, "matters/numbers.html", {
        "title": _("Numbers"), "rows": rows, "period": period, "values": values, "errors": errors,
        "rates": RATES, "counts": COUNTS,
    }, status=422 if errors else 200)


@get("/numbers/definitions", opt={"permission": "numbers.view"})
async def definitions_page(request: Request) -> Response:
    return await render(request, "matters/definitions.html", {"title": _("How the numbers are counted"), "rates": RATES, "counts": COUNTS})


ROUTES = [Router(path="/", guards=[staff_guard], route_handlers=[numbers_page, definitions_page])]
