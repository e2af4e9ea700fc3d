"""Where the platform runs: branding, calendar, storage, sources and the demo company."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from reporting_assets.config.base import (
    HEX_COLOR,
    Strict,
    _check_env_name,
)


class Branding(Strict):
    company_name: str
    logo_path: str | None = None
    primary_color: str = "#1F3A5F"
    accent_color: str = "#2E86AB"

    @field_validator("primary_color", "accent_color")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not HEX_COLOR.match(v):
            raise ValueError(f"'{v}' is not a #RRGGBB color")
        return v


RELATIVE_DAYS = re.compile(r"^\s*(\d+)\s+days?\s+ago\s*$")


class Calendar(Strict):
    """When periods start and end: all labels are computed in `report_timezone`, never UTC.

    `history_start` is the first day the sources hold (the long series of the monthly analysis
    and the forecasts start there); `partitions_start` is the first day the daily, weekly and
    monthly partitions offer, a date or "N days ago" (the demo: the days `make demo` loads), so
    the Dagster UI shows only days that are meant to be computed. Unset: `history_start`."""

    report_timezone: str = "America/New_York"
    history_start: date
    partitions_start: date | str | None = None

    @field_validator("partitions_start")
    @classmethod
    def _relative(cls, v):
        if isinstance(v, str) and not RELATIVE_DAYS.match(v):
            raise ValueError(f"'{v}' is neither a date (YYYY-MM-DD) nor 'N days ago'")
        return v

    def first_partition_day(self, today: date) -> date:
        """The first partition's day, given today in the report time zone."""
        v = self.partitions_start
        if v is None:
            return self.history_start
        if isinstance(v, str):
            v = today - timedelta(days=int(RELATIVE_DAYS.match(v).group(1)))
        return max(v, self.history_start)

    @field_validator("report_timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{v}'") from exc
        return v


MEMORY_SIZE = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")


class Engine(Strict):
    """How much of the machine the heavy stages may take: DuckDB's memory limit and threads for
    reading a day of events and aggregating it. Past the limit DuckDB spills to `spill_dir`
    instead of failing, so a day larger than memory still completes."""

    memory_limit: str = "2GB"
    threads: int | None = Field(None, ge=1)  # None: one per core
    spill_dir: str = "var/tmp"

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, v: str) -> str:
        if not MEMORY_SIZE.match(v.strip()):
            raise ValueError(f"'{v}' is not a memory size such as 2GB or 512MB")
        return v.strip()


class Storage(Strict):
    """Where data, artifacts and the app database live (relative paths are under REPORTING_HOME)."""

    data_root: str = "var/data"
    artifact_root: str = "var/artifacts"
    app_database_url: str | None = None
    app_database_url_env: str | None = "REPORTING_APP_DATABASE_URL"
    engine: Engine = Engine()

    _env = field_validator("app_database_url_env")(_check_env_name)


class PostHogSource(Strict):
    """Where product events come from: the demo generator, batch-export files, or the Query API."""

    backend: Literal["demo", "batch_export", "query_api"] = "demo"
    export_path: str = "var/demo/posthog/events"
    export_format: Literal["parquet", "jsonl"] = "parquet"
    host: str = "https://us.posthog.com"
    project_id: str | None = None
    api_key_env: str = "POSTHOG_API_KEY"
    page_size: int = Field(50_000, ge=1, le=50_000)
    # query_api only: PostHog computes the per-account aggregates the metrics need (HogQL on its
    # ClickHouse), so only aggregates cross the network; the day's rows still feed the gates.
    pushdown: bool = True

    _env = field_validator("api_key_env")(_check_env_name)

    @model_validator(mode="after")
    def _query_api_needs_project(self) -> PostHogSource:
        if self.backend == "query_api" and not self.project_id:
            raise ValueError("backend 'query_api' needs project_id")
        return self


class WarehouseSource(Strict):
    """Where cost and operations views are read: the embedded DuckDB file or PostgreSQL."""

    backend: Literal["duckdb", "postgres"] = "duckdb"
    duckdb_path: str = "var/demo/warehouse.duckdb"
    postgres_url_env: str = "WAREHOUSE_POSTGRES_URL"

    _env = field_validator("postgres_url_env")(_check_env_name)


class Sources(Strict):
    posthog: PostHogSource = PostHogSource()
    warehouse: WarehouseSource = WarehouseSource()


class DemoCompany(Strict):
    """The deterministic demo company: how much history and how many events per day."""

    seed: int = 7
    days: int | None = Field(None, ge=30)  # None: from calendar.history_start to yesterday
    events_per_day: int = Field(2_000, ge=100)
    starting_accounts: int = Field(400, ge=20)
    output_dir: str = "var/demo"


class Web(Strict):
    """The web app (`reporting serve`): where it listens, the address reports link to, and who
    its readers are. Sign-in links and sessions are signed with the secret in `secret_env`
    (unset in the demo: one is made and kept under the data root)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    base_url: str = "http://127.0.0.1:8080"  # what emails and notices link to
    secret_env: str = "REPORTING_WEB_SECRET"
    link_max_age_hours: float = Field(168, gt=0)  # a sign-in link expires after this (a week)
    session_max_age_hours: float = Field(12, gt=0)
    # Sign-in requests (opening or confirming a link) one client address may make in a minute.
    signin_attempts_per_minute: int = Field(10, ge=1)
    # Behind a company SSO proxy: the header naming the signed-in user, trusted only from these
    # client addresses (the proxy's).
    sso_header: str | None = None
    sso_proxies: list[str] = Field(default_factory=list)

    _env = field_validator("secret_env")(_check_env_name)


class Intraday(Strict):
    """Alerts as they happen: PostHog's realtime "HTTP Webhook" destination posts each billing
    event to the web app (`POST /hooks/posthog`), which judges the critical alert rules that the
    day's events alone define (the payment failure rate) on the day so far.

    The destination sends the secret in the header `header`; the secret itself is in the
    environment variable `secret_env`, and while that variable is unset the endpoint is off."""

    secret_env: str = "POSTHOG_HOOK_SECRET"
    header: str = "X-Webhook-Secret"
    # A rate over the first few charges of a day swings wildly (1 failure in 2 is 50 %): the day
    # so far is judged once at least this many charges were attempted. The full day (the daily
    # alert list) needs only one.
    min_payment_attempts: int = Field(5, ge=1)

    _env = field_validator("secret_env")(_check_env_name)

    @field_validator("header")
    @classmethod
    def _header_name(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9-]+$", v):
            raise ValueError(f"'{v}' is not an HTTP header name (letters, digits and -)")
        return v


CADENCES = ("daily", "weekly", "monthly")


def _per_cadence(v: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(v) - set(CADENCES))
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a cadence (daily, weekly, monthly)")
    missing = [c for c in CADENCES if c not in v]
    if missing:
        raise ValueError(f"a target for each cadence is needed; missing {', '.join(missing)}")
    bad = [c for c, x in v.items() if x <= 0]
    if bad:
        raise ValueError(f"{', '.join(bad)}: a target must be above zero")
    return v


class Slo(Strict):
    """The targets the platform holds itself to (the seed's SLOs), each an asset check of the
    `step7_platform` group: a missed one reaches the data team as a failed check."""

    # A report job's run (sources to delivery) must finish within this many minutes.
    generation_minutes: dict[str, float] = Field(
        default_factory=lambda: {"daily": 5, "weekly": 15, "monthly": 45}
    )
    # From the last of a period's source data landing to the report's first delivery on a channel.
    landing_to_delivery_minutes: dict[str, float] = Field(
        default_factory=lambda: {"daily": 60, "weekly": 780, "monthly": 2880}
    )
    delivery_success: float = Field(0.995, gt=0, le=1)  # delivered / decided, per channel, report
    dashboard_latency_s: float = Field(2.0, gt=0)  # notification to a reader's screen...
    latency_percentile: float = Field(0.95, gt=0, le=1)  # ...at this percentile of the day
    availability: float = Field(0.995, gt=0, le=1)  # share of health probes answered 200
    probe_timeout_s: float = Field(2.0, gt=0, le=10)  # a probe slower than this counts as down

    _cadences = field_validator("generation_minutes", "landing_to_delivery_minutes")(_per_cadence)


class Investment(Strict):
    """What the reporting itself costs, for the annual strategic review's return on it: the
    platform (hosting, licences) per month and the people's hours per month at an hourly rate.
    A month of the year counts from go-live (`impact.go_live`) to the month reviewed."""

    platform_usd_per_month: float = Field(0.0, ge=0)
    people_hours_per_month: float = Field(0.0, ge=0)
    hourly_rate_usd: float = Field(0.0, ge=0)

    @property
    def monthly_cost_usd(self) -> float:
        """Platform plus people: platform + people_hours_per_month × hourly_rate_usd."""
        return self.platform_usd_per_month + self.people_hours_per_month * self.hourly_rate_usd
