"""A deployment whose daily report goes to a big list over SMTP, for the fault-injection suite
and the delivery bench: its config, a rendered report version in its artifact store, a relay
process to send to, and a helper that reads what the relay accepted."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from reporting_assets.config import DEFAULT_CONFIG
from reporting_assets.reports.email_body import build_message
from reporting_assets.resources.artifacts import ArtifactStore, describe, write_manifest
from reporting_assets_tests.fakes.smtp_server import free_port
from reporting_assets_tests.reports.sample import sample_report

REPO = Path(__file__).resolve().parents[2]
REPORT = "daily_executive"
DAY = "2026-03-12"
DATA_TEAM = "data-team@northwind.example"


def readers(n: int) -> list[str]:
    return [f"reader{i:04d}@northwind.example" for i in range(n)]


def write_config(path: Path, port: int, to: list[str], *, stale_after_s: float = 2) -> Path:
    """The demo config with the daily report emailed over SMTP (no TLS, local relay) to `to`,
    fast retries, and a short delivery lease."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["distribution_lists"]["big_list"] = {"to": to}
    report = raw["reports"][REPORT]
    report.update(distribution_lists=["big_list"], channels=["email"], approval="auto")
    raw["channels"]["email"].update(
        mode="smtp", host="127.0.0.1", port=port, security="none", username_env=None,
        password_env=None, timeout_s=10, retry_budget_s=3, max_attempts=4,
        backoff_base_s=0.2, backoff_cap_s=1.0,
    )  # fmt: skip
    raw["delivery"] = {"lease_stale_after_s": stale_after_s}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _png(seed: int) -> bytes:
    from PIL import Image

    img = Image.new("RGB", (600, 300), "white")
    rng = random.Random(seed)
    for _ in range(4000):
        img.putpixel((rng.randrange(600), rng.randrange(300)), (31, 78, 121))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def publish_version(artifact_root: Path, pdf_kb: int = 150) -> Path:
    """A rendered version of the daily report (email body with two charts, a PDF and a
    workbook of realistic size, the manifest) published in the artifact store."""
    store = ArtifactStore(artifact_root)
    draft = store.draft_dir(REPORT, DAY)
    charts = {"mrr_trend": _png(1), "cost_by_vendor": _png(2)}
    base = build_message(sample_report(), charts, sender="reports@northwind.example",
                         to=["x@northwind.example"], cc=[])  # fmt: skip
    files = {
        "email": draft / "email.eml",
        "pdf": draft / f"{REPORT}-{DAY}.pdf",
        "xlsx": draft / f"{REPORT}-{DAY}.xlsx",
    }
    files["email"].write_bytes(base.as_bytes())
    rng = random.Random(3)
    files["pdf"].write_bytes(b"%PDF-1.7\n" + rng.randbytes(pdf_kb * 1024))
    files["xlsx"].write_bytes(b"PK\x03\x04" + rng.randbytes(40 * 1024))
    (draft / "report.json").write_text(json.dumps({"kpis": [], "summary": [], "alerts": []}))
    write_manifest(draft, describe(files))
    return store.publish(REPORT, DAY, draft)


def home(tmp: Path, to: list[str], port: int, **config) -> dict[str, str]:
    """A REPORTING_HOME and DAGSTER_HOME of their own, with the config and a rendered version;
    returns the environment for the processes that use them."""
    reporting, dagster_home = tmp / "reporting", tmp / "dagster_home"
    (reporting / "var").mkdir(parents=True)
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    config_file = write_config(tmp / "config.yaml", port, to, **config)
    publish_version(reporting / "var/artifacts")
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "REPORTING_HOME": str(reporting),
           "REPORTING_CONFIG": str(config_file)}  # fmt: skip
    env.pop("REPORTING_APP_DATABASE_URL", None)
    return env


@contextmanager
def relay(tmp: Path, **script) -> Iterator[tuple[int, Path]]:
    """A faulty SMTP relay process (`fakes.smtp_process`): yields its port and its log of
    accepted (Message-ID, recipient) lines."""
    port, log = free_port(), tmp / f"accepted-{time.monotonic_ns()}.jsonl"
    log.touch()
    spec = tmp / f"relay-{port}.json"
    spec.write_text(json.dumps({"port": port, "log": str(log), **script}))
    proc = subprocess.Popen([sys.executable, "-m", "reporting_assets_tests.fakes.smtp_process",
                             str(spec)], cwd=REPO, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "ready", "the relay did not start"
        yield port, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def accepted(log: Path) -> list[tuple[str, str]]:
    """(Message-ID, recipient) of every message the relay accepted, in order."""
    lines = log.read_text().splitlines()
    return [(d["message_id"], d["rcpt"]) for d in map(json.loads, lines) if d]


def measure(folder: Path, n: int) -> dict:
    """One report delivered to `n` readers by a process of its own (`measure_delivery`), to a
    relay process: its figures (time to the first message, total, peak memory, counts)."""
    folder.mkdir()
    with relay(folder) as (port, log):
        env = home(folder, readers(n), port)
        out = subprocess.run(
            [sys.executable, "-m", "reporting_assets_tests.distribution.measure_delivery"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"measure_delivery failed: {out.stderr[-2000:]}")
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        figures["accepted"] = len(accepted(log))
    return figures
