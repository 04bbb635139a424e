"""The connectors' runner against fake maker feeds on 127.0.0.1, publishing to the real broker."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.core.management import call_command

from equipment_connectors.models import ConnectorStatus, UnmatchedMachine
from telemetry_site.backends import codecs, repositories
from tests.connectors.conftest import connector_for, read_topic

pytestmark = pytest.mark.django_db


def published(kafka, settings):
    return read_topic(kafka, settings.TELEMETRY_TOPIC, codecs["telemetry"])


def test_250_machines_at_100_a_page_are_3_requests_and_250_machines_once(makers, runner, kafka, settings):
    maker = makers(250)
    connector = connector_for(maker)
    [report] = runner.run_once()
    assert (report.outcome, report.pages, report.machines) == ("ok", 3, 250)
    assert maker.requests == ["/aemp/v2/15143/-3/Fleet/1", "/aemp/v2/15143/-3/Fleet/2", "/aemp/v2/15143/-3/Fleet/3"]
    messages = published(kafka, settings)
    # Every machine reports all its elements at one time: one message each.
    assert Counter(key for key, _, _ in messages) == {f"KMT-{i:05d}": 1 for i in range(250)}
    assert {headers["source"] for _, _, headers in messages} == {f"aemp-connector:{connector.pk}:Komatsu"}
    first = next(value for key, value, _ in messages if key == "KMT-00000")
    assert first["c40"]["odometry"] == {"hours_tot": 1000.0, "km_tot": 160.934}  # 100 miles
    assert first["c40"]["fuel"] == {"used_tot_l": 37.854, "level_pct": 50.0}  # 10 US gallons
    assert first["description"] == {"brand": "Komatsu", "model": "PC210LC-11"}
    status = ConnectorStatus.objects.get(connector=connector)
    assert (status.pages, status.machines, status.messages, status.budget_used) == (3, 250, 250, 4)  # + token


def test_polling_the_same_snapshot_twice_publishes_nothing(makers, runner, clock, kafka, settings):
    maker = makers(120)
    connector_for(maker)
    assert runner.run_once()[0].messages == 120
    assert runner.run_once() == []  # not due yet
    clock.advance(900)  # the default poll period
    [again] = runner.run_once()
    assert (again.outcome, again.pages, again.machines, again.messages) == ("ok", 2, 120, 0)
    assert len(published(kafka, settings)) == 120


def test_a_429_on_page_2_is_retried_after_at_least_60_s_and_still_250(makers, runner, clock, kafka, settings):
    maker = makers(250)
    maker.faults["429"] = {2}
    connector = connector_for(maker)
    [first] = runner.run_once()
    assert first.outcome == "suspended" and "HTTP 429" in first.error
    status = ConnectorStatus.objects.get(connector=connector)
    assert status.next_poll_at.timestamp() - clock() == 60
    assert runner.run_once() == []  # the wait is honoured
    clock.advance(60)
    [resumed] = runner.run_once()
    assert (resumed.outcome, resumed.pages, resumed.machines) == ("ok", 3, 250)
    assert maker.requests[-2:] == ["/aemp/v2/15143/-3/Fleet/2", "/aemp/v2/15143/-3/Fleet/3"]
    assert len(maker.requests) == 4  # page 1 once, page 2 twice, page 3 once
    assert Counter(key for key, _, _ in published(kafka, settings)) == {f"KMT-{i:05d}": 1 for i in range(250)}


def test_retry_after_longer_than_60_s_is_honoured_and_5xx_backs_off(makers, runner, clock):
    maker = makers(150)
    maker.faults.update({"429": {1}, "retry_after": 300})
    connector_for(maker)
    assert runner.run_once()[0].outcome == "suspended"
    clock.advance(299)
    assert runner.run_once() == []
    clock.advance(1)
    maker.faults["500"] = {2}
    [report] = runner.run_once()
    assert report.outcome == "suspended" and "HTTP 500" in report.error
    clock.advance(300)  # a 5xx waits Retry-After too when the maker sends one
    assert runner.run_once()[0].outcome == "ok"


def test_takeuchi_links_all_pointing_at_page_0_are_one_request(makers, runner, kafka, settings):
    maker = makers(3, takeuchi=True)
    connector_for(maker, "takeuchi")
    [report] = runner.run_once()
    assert (report.outcome, report.pages, report.machines, report.messages) == ("ok", 1, 3, 3)
    assert maker.requests == ["/aemp/v2/15143/-3/Fleet/0"]


def test_a_next_link_answering_404_ends_the_walk(makers, runner):
    maker = makers(250, first_page=0)
    maker.faults["404"] = {2}  # the last page advertised, answering 404
    connector_for(maker)
    [report] = runner.run_once()
    assert (report.outcome, report.pages, report.machines) == ("ok", 2, 200)
    assert maker.requests[-1] == "/aemp/v2/15143/-3/Fleet/2"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"garbage": True}, "not well-formed XML"),
        ({"oversize": 2 * 1024 * 1024}, "over the limit of 1,048,576"),
        ({"redirect_loop": True}, "redirect loop"),
        ({"hang": True}, "no answer within 2 s"),
        ({"drip": True}, "did not complete in time"),
    ],
    ids=["garbage", "2MB page", "redirect loop", "hanging socket", "dripping socket"],
)
def test_a_broken_feed_is_a_clear_error_and_the_others_are_unaffected(
    makers, runner, clock, kafka, settings, fault, message
):
    broken, good = makers(5), makers(130)
    broken.faults.update(fault)
    broken_connector = connector_for(broken, "broken", maker="Volvo", identifier_prefix="volvo:")
    connector_for(good, "good")
    started = time.monotonic()
    reports = {r.connector: r for r in runner.run_once()}
    assert time.monotonic() - started < 15  # every request bounded
    assert message in reports["broken"].error
    assert reports["broken"].outcome in ("error", "suspended")
    assert (reports["good"].outcome, reports["good"].messages) == ("ok", 130)
    status = ConnectorStatus.objects.get(connector=broken_connector)
    assert message in status.last_error and status.last_success_at is None
    broken.faults.clear()
    broken.release.set()
    clock.advance(3600)
    reports = {r.connector: r for r in runner.run_once()}
    assert (reports["broken"].outcome, reports["broken"].messages, reports["good"].messages) == ("ok", 5, 0)
    keys = Counter(key for key, _, _ in published(kafka, settings))
    assert len(keys) == 135 and set(keys.values()) == {1}  # nothing published twice


def test_tokens_are_renewed_before_expiry_and_rotated_refresh_tokens_kept(makers, runner, clock):
    maker = makers(10, token_seconds=650)
    connector = connector_for(
        maker, auth_type="oauth2_refresh_token", client_secret="s3cret", refresh_token="refresh-1", poll_seconds=300
    )
    runner.run_once()
    assert [form["grant_type"] for form in maker.token_requests] == ["refresh_token"]
    clock.advance(300)  # token valid for 300 s more: reused
    assert runner.run_once()[0].outcome == "ok"
    assert len(maker.token_requests) == 1
    clock.advance(300)  # 50 s before expiry: renewed first
    assert runner.run_once()[0].outcome == "ok"
    assert len(maker.token_requests) == 2
    connector.refresh_from_db()
    assert connector.refresh_token == maker.refresh_token != "refresh-1"


@pytest.mark.parametrize("auth", ["basic", "password"])
def test_basic_and_password_grant(makers, runner, auth):
    maker = makers(5, auth="basic" if auth == "basic" else "oauth2")
    extra = {"auth_type": "oauth2_password", "username": "fleet", "password": "p4ss"} if auth == "password" else {}
    connector_for(maker, **extra)
    assert runner.run_once()[0].messages == 5


def test_wrong_credentials_are_a_clear_error(makers, runner):
    connector_for(makers(5), client_secret="wrong")
    [report] = runner.run_once()
    assert report.outcome == "error" and "token endpoint" in report.error and "HTTP 401" in report.error


def test_the_request_budget_stops_polling_for_the_day(makers, runner, clock):
    maker = makers(250)
    connector_for(maker, request_budget=3)
    [report] = runner.run_once()
    assert report.outcome == "error" and "request budget of 3" in report.error
    assert len(maker.requests) == 2  # the token request and two pages


def test_machines_are_matched_to_the_registry_by_pin_or_serial(makers, runner, kafka, settings, admin_client):
    repositories["equipment_registry"].store(
        [
            {"identifier": "EX-ONE", "serial_number": "KMT0PC21C00000000", "last_update": 1},  # a PIN
            {"identifier": "EX-TWO", "serial_number": "C00000001", "last_update": 1},  # a serial number
        ]
    )
    connector = connector_for(makers(3), identifier_prefix="kmt:")
    runner.run_once()
    assert sorted(key for key, _, _ in published(kafka, settings)) == ["EX-ONE", "EX-TWO", "kmt:KMT-00002"]
    [unmatched] = UnmatchedMachine.objects.filter(connector=connector)
    assert (unmatched.pin, unmatched.published_as) == ("KMT0PC21C00000002", "kmt:KMT-00002")
    page = admin_client.get("/admin/ops/connectors/unmatched/")
    assert page.status_code == 200 and b"KMT0PC21C00000002" in page.content and b"kmt:KMT-00002" in page.content


def test_run_connectors_once_with_the_simulated_maker(kafka, mongo_db, settings, capsys):
    call_command("run_connectors", "--once", "--simulated-maker", "7")
    out = capsys.readouterr().out
    assert "simulated maker: ok, 1 pages, 7 machines, 7 messages" in out
    assert len(published(kafka, settings)) == 7


def test_a_late_reading_is_published_with_its_own_event_time(makers, runner, clock, kafka, settings):
    """A maker that delivers an older reading after a newer one (a box that was offline): it is new
    to the dedup keys, so it is published with its event time; the consumers order by event time."""
    maker = makers(1)
    connector_for(maker)
    runner.run_once()
    machine = maker.machines[0]
    machine.elements = {"CumulativeOperatingHours": ("2026-01-05T09:00:00Z", {"Hour": 999.0})}
    clock.advance(900)
    [report] = runner.run_once()
    assert report.messages == 1
    times = sorted(value["timestamp"] for _, value, _ in published(kafka, settings))
    assert times == [1_767_603_600_000, 1_767_607_200_000]  # 09:00 (late) and 10:00


def test_a_stop_requested_mid_walk_ends_after_the_page_and_the_next_start_resumes(
    makers, clock, kafka, mongo_db, settings
):
    import threading

    from equipment_connectors.publisher import TelemetryPublisher
    from equipment_connectors.runner import ConnectorRunner

    stop = threading.Event()

    class StopAfterFirstPage(TelemetryPublisher):  # the real publisher; a signal arrives meanwhile
        def publish(self, records, source):
            delivered = super().publish(records, source)
            stop.set()
            return delivered

    maker = makers(250)
    connector = connector_for(maker)
    [report] = ConnectorRunner(clock=clock, timeout=2.0, publisher=StopAfterFirstPage()).run(stop)
    assert (report.outcome, report.pages, report.messages) == ("interrupted", 1, 100)
    assert ConnectorStatus.objects.get(connector=connector).resume_url == f"{maker.base_url}/Fleet/2"
    [resumed] = ConnectorRunner(clock=clock, timeout=2.0).run(threading.Event(), once=True)
    assert (resumed.outcome, resumed.pages, resumed.machines, resumed.messages) == ("ok", 3, 250, 250)
    assert len(maker.requests) == 3
    assert Counter(key for key, _, _ in published(kafka, settings)) == {f"KMT-{i:05d}": 1 for i in range(250)}


def test_a_crash_between_the_ack_and_the_keys_publishes_again_and_the_consumer_absorbs_it(
    makers, clock, kafka, mongo_db, settings
):
    """At least once: the keys are written after the broker's ack, so a failure in between
    publishes the page again on the next poll; the consumers' writes make it harmless."""
    from equipment_connectors.repository import DedupRepository
    from equipment_connectors.runner import ConnectorRunner
    from telemetry_site.services import build_consumer_loop

    class FailsOnce(DedupRepository):
        failed = False

        def remember(self, keys, now_ms=None):
            if not self.failed:
                self.failed = True
                raise RuntimeError("the store went away after the produce was acknowledged")
            return super().remember(keys, now_ms)

    connector_for(makers(30))
    runner = ConnectorRunner(clock=clock, timeout=2.0, dedup=FailsOnce(mongo_db))
    [first] = runner.run_once()
    assert first.outcome == "error" and "the store went away" in first.error
    clock.advance(900)
    assert runner.run_once()[0].messages == 30
    clock.advance(900)
    assert runner.run_once()[0].messages == 0
    assert Counter(Counter(key for key, _, _ in published(kafka, settings)).values()) == {2: 30}
    stats = build_consumer_loop("current", idle_timeout=3).run()
    assert (stats.processed, stats.dead_lettered) == (60, 0)
    assert repositories["current_state"].collection.count_documents({}) == 30
