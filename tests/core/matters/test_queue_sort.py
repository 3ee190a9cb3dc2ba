"""The work queue's center subtree filter and its sorts, page by page through the keyset token.

Each sort is walked with the real count cap and with a cap of 3, which makes SQLite take the
other way to read a page (walking the sort's index instead of sorting the few matches).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import re

import pytest

from portal import clock
from portal.matters import queue
from portal.matters.tables import Matter
from portal.matters.vocab import OPEN_STATUSES
from portal.tables import Center, Department
from tests.core.matters.helpers import act, register_at_window

ROW_ID = re.compile(r'<a href="/matters/(\d+)" class="code">')
NEXT = re.compile(r'<nav class="pagination"[^>]*><a href="([^"]+)">')


def ids_on(response) -> list[int]:
    assert response.status_code == 200, response.status_code
    return [int(i) for i in ROW_ID.findall(response.text)]


def next_link(response) -> str | None:
    found = NEXT.search(response.text)
    return html.unescape(found.group(1)) if found else None


async def walk(client, url: str) -> tuple[list[int], list[str]]:
    """Every page from ``url`` on by the "next page" links: all ids in order, and the links."""
    ids, links = [], []
    while url:
        response = await client.get(url)
        ids += ids_on(response)
        url = next_link(response)
        if url:
            links.append(url)
    return ids, links


async def seed() -> dict[str, dict]:
    """75 matters over the demo tree with deadlines that tie (end of day, like the real clock),
    some open without a deadline, closed ones without one, and scattered update times."""
    centers = {c["code"]: c for c in await Center.select()}
    places = ["GZQ", "GZQ-DMZ", "GZQ-DMZ-XXC", "GZQ-DMZ-DMC", "GZQ-DZZ", "GZQ-DZZ-DZC"]
    now = clock.now()
    day_end = now.replace(hour=15, minute=59, second=59, microsecond=0)
    rows = []
    for i in range(75):
        center = centers[places[i % len(places)]]
        status = ["registered", "accepted", "assigned", "closed", "replied", "review"][i % 6]
        due = None if status == "closed" or i % 11 == 0 else day_end + dt.timedelta(days=(i * 7) % 5)
        rows.append(Matter(
            code=f"QS{i:06d}", category="labour" if i % 2 else "neighbour", channel="visit", summary=f"排序事项{i}",
            center=center["id"], center_path=center["path"], origin_center=center["id"], status=status,
            received_at=now - dt.timedelta(days=75 - i), due_at=due,
            updated_at=now - dt.timedelta(hours=(i * 13) % 29, minutes=i),
        ))
    await Matter.insert(*rows)
    return centers


def expected(rows: list[dict], sort: str) -> list[int]:
    if sort == "newest":
        return [r["id"] for r in sorted(rows, key=lambda r: -r["id"])]
    if sort == "oldest":
        return [r["id"] for r in sorted(rows, key=lambda r: r["id"])]
    if sort == "due":
        open_rows = [r for r in rows if r["status"] in OPEN_STATUSES]
        return [r["id"] for r in sorted(open_rows, key=lambda r: (r["due_at"] is None, r["due_at"] or dt.datetime.min.replace(tzinfo=dt.timezone.utc), r["id"]))]
    return [r["id"] for r in sorted(rows, key=lambda r: (r["updated_at"], r["id"]), reverse=True)]


@pytest.mark.parametrize("cap", [queue.COUNT_CAP, 3])
@pytest.mark.parametrize("sort", list(queue.SORTS))
async def test_each_sort_pages_through_every_matter_in_order(client_factory, monkeypatch, sort, cap):
    monkeypatch.setattr(queue, "COUNT_CAP", cap)
    await seed()
    district = await client_factory()
    await district.login("gzq_admin")
    all_rows = await Matter.select(Matter.id, Matter.status, Matter.due_at, Matter.updated_at, Matter.center_path)
    url = "/matters" if sort == "newest" else f"/matters?sort={sort}"
    ids, links = await walk(district, url)
    assert ids == expected(all_rows, sort)
    assert len(links) >= 2  # at least three pages: the token carries the key across page breaks
    assert all((f"sort={sort}" in link) == (sort != "newest") for link in links)
    if sort in ("due", "updated"):
        # A compound key (deadline or update time, id) in an opaque token, not a bare id.
        assert not re.search(r"after=\d+(&|$)", links[0])
    # The same walk inside a township: its subtree only, same order.
    township = await client_factory()
    await township.login("dmz_admin")
    ids, _links = await walk(township, url)
    assert ids == expected([r for r in all_rows if r["center_path"].startswith("/1/2/")], sort)


async def test_deadline_sort_lists_open_matters_and_keeps_the_filters(client_factory):
    await seed()
    district = await client_factory()
    await district.login("gzq_admin")
    rows = await Matter.select(Matter.id, Matter.status, Matter.due_at, Matter.updated_at, Matter.category).where(Matter.category == "labour")
    ids, links = await walk(district, "/matters?category=labour&sort=due")
    assert ids == expected(rows, "due")
    assert all("category=labour" in link and "sort=due" in link for link in links)
    first = await district.get("/matters?sort=due")
    assert 'aria-sort="ascending"' in first.text
    assert '<option value="due" selected>' in first.text


async def test_forged_or_garbled_tokens_restart_at_page_one(client_factory):
    await seed()
    district = await client_factory()
    await district.login("gzq_admin")

    def token(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    for sort in queue.SORTS:
        first = ids_on(await district.get(f"/matters?sort={sort}"))
        for bad in ["garbage!!", "-5", "9" * 40, "%00", token("updated:1:1") if sort == "due" else token("due:1:1"),
                    token(f"{sort}:{10 ** 30}:1"), token(f"{sort}:x:1"), token(f"{sort}:1:-1"), token("a:b"), "AAAA", "=="]:
            response = await district.get("/matters", params={"sort": sort, "after": bad})
            assert ids_on(response) == first, (sort, bad)
            assert "返回第一页" not in response.text
    # An unknown sort is the default one.
    assert ids_on(await district.get("/matters?sort=drop+table")) == ids_on(await district.get("/matters"))


async def test_a_townships_filter_takes_its_villages_and_only_its_own_on_request(client_factory):
    centers = await seed()
    dmz, dzz = centers["GZQ-DMZ"], centers["GZQ-DZZ"]
    district = await client_factory()
    await district.login("gzq_admin")
    by_path = {r["id"]: r["center_path"] for r in await Matter.select(Matter.id, Matter.center_path)}

    subtree, _links = await walk(district, f"/matters?center={dmz['id']}")
    assert subtree and {by_path[i] for i in subtree} == {dmz["path"], centers["GZQ-DMZ-XXC"]["path"], centers["GZQ-DMZ-DMC"]["path"]}
    assert subtree == sorted((i for i, p in by_path.items() if p.startswith(dmz["path"])), reverse=True)
    own, links = await walk(district, f"/matters?center={dmz['id']}&only=1&sort=oldest")
    assert own == sorted(i for i, p in by_path.items() if p == dmz["path"])
    assert all("only=1" in link for link in links)
    # The options show the tree: villages indented under their township.
    page = await district.get("/matters")
    assert re.search(r'<option value="%d">\u3000\u3000新新村' % centers["GZQ-DMZ-XXC"]["id"], page.text)
    assert re.search(r'<option value="%d">\u3000大满镇' % dmz["id"], page.text)

    # A township choosing another township's id gets its own subtree, nothing of the other's.
    township = await client_factory()
    await township.login("dmz_admin")
    mine = ids_on(await township.get("/matters"))
    for query in (f"center={dzz['id']}", f"center={dzz['id']}&only=1", f"center={centers['GZQ']['id']}", "center=99999"):
        shown = ids_on(await township.get(f"/matters?{query}"))
        assert shown == mine, query
        assert all(by_path[i].startswith(dmz["path"]) for i in shown)


async def test_htmx_update_keeps_the_sort_and_the_center(client_factory):
    centers = await seed()
    district = await client_factory()
    await district.login("gzq_admin")
    dmz = centers["GZQ-DMZ"]["id"]
    fragment = await district.get(f"/matters?center={dmz}&sort=updated", headers={"HX-Request": "true", "HX-Target": "queue-results"})
    assert fragment.text.lstrip().startswith('<div id="queue-results">') and "<form" not in fragment.text
    link = next_link(fragment)
    assert link and f"center={dmz}" in link and "sort=updated" in link
    second = await district.get(link, headers={"HX-Request": "true", "HX-Target": "queue-results"})
    assert set(ids_on(second)).isdisjoint(ids_on(fragment))


async def test_department_officer_view_is_unaffected_by_center_and_sort(client_factory):
    window = await client_factory()
    await window.login("gzq_window")
    assigned = await register_at_window(window, summary="欠薪")
    other = await register_at_window(window, summary="噪音", petitioner_phone="13700137000", category="neighbour")
    rsj = await Department.select(Department.id).where(Department.code == "RSJ").first()
    soon = (clock.local(clock.now()) + dt.timedelta(days=10)).date().isoformat()
    await act(window, assigned["id"], "assign", department=rsj["id"], due_date=soon, instruction="请核查")
    await seed()
    officer = await client_factory()
    await officer.login("rsj_officer")
    for sort in queue.SORTS:
        for query in (f"sort={sort}", f"sort={sort}&center={assigned['center']}", f"sort={sort}&center={assigned['center']}&only=1"):
            assert ids_on(await officer.get(f"/matters?{query}")) == [assigned["id"]], query
    assert other["id"] not in ids_on(await officer.get("/matters?sort=oldest"))


def test_deadline_sort_repeats_the_partial_index_predicate():
    """SQLite uses the partial index of open matters only for a query with the same WHERE term."""
    import importlib

    migration = importlib.import_module("portal.piccolo_migrations.portal_2026_11_27t04_07_13_000000")
    index = next(s for s in migration.STATEMENTS if "matter_open_due_id" in s)
    assert index.endswith(queue.OPEN_SQL.removeprefix("m."))
    assert all(f"'{status}'" in queue.OPEN_SQL for status in OPEN_STATUSES)
