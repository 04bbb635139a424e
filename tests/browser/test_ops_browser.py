"""A person's path through the ops views, in headless Chromium (Debian's package, driven by
Playwright): log in, see the consumer groups with their lag, open a dead-lettered record.
Screenshots land in test-artifacts/."""

from __future__ import annotations

import os
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from stream.codecs import JsonCodec
from tests.factories import T0, telemetry

pytestmark = [pytest.mark.broker, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium_path():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs it with apt-get (Debian package chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def test_operator_logs_in_sees_lag_and_opens_a_dead_letter(
    chromium_path, live_server, kafka, mongo_db, settings, transactional_db, monkeypatch
):
    settings.TELEMETRY_CODECS = {
        **settings.TELEMETRY_CODECS,
        "telemetry": {"BACKEND": "stream.codecs.JsonCodec", "OPTIONS": {"schema": "c40_enriched.avsc"}},
    }
    codec = JsonCodec("c40_enriched.avsc")
    producer = kafka.producer()
    for value in [
        codec.encode(telemetry("EX1", T0)),
        b"\x00garbage from a broken box",
        codec.encode(telemetry("EX2", T0)),
    ]:
        producer.produce(settings.TELEMETRY_TOPIC, value=value, key=b"EX1", partition=0)
        assert producer.flush(10) == 0  # one record per request: Tansu counts end offsets per batch
    call_command("consume_equipment_telemetry", "--service", "current", "--idle-timeout", "3", stdout=StringIO())
    User.objects.create_user("operator", password="s3cret-pass", is_staff=True)

    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM work above is done, and the
    # live server answers from its own thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{live_server.url}/admin/ops/")
            assert "/admin/login/" in page.url  # staff only
            page.fill("#id_username", "operator")
            page.fill("#id_password", "s3cret-pass")
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_server.url}/admin/ops/")

            current = page.locator("#service-current")
            # The admin styles captions in capitals.
            assert settings.TELEMETRY_SERVICES["current"]["GROUP_ID"] in current.inner_text().lower()
            assert current.locator(".total-lag").inner_text() == "0"
            assert "3 messages (2 processed, 1 dead-lettered)" in " ".join(current.inner_text().split())
            page.screenshot(path=str(ARTIFACTS / "ops-overview.png"), full_page=True)

            page.click("text=Dead letters")
            page.wait_for_url(f"{live_server.url}/admin/ops/dead-letters/")
            row = page.locator("table tbody tr").first
            assert "decode: not JSON" in row.inner_text()
            page.screenshot(path=str(ARTIFACTS / "ops-dead-letters.png"), full_page=True)

            row.locator("a").first.click()
            page.wait_for_url(f"{live_server.url}/admin/ops/dead-letters/0/0/")
            assert "decode: not JSON" in page.locator(".dead-letter-error").inner_text()
            assert "garbage from a broken box" in page.content()
            page.screenshot(path=str(ARTIFACTS / "ops-dead-letter.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "ops-overview.png").stat().st_size > 10_000


def test_admin_ops_views_and_api_docs_load_from_this_server_alone(
    chromium_path, live_server, kafka, mongo_db, settings, transactional_db, monkeypatch
):
    """Every request the pages make goes to the server itself: any other host is blocked and
    counted (ReDoc's page asked Google Fonts for its fonts)."""
    User.objects.create_user("operator", password="s3cret-pass", is_staff=True)
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    elsewhere: list[str] = []
    served: list[str] = []

    def only_this_server(route) -> None:
        url = route.request.url
        if url.startswith(live_server.url + "/"):
            served.append(url)
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", only_this_server)
            page.goto(f"{live_server.url}/")
            assert "c40 telemetry backend" in page.locator("h1").inner_text()
            page.goto(f"{live_server.url}/admin/login/?next=/admin/")
            page.fill("#id_username", "operator")
            page.fill("#id_password", "s3cret-pass")
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_server.url}/admin/")
            for path in ("/admin/ops/", "/admin/ops/dead-letters/", "/admin/ops/silent/"):
                page.goto(f"{live_server.url}{path}", wait_until="networkidle")
                assert page.locator("#content h1").count() == 1, path
            page.goto(f"{live_server.url}/api/docs/", wait_until="networkidle")
            page.wait_for_selector(".opblock", timeout=20_000)  # Swagger UI rendered the operations
            page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
            page.goto(f"{live_server.url}/api/redoc/", wait_until="networkidle")
            page.wait_for_selector("[data-section-id]", timeout=20_000)  # ReDoc rendered the sections
            page.screenshot(path=str(ARTIFACTS / "api-redoc.png"))
        finally:
            browser.close()
    assert elsewhere == []
    assert any("/static/" in url for url in served)  # the scripts and styles came from here
