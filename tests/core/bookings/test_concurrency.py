"""Done-when 2: the last seat goes to exactly one of 200 simultaneous citizens (real HTTP through the
app, both engines), the others see 「该时段刚被约满」 on the booking page; a resource shared by two
services is never in two bookings at once."""

from __future__ import annotations

import asyncio

from portal.bookings import service as svc
from portal.bookings.catalog import service_by_key
from portal.db import raw
from tests.conftest import html_text
from tests.core.bookings.helpers import CONSULT, SESSION, add_resource, at, citizen_client, ctx, enable_sample, next_workday, submission_key

ATTEMPTS = 200


async def test_two_hundred_citizens_race_for_the_last_seat(app, client_factory):
    center = await enable_sample(app)
    await add_resource(center["id"], hours=((9 * 60, 9 * 60 + 20),))  # exactly one 20-minute slot a day
    day = next_workday()
    minute = at(day, 9)
    clients = [await citizen_client(client_factory, f"139{i:08d}") for i in range(ATTEMPTS)]
    keys = []
    for c in clients[:1]:
        page = await c.get(f"/book/{center['id']}/{CONSULT}/check", params={"slot": str(minute)})
        assert page.status_code == 200
    token = await clients[0].csrf()
    for c in clients:
        c.cookies.set(c.csrf_cookie, token)
        keys.append(submission_key((await c.get(f"/book/{center['id']}/{CONSULT}/check", params={"slot": str(minute)})).text))

    async def attempt(c, key):
        return await c.post(f"/book/{center['id']}/{CONSULT}/confirm",
                            data={"_csrf_token": token, "slot": str(minute), "_submission_key": key}, follow_redirects=False)

    responses = await asyncio.gather(*(attempt(c, k) for c, k in zip(clients, keys)))
    codes = [r.status_code for r in responses]
    assert codes.count(303) == 1, codes
    assert codes.count(409) == ATTEMPTS - 1, codes
    refusals = [r for r in responses if r.status_code == 409]
    assert all("该时段刚被约满" in html_text(r) for r in refusals)
    assert all("error-summary" in r.text for r in refusals)  # the booking page with the message, not an error page
    rows = await raw("SELECT count(*) AS n FROM booking WHERE status = 'booked'")
    assert rows[0]["n"] == 1
    claims = await raw("SELECT taken FROM booking_claim")
    assert claims and all(c["taken"] == 1 for c in claims)


async def test_a_resource_is_never_in_two_bookings_across_services(app, client_factory):
    center = await enable_sample(app)
    rid = await add_resource(center["id"], services=(CONSULT, SESSION))
    day = next_workday()
    registry = app.state.registry
    consult, session = service_by_key(registry, CONSULT), service_by_key(registry, SESSION)
    booked = await svc.book(ctx(app), center["id"], consult, at(day, 9, 20), citizen_id=None, name="甲", channel="walk_in")
    assert booked["resource"] == rid
    # The 60-minute session at 9:00 would overlap 9:20–9:40: not offered as free, refused if forced.
    a = await citizen_client(client_factory, "13700000001")
    page = await a.get(f"/book/{center['id']}/{SESSION}")
    assert f'value="{at(day, 9)}"' not in page.text
    response = await a.get(f"/book/{center['id']}/{SESSION}/check", params={"slot": str(at(day, 9))})
    assert response.status_code == 409 and "该时段刚被约满" in html_text(response)

    # Concurrently: 30 attempts at the consult 10:00 and 30 at the session 10:00 → one winner in total.
    async def one(service, n):
        try:
            await svc.book(ctx(app), center["id"], service, at(day, 10), citizen_id=None, name=f"客{n}", channel="walk_in")
            return "booked"
        except svc.SlotTaken:
            return "taken"

    results = await asyncio.gather(*(one(consult if i % 2 else session, i) for i in range(60)))
    assert results.count("booked") == 1, results
    rows = await raw("SELECT starts_at, ends_at FROM booking WHERE resource = {} AND status = 'booked' ORDER BY starts_at", rid)
    for earlier, later in zip(rows, rows[1:]):
        assert svc._dt(earlier["ends_at"]) <= svc._dt(later["starts_at"])


async def test_a_group_slot_shares_its_seats_and_only_with_its_own_service(app):
    center = await enable_sample(app)
    await add_resource(center["id"], services=(CONSULT, SESSION))
    day = next_workday()
    registry = app.state.registry
    import dataclasses

    group = dataclasses.replace(service_by_key(registry, CONSULT), capacity=2)
    session = service_by_key(registry, SESSION)
    for name in ("甲", "乙"):
        await svc.book(ctx(app), center["id"], group, at(day, 9), citizen_id=None, name=name, channel="walk_in")
    from portal.bookings import availability as av

    found = await av.search(center["id"], group, first=day, days=1)
    assert at(day, 9) not in [s for s, _r in found.days[day]]
    try:
        await svc.book(ctx(app), center["id"], group, at(day, 9), citizen_id=None, name="丙", channel="walk_in")
        raise AssertionError("a third seat was sold")
    except svc.SlotTaken:
        pass
    # One seat left after a cancellation is free for the same service, never for another one.
    first = (await raw("SELECT id FROM booking WHERE name = '甲'"))[0]["id"]
    await svc.cancel(ctx(app), first, "不来了", citizen_id=None, registry=_Registry(registry, group))
    found = await av.search(center["id"], group, first=day, days=1)
    assert at(day, 9) in [s for s, _r in found.days[day]]
    assert at(day, 9) not in [s for s, _r in (await av.search(center["id"], session, first=day, days=1)).days[day]]


class _Registry:
    """The app's registry with the consult service replaced by its group variant (capacity 2)."""

    def __init__(self, registry, service):
        self.services = {**registry.services, service.key: (registry.services[service.key][0], service)}
        self.modules = registry.modules

    async def emit(self, *args, **kwargs):
        return None
