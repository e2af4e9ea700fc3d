"""The critical-alert notice: the alert in a sentence, the dollars at stake from the day's
table, its owner and what they are asked to do by when, and the links to act; readable on a
phone (measured in headless Chromium)."""

from __future__ import annotations

from datetime import date

import polars as pl

from reporting_assets.config import get_settings
from reporting_assets.reports.notices import alert_notice
from reporting_assets_tests.reports.phone import measure

DAY = date(2026, 11, 28)  # a Saturday: the answer is due on Monday
EVALUATION = {
    "date": DAY, "rule": "payment_failures_high", "metric": "payment_failure_rate",
    "scope": "total", "comparison": "above", "severity": "critical", "value": 0.3171,
    "threshold": 0.25, "breaching_since": DAY, "consecutive_days": 1,
}  # fmt: skip
REVENUE = pl.DataFrame({"date": [DAY, DAY], "plan": ["growth", "total"],
                        "failed_payment_amount": [1_000.0, 8_140.0],
                        "mrr_at_risk": [0.0, 83_295.0]})  # fmt: skip
BASE = "https://reports.northwind.example"


def test_the_notice_says_what_is_at_stake_who_owns_it_and_how_to_act():
    n = alert_notice(EVALUATION, get_settings(), REVENUE, None, base_url=BASE)
    assert n.title == "Critical: Payment failure rate 31.7%, limit 25.0%"
    facts = dict(n.facts)
    assert facts["At stake"] == "$8,140 in failed payments"  # the total row, not a plan's
    assert facts["Owner"] == "Daniel Okafor, CFO"
    assert facts["Respond by"] == "Mon 30 November"
    assert facts["In breach since"] == "28 November (1 day)"
    assert n.ask.startswith("Have billing retry the failed payments")
    links = dict(n.links)
    # The alert's page, whose button acknowledges it (a mail scanner that opens links
    # acknowledges nothing).
    assert links["Acknowledge"] == f"{BASE}/alerts/payment_failures_high/2026-11-28"
    assert links["Runbook"].startswith("https://wiki.northwind.example/runbooks/")
    for part in (n.headline, "$8,140 in failed payments", "Daniel Okafor, CFO", n.ask,
                 links["Acknowledge"]):  # fmt: skip
        assert part in n.text
    back = {
        **EVALUATION,
        "value": 0.05,
        "severity": "info",
        "breaching_since": None,
        "consecutive_days": 0,
    }  # as the alert list stores a day back within its thresholds
    resolved = alert_notice(back, get_settings(), REVENUE, None, action="resolved",
                            base_url=BASE)  # fmt: skip
    assert resolved.title.startswith("Resolved: Payment failure rate back within")
    assert "Acknowledge" not in dict(resolved.links) and not resolved.ask


def test_the_notice_reads_on_a_phone(tmp_path):
    n = alert_notice(EVALUATION, get_settings(), REVENUE, None, base_url=BASE)
    page = measure(n.html("Northwind Cloud", "#1F3A5F"), 375, tmp_path)
    assert page["viewport"] == 375 and page["content_width"] <= 375, page
    assert page["smallest"]["size"] >= 11, page["smallest"]
