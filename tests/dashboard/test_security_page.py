"""The security page over real HTTPS: the event log (a real failed station
login over WSS), the API keys and operators an admin manages."""

from __future__ import annotations

import re

import pytest
from websockets.exceptions import InvalidStatus

from dashboard.conftest import DashboardClient
from integration.stations import open_socket
from opencsms.app import CentralSystem
from opencsms.domain.model import ApiRole


def event_ids(html: str) -> list[int]:
    part = html.split('id="security-events"', 1)[1].split("</table>", 1)[0]
    return [int(i) for i in re.findall(r"<td class=\"num\">(\d+)</td>", part)]


async def test_a_failed_station_login_shows_in_the_log_for_every_operator(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    await central.services.stations.register("SEC-1")
    with pytest.raises(InvalidStatus):
        await open_socket(central, "SEC-1", "not-the-key")
    await central.services.security.flush()
    [event] = await central.services.security.recent(kind="station.login_failed")

    page = await reader_page.get("/dashboard/security")
    assert page.status_code == 200
    row = page.text.split(f'<td class="num">{event.id}</td>', 1)[1].split("</tr>", 1)[0]
    assert "station.login_failed" in row
    assert '<a href="/dashboard/stations/SEC-1">SEC-1</a>' in row
    assert "127.0.0.1" in row and event.detail in row
    assert 'data-live="security."' in page.text
    # the reader's own login is there too; keys and operators are not
    assert "operator.login" in page.text and "viewer" in page.text
    assert "API keys" not in page.text and 'id="operators"' not in page.text

    only = await reader_page.get("/dashboard/security", params={"kind": "operator.login"})
    assert event.id not in event_ids(only.text)
    assert '<option value="operator.login" selected>' in only.text


async def test_the_log_pages_by_id_newest_first(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    for i in range(110):
        await central.services.security.record("operator.login_failed", f"x{i}", None, "bad")
    ids = [e.id for e in await central.services.security.recent(500)]
    seen: list[int] = []
    page = await reader_page.get("/dashboard/security")
    for _ in range(5):
        rows = event_ids(page.text)
        assert len(rows) <= 50
        seen += rows
        cursor = re.search(r'href="/dashboard/security\?kind=&amp;after=(\d+)"', page.text)
        if cursor is None:
            break
        assert int(cursor.group(1)) == rows[-1]
        page = await reader_page.get(f"/dashboard/security?after={cursor.group(1)}")
    assert seen == ids and len(ids) > 110  # with the reader's account and login
    fragment = await reader_page.get("/dashboard/security/events", params={"after": ids[49]})
    assert event_ids(fragment.text) == ids[50:100] and "<html" not in fragment.text


async def test_an_admin_revokes_a_key_after_confirming(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    created = await central.services.api_keys.create("ci-robot", ApiRole.READ_ONLY)
    key_id = created.key.id
    page = await admin_page.get("/dashboard/security")
    assert "ci-robot" in page.text and key_id in page.text
    assert f"Yes, revoke key {key_id}" in page.text  # the second click, inside <details>
    assert "<summary>Revoke…</summary>" in page.text

    forged = await admin_page.http.post(
        f"/dashboard/security/keys/{key_id}/revoke", headers={"HX-Request": "true"}
    )
    assert forged.status_code == 403
    key = await central.services.api_keys.get(key_id)
    assert key is not None and key.revoked_at is None

    revoked = await admin_page.post(f"/dashboard/security/keys/{key_id}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert 'id="api-keys"' in revoked.text and "Revoked" in revoked.text
    key = await central.services.api_keys.get(key_id)
    assert key is not None and key.revoked_at is not None
    assert await central.services.api_keys.verify(created.token) is None
    [event] = await central.services.security.recent(kind="api_key.revoked")
    assert event.subject == "ci-robot" and "by operator ops" in event.detail
    unknown = await admin_page.post("/dashboard/security/keys/0000/revoke")
    assert unknown.status_code == 404


async def test_an_admin_disables_an_operator_but_not_themself(
    central: CentralSystem, admin_page: DashboardClient, reader_page: DashboardClient
) -> None:
    page = await admin_page.get("/dashboard/security")
    assert "Yes, disable viewer" in page.text and "Yes, disable ops" not in page.text
    assert (await reader_page.get("/dashboard/security")).status_code == 200

    disabled = await admin_page.post("/dashboard/security/operators/viewer/disable")
    assert disabled.status_code == 200, disabled.text
    assert 'id="operators"' in disabled.text and "Disabled" in disabled.text
    viewer = await central.services.operators.get("viewer")
    assert viewer is not None and viewer.disabled_at is not None
    gone = await reader_page.get("/dashboard/security")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/dashboard/login")
    [event] = await central.services.security.recent(kind="operator.disabled")
    assert event.subject == "viewer"

    myself = await admin_page.post("/dashboard/security/operators/ops/disable")
    assert myself.status_code == 422 and "your own account" in myself.text
    unknown = await admin_page.post("/dashboard/security/operators/nobody/disable")
    assert unknown.status_code == 404
    me = await central.services.operators.get("ops")
    assert me is not None and me.disabled_at is None


async def test_read_only_operators_cannot_manage_keys_or_operators(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    await central.services.operators.create("other", "another long password", ApiRole.ADMIN)
    created = await central.services.api_keys.create("ci-robot", ApiRole.ADMIN)
    for path in (
        f"/dashboard/security/keys/{created.key.id}/revoke",
        "/dashboard/security/operators/other/disable",
    ):
        refused = await reader_page.post(path)
        assert refused.status_code == 403 and "read-only" in refused.text
    key = await central.services.api_keys.get(created.key.id)
    other = await central.services.operators.get("other")
    assert key is not None and key.revoked_at is None
    assert other is not None and other.disabled_at is None
