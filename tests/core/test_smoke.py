from tests.conftest import html_text


async def test_home_and_login(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert "甘州区综治中心" in response.text
    await client.login("gzq_admin")
    response = await client.get("/dashboard")
    assert response.status_code == 200
    assert "区中心管理员（演示）" in html_text(response)


def test_local_times_typed_in_forms_are_read_as_china_time():
    import datetime as dt

    from portal.web.forms import parse_local_datetime

    expected = dt.datetime(2026, 11, 27, 6, 30, tzinfo=dt.timezone.utc)
    for typed in ("2026-11-27 14:30", "2026-11-27T14:30", "2026/11/27 14:30", " 2026-11-27 14:30:00 ", "２０２６-１１-２７ １４:３０"):
        assert parse_local_datetime(typed) == expected, typed
    for typed in ("", "明天下午", "2026-13-01 10:00", "2026-11-27", None):
        assert parse_local_datetime(typed) is None, typed
