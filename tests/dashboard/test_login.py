"""Logging in and out of the dashboard, over real HTTPS, through the real form."""

from __future__ import annotations

import httpx

from dashboard.conftest import PASSWORD, DashboardClient, log_in
from integration.conftest import api_client_for
from opencsms.app import CentralSystem
from opencsms.domain.model import ApiRole


async def test_a_page_without_a_session_goes_to_the_login_form(central: CentralSystem) -> None:
    async with api_client_for(central, None) as http:
        page = await http.get("/dashboard/stations/CP1?x=1")
        assert page.status_code == 303
        assert page.headers["location"] == "/dashboard/login?next=/dashboard/stations/CP1%3Fx%3D1"

        fragment = await http.get("/dashboard/", headers={"HX-Request": "true"})
        assert fragment.status_code == 401
        assert fragment.headers["HX-Redirect"].startswith("/dashboard/login?next=")

        assert (await http.get("/dashboard/stream")).status_code == 303
        root = await http.get("/dashboard")
        assert (root.status_code, root.headers["location"]) == (308, "/dashboard/")


async def test_logging_in_sets_a_locked_down_session_cookie(central: CentralSystem) -> None:
    await central.services.operators.create("ops", PASSWORD, ApiRole.ADMIN)
    async with api_client_for(central, None) as http:
        response = await log_in(http, "ops", PASSWORD)
        assert response.status_code == 200
        assert str(response.url).endswith("/dashboard/")
        set_cookie = response.history[0].headers["set-cookie"]
        for attribute in (
            "opencsms_session=",
            "HttpOnly",
            "Secure",
            "Path=/dashboard",
            "SameSite=lax",
        ):
            assert attribute.lower() in set_cookie.lower(), set_cookie
        assert "ops" in response.text and "Log out" in response.text
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"


async def test_a_wrong_password_or_unknown_name_gets_one_message_and_no_session(
    central: CentralSystem,
) -> None:
    await central.services.operators.create("ops", PASSWORD, ApiRole.ADMIN)
    async with api_client_for(central, None) as http:
        for name, password in (("ops", "wrong password!"), ("nobody", PASSWORD)):
            response = await log_in(http, name, password)
            assert response.status_code == 401
            assert "Wrong name or password." in response.text
            assert "opencsms_session" not in http.cookies
        assert (await http.get("/dashboard/")).status_code == 303


async def test_the_login_form_refuses_a_post_without_its_own_token(central: CentralSystem) -> None:
    """Login CSRF: another site cannot log the browser in as someone else."""
    await central.services.operators.create("ops", PASSWORD, ApiRole.ADMIN)
    async with api_client_for(central, None) as http:
        response = await http.post(
            "/dashboard/login",
            data={"username": "ops", "password": PASSWORD, "login_token": "forged"},
        )
        assert response.status_code == 403
        assert "expired" in response.text
        assert "opencsms_session" not in http.cookies


async def test_after_login_only_a_dashboard_path_is_followed(central: CentralSystem) -> None:
    await central.services.operators.create("ops", PASSWORD, ApiRole.ADMIN)
    async with api_client_for(central, None) as http:
        form = await http.get("/dashboard/login", params={"next": "//evil.example/x"})
        assert 'name="next" value="/dashboard/"' in form.text
        token = form.text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
        response = await http.post(
            "/dashboard/login",
            data={
                "username": "ops",
                "password": PASSWORD,
                "login_token": token,
                "next": "https://evil.example/",
            },
        )
        assert (response.status_code, response.headers["location"]) == (303, "/dashboard/")


async def test_logging_out_needs_the_csrf_token_and_ends_the_session(
    admin_page: DashboardClient,
) -> None:
    forged = await admin_page.http.post("/dashboard/logout")
    assert forged.status_code == 403
    assert (await admin_page.get("/dashboard/")).status_code == 200

    response = await admin_page.post("/dashboard/logout", htmx=False)
    assert (response.status_code, response.headers["location"]) == (303, "/dashboard/login")
    assert (await admin_page.get("/dashboard/")).status_code == 303


async def test_static_files_need_no_login_and_api_errors_stay_json(central: CentralSystem) -> None:
    async with api_client_for(central, None) as http:
        script = await http.get("/dashboard/static/vendor/htmx.min.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert "htmx" in script.text[:2000]
        assert (await http.get("/dashboard/static/dashboard.js")).status_code == 200
        missing = await http.get("/api/v1/no-such-thing")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "Not Found"}


async def test_a_missing_dashboard_page_is_an_html_error_page(admin_page: DashboardClient) -> None:
    response = await admin_page.get("/dashboard/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Back to the fleet" in response.text


async def test_the_session_cookie_alone_is_not_enough_for_a_post(
    admin_page: DashboardClient,
) -> None:
    """A forged cross-site POST carries the cookie but not the page's token."""
    assert isinstance(admin_page.http, httpx.AsyncClient)
    response = await admin_page.http.post(
        "/dashboard/logout", headers={"X-CSRF-Token": "not-the-token"}
    )
    assert response.status_code == 403


async def test_a_bad_query_value_is_an_html_422_naming_the_field(
    admin_page: DashboardClient,
) -> None:
    response = await admin_page.get("/dashboard/webhooks/not-a-number")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "webhook_id" in response.text
