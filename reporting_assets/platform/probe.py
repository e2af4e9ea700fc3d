"""The availability probe: one GET of the web app's health endpoint, answered OK or not within
a short timeout, recorded in the app database for the day's availability figure."""

import time
from datetime import UTC, datetime

import requests
import sqlalchemy as sa

from reporting_assets.records.measurements import Probe, record_probe

HEALTH_PATH = "/healthz"


def health_url(base_url: str) -> str:
    return base_url.rstrip("/") + HEALTH_PATH


def probe_health(url: str, timeout_s: float) -> Probe:
    """GET `url`: up when it answers 200 within `timeout_s` (half of it to connect, half to
    answer, so a hung app holds the sensor no longer than that); down, with the reason,
    otherwise. Never raises."""
    at = datetime.now(UTC)
    started = time.perf_counter()
    try:
        response = requests.get(url, timeout=(timeout_s / 2, timeout_s / 2), allow_redirects=False)
    except requests.RequestException as exc:
        return Probe(False, None, None, type(exc).__name__, at)
    seconds = time.perf_counter() - started
    up = response.status_code == 200
    return Probe(
        up, response.status_code, seconds, None if up else f"HTTP {response.status_code}", at
    )


def probe_and_record(engine: sa.Engine, base_url: str, timeout_s: float) -> Probe:
    """Probe the web app at `base_url` and keep the result."""
    url = health_url(base_url)
    probe = probe_health(url, timeout_s)
    record_probe(engine, url, probe)
    return probe
