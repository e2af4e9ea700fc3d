"""What a report says, independent of its format: the numbers, the sentences and the checks.

Every renderer (PDF, workbook, email, deck) takes a `ReportData` and lays it out; none of them
computes a number of its own, so the same figure reads the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import polars as pl

from reporting_assets.lib.formatting import format_value
from reporting_assets.metrics.rating import STATUS_WORDS as STATUS_WORDS
from reporting_assets.metrics.rating import Status

# Words in reports and source data (statuses, check results, alert severities, risk bands) that
# carry a status colour, for every renderer: the deck's fills and bullets, the workbook's cells.
WORD_STATUS: dict[str, str] = {
    **{w: "green" for w in ("green", "on track", "on_track", "done", "complete", "completed",
                            "pass")},
    **{w: "amber" for w in ("amber", "watch", "at risk", "at_risk", "done late", "warning",
                            "warn", "medium")},
    **{w: "red" for w in ("red", "off track", "off_track", "behind", "blocked", "fail",
                          "critical", "error", "high")},
    **{w: "grey" for w in ("grey", "not rated", "not started", "info", "low")},
}  # fmt: skip

Unit = Literal["usd", "ratio", "count", "hours", "minutes", "per_100_accounts", "usd_per_k"]


@dataclass(frozen=True)
class Kpi:
    """One headline number with its comparison and status."""

    key: str
    label: str
    unit: Unit
    value: float | None
    previous: float | None
    target: float | None
    direction: Literal["higher_is_better", "lower_is_better", "neutral"]
    status: Status
    description: str = ""
    # Why the status is what it is: for "Not rated", the reason ("no payments attempted").
    status_reason: str = ""
    # Days of the period with no checked figures, in words (empty when the period is complete).
    gap: str = ""
    # The metric day by day up to the report's day, oldest first (the dashboard's sparkline).
    series: tuple[float | None, ...] = ()

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass(frozen=True)
class Column:
    """How a table column is labelled and formatted."""

    name: str
    label: str
    # "name": an identifier shown as a name (data_warehouse → Data warehouse); "month": a month's
    # first day shown as "February 2027".
    unit: Unit | Literal["text", "date", "bool", "name", "month"] = "text"
    # For tables mixing units (one metric per row): the column holding each row's unit.
    unit_from: str | None = None


@dataclass(frozen=True)
class Section:
    """A section of the report: a heading, a sentence or two, a table and its charts."""

    key: str
    title: str
    intro: str
    table: pl.DataFrame
    columns: list[Column]
    charts: list[str] = field(default_factory=list)
    # The columns a slide shows when the table is too wide for one (names; default: all).
    brief: list[str] = field(default_factory=list)
    # What the section shows, in one sentence (its slide's lead, its page's first line).
    takeaway: str = ""


@dataclass(frozen=True)
class CheckRow:
    """One quality check and its result, for the quality appendix."""

    asset: str
    check: str
    passed: bool
    severity: str
    description: str


@dataclass(frozen=True)
class AlertRow:
    rule: str
    metric: str
    severity: str
    value: float | None
    threshold: float
    since: str | None
    message: str
    # The dollars the alert put at stake on the days it fired at this severity (its rule's
    # `at_stake`), what the ask of a critical alert quotes; None when its rule names none.
    at_stake: float | None = None


@dataclass(frozen=True)
class Ask:
    """One thing the report asks of someone."""

    what: str  # an instruction: "Have billing retry the failed payments …"
    owner: str  # "Daniel Okafor, CFO"
    by: date | None
    at_stake: float | None  # dollars
    stake_words: str  # what the dollars are: "in failed payments"
    why: str  # the evidence, one short sentence

    @property
    def by_words(self) -> str:
        return f"{self.by:%a} {self.by.day} {self.by:%b}" if self.by else "—"

    @property
    def stake_text(self) -> str:
        if self.at_stake is None:
            return "—"
        return f"{format_value(self.at_stake, 'usd')} {self.stake_words}"


@dataclass(frozen=True)
class Decisions:
    """The takeaways and the asks of one report."""

    takeaways: list[str] = field(default_factory=list)
    asks: list[Ask] = field(default_factory=list)

    @property
    def no_asks(self) -> str:
        return "Nothing needs your decision in this report."


@dataclass(frozen=True)
class Branding:
    company_name: str
    primary_color: str
    accent_color: str
    logo_path: str | None = None


@dataclass(frozen=True)
class ReportData:
    """Everything one report for one period says."""

    report_key: str
    title: str
    cadence: str
    period_key: str
    period_label: str
    data_through: str
    generated_at: str
    branding: Branding
    kpis: list[Kpi]
    summary: list[str]
    alerts: list[AlertRow]
    sections: list[Section]
    quality: list[CheckRow]
    definitions: list[tuple[str, str, str]]  # (label, unit, what it means)
    report_url: str = ""
    chart_titles: dict[str, str] = field(default_factory=dict)  # chart name -> caption
    # What changed and what is asked of the reader: the block every artifact opens with.
    decisions: Decisions = field(default_factory=Decisions)
    # What each chart shows, as a takeaway: its slide's caption and notes (chart name → text).
    chart_takeaways: dict[str, str] = field(default_factory=dict)
