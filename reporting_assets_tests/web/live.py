"""The web app as a reader meets it: `reporting serve` in a process of its own over a private
home (config, SQLite app database, an artifact store holding a rendered daily report), which a
test can kill and start again on the same port, and the helpers a browser test signs in and
publishes notifications with. The fixtures in `conftest.py` beside this module build on it."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests
import yaml

import reporting_assets
from reporting_assets.config import DEFAULT_CONFIG, load_settings
from reporting_assets.config.models import Settings
from reporting_assets.lib.links import Links
from reporting_assets.records.feed import Feed
from reporting_assets.reports.rendering import report_content
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStore, describe, write_manifest
from reporting_assets_tests.reports.sample import sample_report

CEO = "ceo@northwind.example"
DAY = "2026-11-26"  # the sample report's day
REPO = Path(reporting_assets.__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 60.0

# Every EventSource a page opens, kept on `window.__eventSources` so that a test can wait for
# the live stream to be open (`stream_open`) without the page exposing it.
RECORD_EVENT_SOURCES = """
window.__eventSources = [];
const PageEventSource = window.EventSource;
window.EventSource = function (url, options) {
  const source = new PageEventSource(url, options);
  window.__eventSources.push(source);
  return source;
};
Object.assign(window.EventSource, {CONNECTING: 0, OPEN: 1, CLOSED: 2});
window.EventSource.prototype = PageEventSource.prototype;
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publish_daily_report(store: ArtifactStore, day: str = DAY) -> dict:
    """Publish the sample daily report for `day` (its report.json from the report code's own
    `report_content`, a stand-in PDF, the manifest); return the report.json content."""
    draft = store.draft_dir("daily_executive", day)
    content = json.loads(json.dumps(report_content(sample_report()), default=str))
    (draft / "report.json").write_text(json.dumps(content))
    (draft / f"daily_executive_{day}.pdf").write_bytes(b"%PDF-1.4 a report\n")
    files = {"json": draft / "report.json", "pdf": draft / f"daily_executive_{day}.pdf"}
    version = store.publish("daily_executive", day, draft)
    write_manifest(version, describe({k: version / p.name for k, p in files.items()}))
    return content


class LiveSite:
    """`reporting serve` on 127.0.0.1:`port` over the home at `root`.

    `start()` waits until /healthz answers; `kill()` ends the process at once (SIGKILL, as a
    crash would); `restart()` kills it if it runs and starts it again on the same port. The test
    process shares the server's app database (`feed`, `engine`) and secret (`links`)."""

    def __init__(self, root: Path, configure: Callable[[dict], None] | None = None):
        """`configure(raw)` may change the demo config (a dict from its YAML) before the site
        is built over it; the storage and web sections are then set to this site's."""
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
        if configure is not None:
            configure(raw)
        storage = raw["storage"]
        storage.update(data_root=str(root / "data"), artifact_root=str(root / "artifacts"))
        # Named in the config, so that REPORTING_APP_DATABASE_URL in the environment cannot
        # point the server at another database than the test's.
        storage["app_database_url"] = (
            storage.get("app_database_url") or f"sqlite:///{root / 'data' / 'app.db'}"
        )
        (root / "data").mkdir(parents=True, exist_ok=True)
        # Every test signs in from 127.0.0.1: more than a person would in a minute.
        raw["web"].update(host="127.0.0.1", port=self.port, base_url=self.url,
                          signin_attempts_per_minute=10_000)  # fmt: skip
        self.config_path = root / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
        self.settings: Settings = load_settings(self.config_path)
        self.secret = secret = secrets.token_urlsafe(32)
        self.links = Links(secret, self.settings.web.link_max_age_hours * 3600)
        self.store = ArtifactStore(root / "artifacts")
        self.report = publish_daily_report(self.store)
        self.engine = AppDatabase(url=self.settings.storage.app_database_url).engine  # migrated
        self.feed = Feed(self.engine)
        self.env = {
            **os.environ,
            "REPORTING_HOME": str(root),
            "REPORTING_CONFIG": str(self.config_path),
            self.settings.web.secret_env: secret,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p
            ),
        }
        self.log = root / "server.log"
        self.process: subprocess.Popen | None = None
        self.startups: list[float] = []  # seconds from spawning to the first healthy answer

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"the server at {self.url} is already running")
        began = time.perf_counter()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "reporting_assets.cli", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = began + STARTUP_TIMEOUT_S
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self.process.returncode}:\n{self.log.read_text()}"
                )
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    self.startups.append(time.perf_counter() - began)
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.kill()
        waited = f"{STARTUP_TIMEOUT_S:.0f} s"
        raise RuntimeError(
            f"no answer from {self.url}/healthz in {waited}:\n{self.log.read_text()}"
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.running:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def token(self, address: str = CEO) -> str:
        return self.links.token(address)

    def sign_in(self, page, address: str = CEO) -> None:
        """Sign a Playwright page in as `address` the way a reader does: open the signed link
        from an email, press its Continue button, land on Today."""
        page.goto(f"{self.url}/signin/{self.token(address)}")
        page.get_by_role("button", name=f"Continue as {address}").click()
        page.wait_for_url(f"{self.url}/")

    def publish(
        self,
        title: str,
        *,
        kind: str = "critical_alert",
        severity: str = "critical",
        audience: list[str] | None = None,
        url: str | None = None,
        body: str = "",
    ) -> int:
        """Write a notification to the app database, as the pipeline does; return its id."""
        new_id, _ = self.feed.publish(
            kind,
            title,
            body or title,
            severity=severity,
            url=url,
            dedupe_key=f"browser-test-{uuid.uuid4().hex}",
            audience=[CEO] if audience is None else audience,
        )
        return new_id


def stream_open(page, timeout_s: float = 10) -> None:
    """Wait until the page's live stream (its EventSource) is connected."""
    page.wait_for_function(
        "() => window.__eventSources.length > 0"
        " && window.__eventSources.every(s => s.readyState === EventSource.OPEN)",
        timeout=timeout_s * 1000,
    )


def visible(page, selector: str, timeout_s: float = 10) -> None:
    """Wait until an element matching `selector` is visible, looking at every frame the page
    paints: a timing taken around this call is off by a frame, not by Playwright's polling
    interval (up to 0.5 s)."""
    page.wait_for_function(
        "selector => document.querySelector(selector)?.checkVisibility() === true",
        arg=selector,
        polling="raf",
        timeout=timeout_s * 1000,
    )
