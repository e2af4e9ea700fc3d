"""Shared fixtures: a small demo company, a private REPORTING_HOME, and the test PostgreSQL."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import date
from pathlib import Path

import pytest

# Everything the tests write (demo data, asset files, app database, Dagster homes) goes under a
# private folder, made when the session starts and removed when it ends; relative config paths
# resolve against it. The environment is set in `pytest_configure`, before any test module
# (and so any module that reads the config when imported) is loaded.
_HOME = Path(tempfile.gettempdir()) / f"reporting-tests-{os.getpid()}-{uuid.uuid4().hex[:8]}"

# A small company: 100 days ending on 2026-03-15, so it spans the March DST change and holds
# every anomaly (the earliest sits 40 days before the end).
DEMO_END = date(2026, 3, 15)
DEMO_DAYS = 100
DEMO_EVENTS_PER_DAY = 300
DEMO_ACCOUNTS = 400
# The reports' clock: the day after the test company's last day, so its month in progress runs
# to 15 March, as a month-end run on 16 March would see it.
TODAY = date.fromordinal(DEMO_END.toordinal() + 1)
# The daily metrics read 4 weeks of account activity and cloud costs before each day: the
# `demo_history` fixture loads them from this day on (the first days of the company have no
# 4 weeks before them, so their metrics are never computed in the tests).
HISTORY_FROM = date(2025, 12, 9)
HISTORY_ASSETS = ("posthog_events", "account_activity_daily", "cloud_costs")


_SAVED_ENV: dict[str, str | None] = {}


def pytest_configure(config) -> None:
    _HOME.mkdir(parents=True)
    for name, value in (("REPORTING_HOME", str(_HOME)), ("REPORTING_CONFIG", None),
                        ("REPORTING_TODAY", TODAY.isoformat())):  # fmt: skip
        _SAVED_ENV[name] = os.environ.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_unconfigure(config) -> None:
    import shutil

    for name, value in _SAVED_ENV.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(_HOME, ignore_errors=True)


def demo_spec(seed: int = 7, export_format: str = "parquet"):
    from reporting_assets.demo.generator import DemoSpec

    return DemoSpec(
        seed=seed,
        start=date.fromordinal(DEMO_END.toordinal() - DEMO_DAYS + 1),
        end=DEMO_END,
        events_per_day=DEMO_EVENTS_PER_DAY,
        starting_accounts=DEMO_ACCOUNTS,
        export_format=export_format,
    )


@pytest.fixture(scope="session")
def reporting_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def demo_company(reporting_home: Path) -> dict:
    """The demo company at the configured demo location (var/demo under REPORTING_HOME)."""
    from reporting_assets.demo.generator import generate_demo_company

    out = reporting_home / "var" / "demo"
    manifest = generate_demo_company(demo_spec(), out, progress=False)
    manifest["path"] = out
    return manifest


@pytest.fixture(scope="session")
def demo_history(demo_company: dict) -> dict:
    """The demo company with `daily_history_job` run for every day from HISTORY_FROM to its end,
    as an analyst backfills the history before computing metrics: every day's 4-week windows
    are then complete (but for the tracking outage, which its own gate blocks)."""
    import dagster as dg

    from reporting_assets.definitions import defs

    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    job = defs.resolve_job_def("daily_history_job")
    with dg.DagsterInstance.ephemeral() as instance:
        for k in range((DEMO_END - HISTORY_FROM).days + 1):
            day = date.fromordinal(HISTORY_FROM.toordinal() + k).isoformat()
            job.execute_in_process(partition_key=day, instance=instance, run_config=quiet,
                                   raise_on_error=False)  # fmt: skip
    return demo_company


@pytest.fixture(scope="session")
def demo_company_jsonl(reporting_home: Path) -> dict:
    from reporting_assets.demo.generator import generate_demo_company

    out = reporting_home / "var" / "demo-jsonl"
    manifest = generate_demo_company(demo_spec(export_format="jsonl"), out, progress=False)
    manifest["path"] = out
    return manifest


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL server `make test` starts (scripts/run-tests.sh)."""
    url = os.environ.get("REPORTING_TEST_PG_URL")
    if not url:
        pytest.fail(
            "REPORTING_TEST_PG_URL is not set: run the suite with `make test`, which starts a "
            "throwaway PostgreSQL, or export the URL of one you started yourself"
        )
    return url


@pytest.fixture
def pg_database(pg_url: str) -> str:
    """A fresh, empty database on the test server; dropped afterwards."""
    import psycopg2

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(pg_url)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    base, _, _ = pg_url.rpartition("/")
    yield f"{base}/{name}"
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def pg_parts(url: str) -> dict:
    """host/port/user/db of a postgresql:// URL, for dagster-postgres config."""
    from urllib.parse import urlparse

    u = urlparse(url)
    return {
        "hostname": u.hostname,
        "port": u.port or 5432,
        "username": u.username or "postgres",
        "password": u.password or "",
        "db_name": u.path.lstrip("/"),
    }


def manifest_dates(manifest: dict) -> dict[str, str]:
    return {a["kind"]: a["date"] for a in manifest["anomalies"]}


def dump(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)


@pytest.fixture
def config_with(monkeypatch, tmp_path):
    """Run with the demo config changed by `mutate(raw_dict)`: `config_with(lambda c: ...)`
    writes it to a file and points REPORTING_CONFIG at it (the code reads it at run time)."""
    import yaml

    from reporting_assets.config import DEFAULT_CONFIG, get_settings

    def apply(mutate):
        raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
        mutate(raw)
        path = tmp_path / f"config-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        monkeypatch.setenv("REPORTING_CONFIG", str(path))
        return get_settings()

    return apply


def copy_history(assets_root: Path) -> None:
    """Copy the history `demo_history` loaded into another asset store (tests with a data root
    of their own)."""
    import shutil

    for asset in HISTORY_ASSETS:
        shutil.copytree(_HOME / "var/data/assets" / asset, assets_root / asset)


def private_home(
    demo_company: dict, tmp_path: Path, *, with_history: bool = False
) -> tuple[Path, dict]:
    """A REPORTING_HOME of its own (asset files, app database) over the shared demo company,
    and a fresh Dagster home: (the reporting home, the environment for subprocesses). With
    `with_history`, the history the daily windows read is copied from the shared home (the
    caller asks for the `demo_history` fixture)."""
    reporting = tmp_path / "reporting"
    (reporting / "var").mkdir(parents=True)
    (reporting / "var" / "demo").symlink_to(demo_company["path"])
    if with_history:
        copy_history(reporting / "var/data/assets")
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "REPORTING_HOME": str(reporting)}
    env.pop("REPORTING_CONFIG", None)
    return reporting, env


def label(evaluation) -> str:
    """An asset check evaluation's name with its asset: "posthog_events:complete"."""
    from reporting_assets.quality.dagster_checks import check_label

    return check_label(evaluation.asset_key.to_user_string(), evaluation.check_name)
