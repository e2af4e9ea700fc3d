"""A small, hand-made ReportData for renderer tests, including hostile text from source data."""

from __future__ import annotations

from datetime import date

import polars as pl

from reporting_assets.reports.model import (
    AlertRow,
    Ask,
    Branding,
    CheckRow,
    Column,
    Decisions,
    Kpi,
    ReportData,
    Section,
)

HOSTILE_NAME = '<script>alert("x")</script> Harbor Media'
FORMULA_NAME = '=HYPERLINK("http://evil.example","click")'


def sample_report(rows: int = 6) -> ReportData:
    revenue = pl.DataFrame({
        "plan": ["starter", "growth", "scale", "enterprise", "total"],
        "opening_mrr": [150_000.0, 420_000.0, 380_000.0, 490_000.0, 1_440_000.0],
        "net_new_mrr": [-1_200.0, 2_500.0, 0.0, -1_555.0, -255.0],
        "closing_mrr": [148_800.0, 422_500.0, 380_000.0, 488_445.0, 1_439_745.0],
        "payment_failure_rate": [0.5, 0.6, None, 0.5, 0.5454],
    })  # fmt: skip
    accounts = pl.DataFrame({
        "account": [HOSTILE_NAME, FORMULA_NAME, "+1 555 0100 Ltd", "-minus Corp", "@handle Inc"]
        + [f"Account {i:03d}" for i in range(rows)],
        "mrr": [1200.0, 1000.0, 900.0, 450.0, 300.0] + [100.0 + i for i in range(rows)],
        "since": ["2026-01-01"] * (5 + rows),
    }).with_columns(pl.col("since").str.to_date())  # fmt: skip
    return ReportData(
        report_key="daily_executive",
        title="Daily Executive Report",
        cadence="daily",
        period_key="2026-11-26",
        period_label="Thursday, 26 November 2026",
        data_through="Data through 11:59 pm ET, Thursday 26 November 2026",
        generated_at="2026-11-27 06:30 ET",
        branding=Branding("Northwind Cloud", "#1F3A5F", "#2E86AB"),
        kpis=[
            Kpi(
                "mrr",
                "Monthly recurring revenue",
                "usd",
                1_439_745.0,
                1_440_000.0,
                None,
                "higher_is_better",
                "green",
                "Sum of subscription fees.",
            ),
            Kpi(
                "payment_failure_rate",
                "Payment failure rate",
                "ratio",
                0.5454,
                0.0625,
                0.04,
                "lower_is_better",
                "red",
                "Failed payment attempts / all attempts.",
            ),
            Kpi(
                "total_cost",
                "Cloud and vendor spend",
                "usd",
                7213.28,
                7477.32,
                None,
                "lower_is_better",
                "amber",
                "Spend of the day.",
            ),
            Kpi(
                "ticket_backlog",
                "Support backlog",
                "count",
                26,
                19,
                None,
                "lower_is_better",
                "grey",
                "Tickets open at the end of the day.",
            ),
        ],
        summary=[
            "MRR closed at $1,439,745, down $255 on the day.",
            "Payment failures hit 54.5% of attempts (12 of 22), against a 4.0% target.",
        ],
        alerts=[
            AlertRow(
                "payment_failures_high",
                "payment_failure_rate",
                "critical",
                0.5454,
                0.25,
                "2026-11-26",
                "payment_failure_rate = 0.5454 is above its critical threshold 0.25",
            )
        ],
        sections=[
            Section(
                "revenue_protection",
                "Revenue protection",
                "MRR movements by plan.",
                revenue,
                [
                    Column("plan", "Plan"),
                    Column("opening_mrr", "Opening MRR", "usd"),
                    Column("net_new_mrr", "Net new MRR", "usd"),
                    Column("closing_mrr", "Closing MRR", "usd"),
                    Column("payment_failure_rate", "Payment failure rate", "ratio"),
                ],
            ),
            Section(
                "accounts",
                "Accounts at risk",
                "Accounts with failed payments.",
                accounts,
                [
                    Column("account", "Account"),
                    Column("mrr", "MRR", "usd"),
                    Column("since", "Since", "date"),
                ],
            ),
        ],
        quality=[
            CheckRow(
                "revenue_protection_daily",
                "complete",
                True,
                "ERROR",
                "all required columns present",
            ),
            CheckRow(
                "cost_optimization_daily",
                "consistent_with_history",
                False,
                "WARN",
                "total_cost = 9,912 vs usual 7,185 (robust z +7.6)",
            ),
        ],
        definitions=[
            ("Monthly recurring revenue", "usd", "Sum of subscription fees."),
            ("Payment failure rate", "ratio", "Failed attempts / all attempts."),
        ],
        report_url="https://reports.northwind.example/reports/daily_executive/2026-11-26",
        decisions=Decisions(
            [
                "MRR closed at $1,439,745, down $255 on the day.",
                "Payment failure rate is in critical breach at 54.5% (threshold 25.0%).",
            ],
            [
                Ask(
                    "Have billing retry the failed payments",
                    "Daniel Okafor, CFO",
                    date(2026, 11, 30),
                    8_140.0,
                    "in failed payments",
                    "Payment failure rate at 54.5% against the critical threshold of 25.0%.",
                )
            ],
        ),
    )
