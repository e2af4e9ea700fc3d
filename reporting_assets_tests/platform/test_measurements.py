"""The web app's own measurements: the live stream records how long each new notification took
to reach a reader's open page (not the replay of what a reconnecting page missed), and the
health probe sensor records up or down against real HTTP servers, times out fast and never
raises."""

import re
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import sqlalchemy as sa
from starlette.testclient import TestClient

from reporting_assets.lib.links import Links, web_secret
from reporting_assets.records.feed import Feed
from reporting_assets.records.measurements import (
    health_probes,
    probes_between,
    stream_latencies,
    stream_latency_seconds,
)
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.sensors import health_probe_sensor
from reporting_assets.web.app import create_app

CEO = "ceo@northwind.example"


def _signed_in(settings, app_db: AppDatabase) -> TestClient:
    client = TestClient(create_app(settings, app_db))
    token = Links(web_secret(settings), 3600).token(CEO)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/signin/{token}").text)[1]
    assert (
        client.post(f"/signin/{token}", data={"csrf": csrf}, follow_redirects=False).status_code
        == 303
    )
    return client


def test_the_live_stream_measures_each_new_notification_on_a_readers_page(config_with, tmp_path):
    settings = config_with(lambda c: c["storage"].update(data_root=str(tmp_path / "data")))
    app_db = AppDatabase(sqlite_path=str(tmp_path / "data" / "app.db"))
    feed = Feed(app_db.engine)
    old, _ = feed.publish(
        "critical_alert", "Before the page opened", "b", dedupe_key="old", audience=[CEO]
    )
    client = _signed_in(settings, app_db)
    seen, new = [], []
    with client.stream("GET", "/events") as stream:
        for line in stream.iter_lines():
            if not line.startswith("id: "):
                continue
            seen.append(int(line[4:]))
            if len(seen) == 1:  # the replay arrived: the page is open, now two new ones
                new = [
                    feed.publish(
                        "critical_alert", f"New {i}", "b", dedupe_key=f"new{i}", audience=[CEO]
                    )[0]
                    for i in range(2)
                ]
            if len(seen) == 3:
                break
    assert seen == [old, *new]
    # The first new one was measured before the second was written; the replay never is.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with app_db.engine.connect() as conn:
            rows = conn.execute(sa.select(stream_latencies)).mappings().all()
        if rows:
            break
        time.sleep(0.1)
    measured = {r["notification_id"]: r for r in rows}
    assert new[0] in measured and old not in measured
    assert measured[new[0]]["reader"] == CEO
    assert 0 <= measured[new[0]]["seconds"] < 2.0  # polled every 0.5 s
    now = datetime.now(UTC)
    assert stream_latency_seconds(app_db.engine, now - timedelta(minutes=1), now) == [
        r["seconds"] for r in rows
    ]


class _Health(BaseHTTPRequestHandler):
    status = 200
    delay_s = 0.0

    def do_GET(self):
        time.sleep(self.delay_s)
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args):
        pass


@contextmanager
def _server(status: int = 200, delay_s: float = 0.0):
    handler = type("Handler", (_Health,), {"status": status, "delay_s": delay_s})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _tick(config_with, app_db: AppDatabase, base_url: str, timeout_s: float = 2.0):
    config_with(
        lambda c: (c["web"].update(base_url=base_url), c["slo"].update(probe_timeout_s=timeout_s))
    )
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"business": SettingsResource(), "app_db": app_db}
        )
        return health_probe_sensor(context)


def test_the_health_probe_records_up_and_down_and_times_out_fast(config_with, tmp_path):
    app_db = AppDatabase(sqlite_path=str(tmp_path / "app.db"))
    with _server() as up:
        assert "web app up" in _tick(config_with, app_db, up + "/").skip_message
    with _server(status=503) as failing:
        _tick(config_with, app_db, failing)
    with _server() as gone:
        pass  # stopped: nothing listens on its port any more
    _tick(config_with, app_db, gone)
    with _server(delay_s=1.5) as slow:
        began = time.monotonic()
        result = _tick(config_with, app_db, slow, timeout_s=0.3)
        assert time.monotonic() - began < 1.4  # gave up at the timeout, not after the answer
    assert "down (ReadTimeout)" in result.skip_message
    now = datetime.now(UTC)
    probes = probes_between(app_db.engine, now - timedelta(minutes=1), now + timedelta(seconds=1))
    assert [(p.up, p.status_code, p.error) for p in probes] == [
        (True, 200, None),
        (False, 503, "HTTP 503"),
        (False, None, "ConnectionError"),
        (False, None, "ReadTimeout"),
    ]
    with app_db.engine.connect() as conn:
        urls = conn.execute(sa.select(health_probes.c.url)).scalars().all()
    assert urls[0] == up + "/healthz"


def test_the_health_probe_sensor_never_raises(config_with, tmp_path):
    """An app database it cannot open: the tick says so and the sensor keeps running."""
    (tmp_path / "file").write_text("not a folder")
    broken = AppDatabase(url=f"sqlite:///{tmp_path / 'file' / 'app.db'}")
    with _server() as up:
        result = _tick(config_with, broken, up)
    assert result.skip_message.startswith("probe not recorded: ")
