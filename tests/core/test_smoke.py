from tests.conftest import html_text


async def test_home_and_login(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert "甘州区综治中心" in response.text
    await client.login("gzq_admin")
    response = await client.get("/dashboard")
    assert response.status_code == 200
    assert "区中心管理员（演示）" in html_text(response)
