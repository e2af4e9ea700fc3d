"""The critical-alert notice: what broke, by how much, the dollars at stake, who owns it, what
is asked of them by when, and the links to act (acknowledge, runbook, the report) — as a
responsive HTML email with its plain-text part, and as the text chat and the feed show.

Built from the alert list's row for the day and the day's metric tables, by the same rules as
the reports' decision block (`decisions.py`), so a notice and the next morning's report agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from reporting_assets.config.models import Settings
from reporting_assets.lib.formatting import format_value
from reporting_assets.lib.links import alert_url, report_url
from reporting_assets.lib.templating import templates
from reporting_assets.reports.daily import alert_sentence
from reporting_assets.reports.decisions import (
    STAKE_WORDS,
    business_day_after,
    sentence_case,
    stake_of,
)

_TEMPLATES = templates(Path(__file__).with_name("templates"))


@dataclass(frozen=True)
class AlertNotice:
    """One alert notice, ready for every channel."""

    title: str
    headline: str  # the alert in one sentence
    facts: list[tuple[str, str]]  # (label, value) rows: value, threshold, stake, owner, by …
    ask: str  # what the owner is asked to do, or ""
    links: list[tuple[str, str]]  # (label, url): acknowledge, runbook, the report

    @property
    def text(self) -> str:
        lines = [self.headline, ""]
        lines += [f"{label}: {value}" for label, value in self.facts]
        if self.ask:
            lines += ["", f"Asked: {self.ask}"]
        if self.links:
            lines += ["", *(f"{label}: {url}" for label, url in self.links)]
        return "\n".join(lines)

    def html(self, company: str, primary: str) -> str:
        return _TEMPLATES.get_template("notice.html.j2").render(
            n=self, company=company, primary=primary
        )


def alert_notice(
    evaluation: dict,
    settings: Settings,
    revenue: pl.DataFrame | None,
    costs: pl.DataFrame | None,
    *,
    action: str = "new",
    reminder: int = 0,
    base_url: str = "",
) -> AlertNotice:
    """The notice of a critical alert (`evaluation` is its row of critical_alerts_daily; the
    frames are the day's revenue and cost tables, for the dollars at stake)."""
    rule = next((r for r in settings.alert_rules if r.name == evaluation["rule"]), None)
    m = settings.metrics[evaluation["metric"]]
    day: date = evaluation["date"]
    value = format_value(evaluation["value"], m.unit)
    limit = format_value(evaluation["threshold"], m.unit)
    revenue = pl.DataFrame() if revenue is None else revenue.filter(pl.col("plan") == "total")
    costs = pl.DataFrame() if costs is None else costs.filter(pl.col("level") == "total")
    stake = stake_of(rule.at_stake if rule else None, revenue, costs)
    if action == "resolved":
        title = f"Resolved: {m.label} back within its threshold ({value})"
    else:
        again = f" (reminder {reminder})" if reminder else ""
        title = f"Critical: {m.label} {value}, limit {limit}{again}"
    facts = [("Value", f"{value} on {day:%a} {day.day} {day:%B}"), ("Critical threshold", limit)]
    since = evaluation.get("breaching_since")
    if since and action != "resolved":
        days = evaluation.get("consecutive_days") or 1
        facts.append(("In breach since", f"{since.day} {since:%B} ({days} day"
                                         f"{'s' if days != 1 else ''})"))  # fmt: skip
    if stake is not None:
        facts.append(("At stake", f"{format_value(stake, 'usd')} {STAKE_WORDS[rule.at_stake]}"))
    ask = ""
    if rule is not None and rule.owner:
        facts.append(("Owner", settings.person(rule.owner)))
    if rule is not None and action != "resolved":
        by = business_day_after(day + timedelta(days=1), rule.respond_within_days)
        facts.append(("Respond by", f"{by:%a} {by.day} {by:%B}"))
        ask = sentence_case(rule.action) + "." if rule.action else ""
    links = []
    if base_url and action != "resolved":
        links.append(("Acknowledge", alert_url(base_url, evaluation["rule"], day.isoformat())))
    if rule is not None and rule.runbook_url:
        links.append(("Runbook", rule.runbook_url))
    daily = next((k for k, r in settings.reports.items() if r.cadence == "daily"), None)
    if base_url and daily:
        links.append(("Open the day's report", report_url(base_url, daily, day.isoformat())))
    if action == "resolved":
        headline = f"{m.label} is {value} on {day.day} {day:%B}, back within its thresholds."
    else:
        headline = alert_sentence(evaluation, settings)
    return AlertNotice(title, headline, facts, ask, links)
