"""The shape of the business configuration: what a business owner may tune, and its rules.

Every knob a business owner changes (targets, ranges, alert thresholds, reports, distribution
lists, channels) is declared here and validated when the YAML is loaded. Secrets never appear in
this file: a setting that needs one names the environment variable that holds it (`*_env`).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey")


class Strict(BaseModel):
    """Base for config sections: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in data:
                lowered = str(key).lower()
                if any(w in lowered for w in SECRET_WORDS) and not lowered.endswith("_env"):
                    raise ValueError(
                        f"'{key}' looks like a secret; secrets come only from environment "
                        f"variables: set '{key}_env' to the variable's name instead"
                    )
        return data


def _bound(x: float | None) -> str:
    return "unbounded" if x is None else f"{x:g}"


def _check_env_name(value: str | None) -> str | None:
    if value is not None and not ENV_NAME.match(value):
        raise ValueError(f"'{value}' is not an environment variable name (A-Z, 0-9, _)")
    return value


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


class Calendar(Strict):
    """When periods start and end: all labels are computed in `report_timezone`, never UTC."""

    report_timezone: str = "America/New_York"
    history_start: date

    @field_validator("report_timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{v}'") from exc
        return v


class Storage(Strict):
    """Where data, artifacts and the app database live (relative paths are under REPORTING_HOME)."""

    data_root: str = "var/data"
    artifact_root: str = "var/artifacts"
    app_database_url: str | None = None
    app_database_url_env: str | None = "REPORTING_APP_DATABASE_URL"

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


class Metric(Strict):
    """A metric a report shows: how to read it, its target, and the range a valid value lies in."""

    label: str
    unit: Literal["usd", "ratio", "count", "hours", "minutes", "per_100_accounts", "usd_per_k"]
    direction: Literal["higher_is_better", "lower_is_better", "neutral"] = "neutral"
    description: str
    target: float | None = None
    # How far on the wrong side of its target the metric may be and still read "Watch" rather
    # than "Off track", in the metric's unit (per day for flows); default: 10 % of the target.
    tolerance: float | None = Field(None, ge=0)
    valid_range: tuple[float | None, float | None] = (None, None)
    # Compare with the same weekday in earlier weeks? Off for lumpy, event-driven metrics whose
    # normal days already swing widely (churn, incidents); alert rules watch those instead.
    history_check: bool = True

    @model_validator(mode="after")
    def _range_order(self) -> Metric:
        low, high = self.valid_range
        if low is not None and high is not None and low > high:
            raise ValueError(f"valid_range minimum {low} is above its maximum {high}")
        t = self.target
        if t is not None and ((low is not None and t < low) or (high is not None and t > high)):
            raise ValueError(f"target {t:g} lies outside its valid_range {list(self.valid_range)}")
        if t is not None and self.unit == "ratio" and not -1 <= t <= 1:
            raise ValueError(f"target {t:g} is not a share: write 95 % as 0.95")
        return self


class AlertRule(Strict):
    """A business rule that raises an alert when a metric crosses its thresholds."""

    name: str
    metric: str
    scope: str = "total"
    comparison: Literal["above", "below", "change_vs_previous", "deviation_from_baseline"]
    warning: float
    critical: float
    min_duration_days: int = Field(1, ge=1)
    description: str = ""

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> AlertRule:
        # For "below" rules a lower value is worse, so the critical threshold must be the lower
        # one; every other comparison is "higher is worse".
        if self.comparison == "below":
            if self.critical > self.warning:
                raise ValueError(
                    f"rule '{self.name}' fires when the metric is below its thresholds, so "
                    f"critical ({self.critical}) must not be above warning ({self.warning})"
                )
        elif self.critical < self.warning:
            raise ValueError(
                f"rule '{self.name}' fires when the metric is {self.comparison.replace('_', ' ')}"
                f" its thresholds, so critical ({self.critical}) must not be below warning "
                f"({self.warning})"
            )
        return self


class Quality(Strict):
    """How strict the automated quality gates are."""

    history_weeks: int = Field(8, ge=2, le=52)
    history_z_threshold: float = Field(4.0, gt=0)
    history_severity: Literal["ERROR", "WARN"] = "WARN"
    # A metric this many robust deviations from its weekday baseline is not believable: it fails
    # the business-rules gate (ERROR, blocking) whatever history_severity says.
    history_hard_limit_z: float = Field(50.0, gt=0)
    min_volume_share: float = Field(0.6, gt=0, le=1)
    identity_tolerance_usd: float = Field(0.01, ge=0)


# The sections each kind of report can carry (summary, alerts and the quality appendix in all);
# a name outside these would make a report go out without it, so it is refused at load.
REPORT_SECTIONS = {
    "daily": {"summary", "revenue_protection", "cost_optimization", "operational_efficiency",
              "alerts", "quality"},
    "weekly": {"summary", "trends", "scorecard", "initiatives", "roi", "alerts", "quality"},
    "monthly": {"summary", "business_analysis", "benchmarks", "forecasts", "recommendations",
                "impact", "alerts", "quality"},
}  # fmt: skip
DECK_SLIDES = {"title", "agenda", "kpis", "charts", "alerts", "initiatives", "recommendations",
               "details", "appendix", "days", "mrr_bridge", "coverage"}  # fmt: skip


class Report(Strict):
    """A report: its cadence, what it contains, who gets it, in which formats, and its review."""

    title: str
    cadence: Literal["daily", "weekly", "monthly"]
    owner: str
    sections: list[str] = Field(min_length=1)
    audiences: list[Literal["executive", "board", "c_suite", "vp_operations", "strategy"]]
    formats: list[Literal["pdf", "xlsx", "email", "pptx"]] = Field(min_length=1)
    approval: Literal["auto", "manual"] = "auto"
    # Who may approve or reject the report (manual approval): named people, never the owner alone.
    reviewers: list[str] = Field(default_factory=list)
    distribution_lists: list[str] = Field(default_factory=list)
    channels: list[Literal["email", "slack", "teams", "webhook", "dashboard"]] = Field(
        default_factory=lambda: ["email"]
    )
    # A period with a missing day, or a day blocked by a failed check: "block" fails the
    # period's completeness check (ERROR) and nothing is rendered or sent; "state_gaps" renders
    # it and every figure says which days are missing.
    incomplete_period: Literal["block", "state_gaps"] = "block"
    # Which slides each audience's deck carries (kpis, charts, alerts, initiatives,
    # recommendations, details, appendix, or a report section); default: the audience's usual.
    deck_sections: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _deck_audiences(self) -> Report:
        unknown = sorted(set(self.deck_sections) - set(self.audiences))
        if unknown:
            raise ValueError(
                f"deck_sections for audiences the report does not have: {', '.join(unknown)}"
            )
        known = REPORT_SECTIONS[self.cadence]
        bad = [x for x in self.sections if x not in known]
        if bad:
            raise ValueError(f"sections {', '.join(bad)} are not sections of a {self.cadence} "
                             f"report (known: {', '.join(sorted(known))})")  # fmt: skip
        for audience, slides in self.deck_sections.items():
            bad = [x for x in slides if x not in DECK_SLIDES | known]
            if bad:
                raise ValueError(f"deck_sections.{audience}: unknown slide(s) {', '.join(bad)} "
                                 f"(known: {', '.join(sorted(DECK_SLIDES | known))})")  # fmt: skip
        return self

    @field_validator("reviewers")
    @classmethod
    def _reviewer_emails(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not EMAIL.match(a)]
        if bad:
            raise ValueError(f"not email addresses: {', '.join(bad)}")
        return v

    @model_validator(mode="after")
    def _someone_else_reviews(self) -> Report:
        others = [r for r in self.reviewers if r.lower() != self.owner.lower()]
        if self.approval == "manual" and not others:
            raise ValueError("approval is manual but no reviewer other than the owner is named "
                             "(reviewers)")  # fmt: skip
        return self

    @field_validator("owner")
    @classmethod
    def _owner_email(cls, v: str) -> str:
        if not EMAIL.match(v):
            raise ValueError(f"owner '{v}' is not an email address")
        return v


class DistributionList(Strict):
    """Primary recipients (To) and stakeholders kept informed (Cc)."""

    to: list[str] = Field(min_length=1)
    cc: list[str] = Field(default_factory=list)
    # The list's own address (e.g. exec-team@…): shown as To on every copy instead of the
    # reader's address. Each reader still gets one copy of their own.
    address: str | None = None

    @field_validator("to", "cc")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if not EMAIL.match(a)]
        if bad:
            raise ValueError(f"not email addresses: {', '.join(bad)}")
        return v

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not EMAIL.match(v):
            raise ValueError(f"'{v}' is not an email address")
        return v


class EmailChannel(Strict):
    mode: Literal["outbox", "smtp"] = "outbox"
    outbox_dir: str = "var/outbox"
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username_env: str | None = "SMTP_USERNAME"
    password_env: str | None = "SMTP_PASSWORD"
    sender: str = "reports@example.com"
    allowed_domains: list[str] = Field(default_factory=list)
    list_unsubscribe_url: str = "https://reports.example.com/unsubscribe"
    max_attachment_mb: float = Field(10.0, gt=0)
    # Cc shows the report's stakeholders only while they are this few; a longer list is not
    # shown to anyone (each reader still gets a copy of their own).
    max_cc_shown: int = Field(5, ge=0)
    timeout_s: float = Field(30, gt=0)  # per SMTP command
    retry_budget_s: float = Field(60, ge=0)  # all waits between retry passes of one run
    max_attempts: int = Field(5, ge=1)
    backoff_base_s: float = Field(1.0, gt=0)
    backoff_cap_s: float = Field(30.0, gt=0)

    _env = field_validator("username_env", "password_env")(_check_env_name)

    @field_validator("sender")
    @classmethod
    def _sender(cls, v: str) -> str:
        if not EMAIL.match(v):
            raise ValueError(f"'{v}' is not an email address")
        return v


class WebhookChannel(Strict):
    enabled: bool = False
    url_env: str
    signing_secret_env: str | None = None

    _env = field_validator("url_env", "signing_secret_env")(_check_env_name)


class DeliveryPolicy(Strict):
    """How runs share a delivery: one run sends a report period on a channel at a time."""

    # A run that sends refreshes its lease every quarter of this; a lease not refreshed for
    # this long belongs to a dead run, which is taken over and marked failed in Dagster.
    lease_stale_after_s: float = Field(60, ge=1, le=3600)


class Channels(Strict):
    email: EmailChannel = EmailChannel()
    slack: WebhookChannel = WebhookChannel(url_env="SLACK_WEBHOOK_URL")
    teams: WebhookChannel = WebhookChannel(url_env="TEAMS_WEBHOOK_URL")
    webhook: WebhookChannel = WebhookChannel(
        url_env="REPORT_WEBHOOK_URL", signing_secret_env="REPORT_WEBHOOK_SECRET"
    )


class CriticalAlertNotices(Strict):
    """Who hears about a critical alert the moment its data lands, and how often again."""

    distribution_list: str | None = None  # emailed when set
    channels: list[Literal["dashboard", "email", "slack", "teams", "webhook"]] = Field(
        default_factory=lambda: ["dashboard"]
    )
    renotify_minutes: int = Field(240, ge=1)


class Notifications(Strict):
    """Operational notices: critical alerts in real time, failures to the data team, the feed."""

    data_team: str | None = None  # distribution list told of failed runs and failed checks
    check_severities: list[Literal["WARN", "ERROR"]] = Field(
        default_factory=lambda: ["WARN", "ERROR"]
    )
    critical_alerts: CriticalAlertNotices = CriticalAlertNotices()
    feed_export: str = "var/feed/notifications.json"


class Scorecard(Strict):
    """The weekly business scorecard: which KPIs count, how much, and the overall score's bands.

    Each KPI is rated by the metric layer's one rating rule (its target and tolerance band).
    """

    weights: dict[str, float] = Field(min_length=1)
    score_green_at: float = Field(80, ge=0, le=100)  # the overall score (0-100)
    score_amber_at: float = Field(60, ge=0, le=100)

    @model_validator(mode="after")
    def _bands(self) -> Scorecard:
        if self.score_amber_at > self.score_green_at:
            raise ValueError(f"score_amber_at ({self.score_amber_at}) must not be above "
                             f"score_green_at ({self.score_green_at})")  # fmt: skip
        bad = [k for k, w in self.weights.items() if w <= 0]
        if bad:
            raise ValueError(f"weights must be positive: {', '.join(bad)}")
        return self


class Analytics(Strict):
    """How the weekly and monthly analytics and models work."""

    trend_weeks: int = Field(8, ge=3, le=52)
    trend_significance: float = Field(0.05, gt=0, lt=1)
    history_months: int = Field(13, ge=2, le=36)
    forecast_months: int = Field(3, ge=1, le=12)
    forecast_interval: float = Field(0.8, gt=0, lt=1)
    backtest_origins: int = Field(4, ge=1, le=12)
    churn_horizon_days: int = Field(30, ge=7, le=120)
    churn_window_days: int = Field(28, ge=7, le=90)
    history_z_threshold: float = Field(4.0, gt=0)


class RecommendationRule(Strict):
    """A finding that turns into a recommendation, with the dollars it puts at stake."""

    name: str
    metric: str
    label: str
    comparison: Literal["below", "above"]
    threshold: float
    action: str
    impact_basis: str
    impact_label: str = "MRR at stake"
    impact_scale: Literal["gap", "full"] = "gap"


class ImpactTargets(Strict):
    """The seed's business-impact targets and the baseline months they are measured against."""

    baseline_start: date | None = None  # first month of the baseline (default: history start)
    baseline_months: int = Field(3, ge=1, le=12)
    decision_speed: float = 0.25  # 25 % faster than the baseline
    revenue_protection: float = 0.15  # 15 % more of the at-risk revenue recovered
    cost_realization: float = 0.20  # 20 % of identified savings realized
    initiative_success: float = 0.80  # 80 % of initiatives on time


class Settings(Strict):
    """The whole business configuration of one reporting deployment."""

    def _threshold_sane(self, i: int, rule: AlertRule) -> None:
        """A threshold compared with the metric's value must be a value the metric can take."""
        if rule.comparison not in ("above", "below"):
            return
        m = self.metrics[rule.metric]
        low, high = m.valid_range
        if m.unit == "ratio":
            low, high = max(low if low is not None else 0.0, 0.0), min(
                high if high is not None else 1.0, 1.0)  # fmt: skip
        for level in ("warning", "critical"):
            x = getattr(rule, level)
            if (low is not None and x < low) or (high is not None and x > high):
                span = f"valid range {_bound(low)} to {_bound(high)}"
                raise ValueError(
                    f"alert_rules[{i}] ('{rule.name}'): {level} {x:g} can never be reached by "
                    f"{rule.metric} ({m.unit}, {span})"
                )

    branding: Branding
    calendar: Calendar
    storage: Storage = Storage()
    sources: Sources = Sources()
    demo: DemoCompany = DemoCompany()
    metrics: dict[str, Metric]
    alert_rules: list[AlertRule] = Field(default_factory=list)
    quality: Quality = Quality()
    reports: dict[str, Report]
    distribution_lists: dict[str, DistributionList]
    channels: Channels = Channels()
    delivery: DeliveryPolicy = DeliveryPolicy()
    notifications: Notifications = Notifications()
    scorecard: Scorecard
    analytics: Analytics = Analytics()
    recommendations: list[RecommendationRule] = Field(default_factory=list)
    impact: ImpactTargets = ImpactTargets()

    @model_validator(mode="after")
    def _references_exist(self) -> Settings:
        for i, rule in enumerate(self.alert_rules):
            if rule.metric not in self.metrics:
                raise ValueError(
                    f"alert_rules[{i}] ('{rule.name}') uses unknown metric '{rule.metric}'"
                )
        names = [r.name for r in self.alert_rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"alert rule names must be unique: {', '.join(dupes)}")
        for key, report in self.reports.items():
            for lst in report.distribution_lists:
                if lst not in self.distribution_lists:
                    raise ValueError(f"reports.{key} uses unknown distribution list '{lst}'")
        for metric in self.scorecard.weights:
            if metric not in self.metrics:
                raise ValueError(f"scorecard.weights uses unknown metric '{metric}'")
            if self.metrics[metric].target is None:
                raise ValueError(f"scorecard.weights: metric '{metric}' has no target to score")
        allowed = [d.lower() for d in self.channels.email.allowed_domains]
        if allowed:
            for name, lst in self.distribution_lists.items():
                for field in ("to", "cc"):
                    outside = [a for a in getattr(lst, field)
                               if a.rsplit("@", 1)[-1].lower() not in allowed]  # fmt: skip
                    if outside:
                        raise ValueError(
                            f"distribution_lists.{name}.{field}: {', '.join(outside)} outside "
                            f"channels.email.allowed_domains ({', '.join(allowed)})")  # fmt: skip
        for i, rule in enumerate(self.alert_rules):
            self._threshold_sane(i, rule)
        n = self.notifications
        for where, lst in (("notifications.data_team", n.data_team),
                           ("notifications.critical_alerts.distribution_list",
                            n.critical_alerts.distribution_list)):  # fmt: skip
            if lst is not None and lst not in self.distribution_lists:
                raise ValueError(f"{where} uses unknown distribution list '{lst}'")
        return self
