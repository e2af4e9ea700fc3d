"""Reports and how they reach people: report definitions, distribution lists, channels,
delivery leases and operational notices."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from reporting_assets.config.base import (
    EMAIL,
    Strict,
    _check_env_name,
)

REPORT_SECTIONS = {
    "daily": {"summary", "revenue_protection", "cost_optimization", "operational_efficiency",
              "alerts", "quality"},
    "weekly": {"summary", "trends", "scorecard", "initiatives", "roi", "alerts", "quality",
               "operations"},
    "monthly": {"summary", "business_analysis", "benchmarks", "forecasts", "recommendations",
                "impact", "alerts", "quality", "initiative_roi"},
}  # fmt: skip
# The sections of the platform's own monthly performance review (a report of `kind: platform`).
PLATFORM_SECTIONS = {"reading", "relevance", "cobwebs", "feedback", "delivery", "service_levels"}
DECK_SLIDES = {"title", "agenda", "kpis", "charts", "alerts", "initiatives", "recommendations",
               "details", "appendix", "days", "mrr_bridge", "coverage",
               "churn_risk", "operations_days", "costs_by_team", "scenarios"}  # fmt: skip


class Report(Strict):
    """A report: its cadence, what it contains, who gets it, in which formats, and its review."""

    title: str
    # "business": the company's figures; "platform": the monthly review of the reporting itself
    # (usage, feedback, delivery, service levels), for the data team.
    kind: Literal["business", "platform"] = "business"
    cadence: Literal["daily", "weekly", "monthly"]
    owner: str
    sections: list[str] = Field(min_length=1)
    audiences: list[
        Literal["executive", "board", "c_suite", "vp_operations", "strategy", "data_team"]
    ]
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
    # Which distribution lists receive each audience's deck with their email (the lists must
    # be among the report's `distribution_lists`); an audience not named here is not sent.
    deck_lists: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _deck_audiences(self) -> Report:
        unknown = sorted((set(self.deck_sections) | set(self.deck_lists)) - set(self.audiences))
        if unknown:
            raise ValueError(f"decks for audiences the report does not have: {', '.join(unknown)}")
        if self.kind == "platform" and self.cadence != "monthly":
            raise ValueError("a platform review is monthly (cadence: monthly)")
        known = PLATFORM_SECTIONS if self.kind == "platform" else REPORT_SECTIONS[self.cadence]
        bad = [x for x in self.sections if x not in known]
        if bad:
            raise ValueError(f"sections {', '.join(bad)} are not sections of a {self.cadence} "
                             f"report (known: {', '.join(sorted(known))})")  # fmt: skip
        for audience, lists in self.deck_lists.items():
            stray = [x for x in lists if x not in self.distribution_lists]
            if stray:
                raise ValueError(f"deck_lists.{audience}: {', '.join(stray)} is not among the "
                                 "report's distribution_lists")  # fmt: skip
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
    feed_exports: str = "var/feed"  # `reporting feed export --user` writes <address>.json here
