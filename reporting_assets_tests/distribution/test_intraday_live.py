"""Live: `reporting serve` in its own process receives PostHog's pushed events over HTTP and
mails a breach of the day so far through a real SMTP server (aiosmtpd) — once per executive,
within seconds of the breaching event's POST, and never again for retries or a repeat burst."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from reporting_assets.config.audience import list_addresses
from reporting_assets.distribution.intraday import hook_body
from reporting_assets.records.feed import Feed
from reporting_assets_tests.fakes.smtp_server import ScriptedHandler, free_port, smtp_server

pytestmark = pytest.mark.integration  # starts the web app and an SMTP server

REPO = Path(__file__).parents[2]
SECRET = "live-hook-secret"


def _wait_until(check, timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step_s)
    return False


def test_a_live_breach_reaches_every_inbox_once_within_seconds(config_with, tmp_path):
    handler = ScriptedHandler()
    with smtp_server(handler) as relay:
        settings = config_with(
            lambda c: (
                c["storage"].update(data_root=str(tmp_path / "data")),
                c["channels"]["email"].update(
                    mode="smtp",
                    host=relay.hostname,
                    port=relay.port,
                    security="none",
                    username_env=None,
                    password_env=None,
                ),
                c["notifications"].update(feed_exports=str(tmp_path / "feed")),
            )
        )
        port = free_port()
        env = {**os.environ, settings.intraday.secret_env: SECRET}
        server = subprocess.Popen(
            [sys.executable, "-m", "reporting_assets.cli", "serve", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:

            def up() -> bool:
                try:
                    return requests.get(f"{base}/healthz", timeout=1).ok
                except requests.ConnectionError:
                    return False

            assert _wait_until(up, 60, 0.2), "the web app did not start"
            session = requests.Session()
            moment = datetime.now(UTC)

            def post(event: str, n: int, body: dict | None = None) -> dict:
                props = {"account_id": f"acct_{n:05d}", "plan": "growth", "currency": "USD"}
                props["amount" if event == "payment_failed" else "revenue"] = 4900
                body = body or hook_body(event, moment, props, distinct_id=f"u_{n:05d}_0")
                answer = session.post(
                    f"{base}/hooks/posthog",
                    data=json.dumps(body),
                    headers={"Content-Type": "application/json", "X-Webhook-Secret": SECRET},
                    timeout=10,
                )
                assert answer.status_code == 200, answer.text
                return body

            sent = [post("purchase_completed", n) for n in range(20)]
            sent += [post("payment_failed", 100 + k) for k in range(1, 7)]  # 6 / 26: no alert
            time.sleep(0.5)
            assert handler.messages == []
            cfg = settings.notifications.critical_alerts
            to, cc = list_addresses(settings, [cfg.distribution_list])
            readers = [*to, *cc]
            started = time.monotonic()
            sent.append(post("payment_failed", 107))  # 7 / 27 = 25.9 %: critical
            assert _wait_until(lambda: len(handler.messages) >= len(readers), 30)
            latency = time.monotonic() - started
            print(f"\nlive intraday alert: breaching POST to the last inbox {latency:.2f} s")
            assert latency <= 30  # the promise; the goal is 10 s

            for body in sent:  # PostHog retries every delivery
                post("", 0, body)
            for k in range(8, 20):  # the burst goes on, inside the re-notify interval
                post("payment_failed", 100 + k)
            time.sleep(1.0)
        finally:
            server.terminate()
            server.wait(timeout=20)
    for reader in readers:
        [mail] = handler.received_by(reader)
        assert "Payment failure rate" in mail.message["Subject"]
    assert len(handler.messages) == len(readers)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'app.db'}")
    [note] = Feed(engine).all(kind="critical_alert")
    assert note.report == "payment_failures_high" and "so far today" in note.title
