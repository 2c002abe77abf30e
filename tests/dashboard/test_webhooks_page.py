"""The webhooks page over real HTTPS, against a real local receiver: add (the
secret shown once), ping (the receiver's answer on the page), delete, the
paged delivery log; read-only operators look but do not touch."""

from __future__ import annotations

import re

from dashboard.conftest import DashboardClient
from opencsms.app import CentralSystem
from opencsms.domain.model import DeliveryState
from opencsms.domain.webhooks import verify_signature
from webhook_receiver import receiver

_SECRET = re.compile(r'id="new-secret" class="secret" readonly value="([^"]+)"')


def delivery_ids(html: str) -> list[int]:
    part = html.split("<h2>Deliveries</h2>", 1)[1].split("</table>", 1)[0]
    return [int(i) for i in re.findall(r"<td class=\"num\">(\d+)</td>", part)]


async def test_an_admin_adds_a_webhook_sees_its_secret_once_and_pings_it(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    page = await admin_page.get("/dashboard/webhooks")
    assert 'value="firmware.status"' in page.text and "No webhooks registered." in page.text
    async with receiver() as target:
        added = await admin_page.post(
            "/dashboard/webhooks",
            data={"url": target.url, "event_types": ["firmware.status", "station.connected"]},
        )
        assert added.status_code == 201, added.text
        [hook] = await central.services.webhooks.list()
        assert hook.url == target.url
        assert hook.event_types == ("firmware.status", "station.connected")
        secret = _SECRET.search(added.text)
        assert secret is not None and secret.group(1) == hook.secret
        assert 'id="webhook-list" hx-swap-oob="true"' in added.text  # the list, refreshed

        listed = await admin_page.get("/dashboard/webhooks")
        assert target.url in listed.text and "firmware.status, station.connected" in listed.text
        assert hook.secret not in listed.text and "Active" in listed.text

        pinged = await admin_page.post(f"/dashboard/webhooks/{hook.id}/ping")
        assert pinged.status_code == 200, pinged.text
        assert "delivered" in pinged.text and "HTTP 200" in pinged.text
        [request] = await target.wait_for(1)
    h = request.headers
    assert h["x-opencsms-event"] == "webhook.ping"
    assert verify_signature(
        hook.secret, h["x-opencsms-timestamp"], request.body, h["x-opencsms-signature"]
    )
    [delivery] = await central.services.webhooks.deliveries(hook.id)
    detail = await admin_page.get(f"/dashboard/webhooks/{hook.id}")
    assert delivery_ids(detail.text) == [delivery.id]
    row = detail.text.split(f'<td class="num">{delivery.id}</td>', 1)[1].split("</tr>", 1)[0]
    assert "webhook.ping" in row and "delivered" in row and "HTTP 200" in row


async def test_a_ping_to_a_failing_receiver_shows_the_failure_and_the_retry(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    async with receiver(statuses=[503]) as target:
        hook = await central.services.webhooks.register(target.url)
        pinged = await admin_page.post(f"/dashboard/webhooks/{hook.id}/ping")
    assert pinged.status_code == 200
    assert "pending" in pinged.text and "HTTP 503" in pinged.text and "next retry" in pinged.text
    [delivery] = await central.services.webhooks.deliveries(hook.id)
    assert delivery.state is DeliveryState.PENDING and delivery.attempts == 1


async def test_an_admin_deletes_a_webhook_after_confirming(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    keep = await central.services.webhooks.register("https://keep.example/hook")
    drop = await central.services.webhooks.register("https://drop.example/hook")
    page = await admin_page.get("/dashboard/webhooks")
    assert (
        f"Yes, delete webhook {drop.id}" in page.text and "<summary>Delete…</summary>" in page.text
    )

    forged = await admin_page.http.post(
        f"/dashboard/webhooks/{drop.id}/delete", headers={"HX-Request": "true"}
    )
    assert forged.status_code == 403
    assert len(await central.services.webhooks.list()) == 2

    deleted = await admin_page.post(f"/dashboard/webhooks/{drop.id}/delete")
    assert deleted.status_code == 200, deleted.text
    assert "https://keep.example/hook" in deleted.text
    assert "https://drop.example/hook" not in deleted.text
    assert [h.id for h in await central.services.webhooks.list()] == [keep.id]
    again = await admin_page.post(f"/dashboard/webhooks/{drop.id}/delete")
    assert again.status_code == 404 and f"No webhook {drop.id}" in again.text
    assert (await admin_page.get(f"/dashboard/webhooks/{drop.id}")).status_code == 404


async def test_bad_input_gets_422_with_the_reason(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    for data, reason in (
        ({"url": "ftp://files.example/x"}, "absolute http(s) URL"),
        ({"url": ""}, "enter the receiver"),
        ({"url": "https://a.example/x", "event_types": ["no.such.event"]}, "unknown event types"),
    ):
        response = await admin_page.post("/dashboard/webhooks", data=data)
        assert response.status_code == 422, response.text
        assert reason in response.text and 'role="alert"' in response.text
    assert await central.services.webhooks.list() == []
    assert (await admin_page.post("/dashboard/webhooks/999/ping")).status_code == 404


async def test_read_only_operators_see_webhooks_but_cannot_change_them(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    hook = await central.services.webhooks.register("https://ro.example/hook")
    page = await reader_page.get("/dashboard/webhooks")
    assert page.status_code == 200 and "https://ro.example/hook" in page.text
    assert "Add a webhook" not in page.text and "Ping" not in page.text
    assert hook.secret not in page.text
    for path, data in (
        ("/dashboard/webhooks", {"url": "https://x.example/hook"}),
        (f"/dashboard/webhooks/{hook.id}/ping", {}),
        (f"/dashboard/webhooks/{hook.id}/delete", {}),
    ):
        refused = await reader_page.post(path, data=data)
        assert refused.status_code == 403 and "read-only" in refused.text
    assert [h.id for h in await central.services.webhooks.list()] == [hook.id]
    assert await central.services.webhooks.deliveries(hook.id) == []


async def test_read_only_operators_do_not_see_a_token_in_a_webhook_url(
    central: CentralSystem, reader_page: DashboardClient, admin_page: DashboardClient
) -> None:
    hook = await central.services.webhooks.register(
        "https://u:pw@ro.example:8443/hook?token=s3cret"
    )
    for path in ("/dashboard/webhooks", f"/dashboard/webhooks/{hook.id}"):
        seen = (await reader_page.get(path)).text
        assert "s3cret" not in seen and "pw@" not in seen
        assert "https://ro.example:8443/hook (query hidden)" in seen
        assert "token=s3cret" in (await admin_page.get(path)).text


async def test_the_delivery_log_pages_newest_first(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    async with receiver() as target:
        hook = await central.services.webhooks.register(target.url)
        for _ in range(55):
            await central.services.webhooks.ping(hook.id)
    ids = [d.id for d in await central.services.webhooks.deliveries(hook.id, 100)]
    assert len(ids) == 55

    listing = await reader_page.get("/dashboard/webhooks")
    recent = listing.text.split("Latest deliveries", 1)[1]
    assert f'<td class="num">{ids[0]}</td>' in recent
    assert f'<td class="num">{ids[5]}</td>' not in recent  # five per webhook on the list

    first = await reader_page.get(f"/dashboard/webhooks/{hook.id}")
    assert delivery_ids(first.text) == ids[:50]
    assert f'href="/dashboard/webhooks/{hook.id}?after={ids[49]}"' in first.text
    second = await reader_page.get(f"/dashboard/webhooks/{hook.id}", params={"after": ids[49]})
    assert delivery_ids(second.text) == ids[50:]
    assert "Next page" not in second.text and "First page" in second.text


async def test_the_add_form_works_without_javascript_too(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    """A plain form post (CSRF token as a form field) answers with the whole page."""
    added = await admin_page.http.post(
        "/dashboard/webhooks",
        data={"url": "https://plain.example/hook", "csrf_token": admin_page.csrf},
    )
    assert added.status_code == 201, added.text
    [hook] = await central.services.webhooks.list()
    assert "<html" in added.text and f'value="{hook.secret}"' in added.text
    assert "https://plain.example/hook" in added.text and "hx-swap-oob" not in added.text
