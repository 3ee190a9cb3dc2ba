"""The module's tables exist on both engines with their composite uniques."""

import datetime as dt

import pytest

from portal.db import raw, write_transaction
from tests.legal_aid.helpers import center_id, staff_id


async def test_duty_rows_are_unique_per_lawyer_day_and_start(app):
    gzq, lawyer = await center_id("GZQ"), await staff_id("lawyer")
    async with write_transaction():
        await raw("INSERT INTO legal_aid_lawyer (center, staff) VALUES ({}, {}) ON CONFLICT (staff) DO NOTHING", gzq, lawyer)
    profile = (await raw("SELECT id FROM legal_aid_lawyer WHERE staff = {}", lawyer))[0]["id"]
    async with write_transaction():
        await raw("INSERT INTO legal_aid_duty (center, lawyer, day, start_minute, end_minute) "
                  "VALUES ({}, {}, '2030-12-02', 510, 720)", gzq, profile)
    with pytest.raises(Exception):
        async with write_transaction():
            await raw("INSERT INTO legal_aid_duty (center, lawyer, day, start_minute, end_minute) "
                      "VALUES ({}, {}, '2030-12-02', 510, 600)", gzq, profile)
    assert len(await raw("SELECT id FROM legal_aid_duty WHERE lawyer = {} AND day = {}", profile, dt.date(2030, 12, 2))) == 1
