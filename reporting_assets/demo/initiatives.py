"""The demo company's strategic initiatives (milestones, budgets, value delivered) and the
industry benchmarks its analysis compares with."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

# (service, vendor, team, base daily USD, share that scales with usage)

INITIATIVES = (
    # id, name, owner, start offset, planned months, investment, expected benefit, outcome
    (
        "ini_dunning",
        "Smart dunning and card updater",
        "cfo@northwind.example",
        20,
        4,
        180_000,
        650_000,
        "on_time",
    ),
    (
        "ini_selfserve",
        "Self-serve onboarding",
        "vp.product@northwind.example",
        35,
        6,
        420_000,
        1_200_000,
        "late",
    ),
    (
        "ini_finops",
        "FinOps rightsizing program",
        "vp.engineering@northwind.example",
        50,
        3,
        90_000,
        380_000,
        "on_time",
    ),
    (
        "ini_sso",
        "Enterprise SSO and SCIM",
        "vp.engineering@northwind.example",
        80,
        5,
        260_000,
        900_000,
        "on_time",
    ),
    (
        "ini_support_ai",
        "Support triage assistant",
        "support.lead@northwind.example",
        120,
        4,
        150_000,
        300_000,
        "late",
    ),
    (
        "ini_emea",
        "EMEA data residency",
        "coo@northwind.example",
        160,
        8,
        700_000,
        1_500_000,
        "in_progress",
    ),
    (
        "ini_pricing",
        "Usage-based pricing pilot",
        "cfo@northwind.example",
        240,
        5,
        120_000,
        500_000,
        "in_progress",
    ),
    (
        "ini_reliability",
        "Reliability program (SLOs)",
        "vp.engineering@northwind.example",
        300,
        6,
        330_000,
        450_000,
        "at_risk",
    ),
)


def initiatives(days: list[date]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Strategic initiatives with owners, plans, investment and benefits, and their milestones."""
    first, last = days[0], days[-1]
    rows, milestones = [], []
    for iid, name, owner, offset, months, invest, benefit, outcome in INITIATIVES:
        start = first + timedelta(days=offset)
        if start > last:
            continue
        planned_end = start + timedelta(days=30 * months)
        slip = {"on_time": 0, "late": 35, "in_progress": 0, "at_risk": 45}[outcome]
        actual_end = planned_end + timedelta(days=slip)
        done = actual_end <= last and outcome in ("on_time", "late")
        rows.append(
            (
                iid,
                name,
                owner,
                start,
                planned_end,
                actual_end if done else None,
                float(invest),
                float(benefit),
            )
        )
        for m in range(1, 5):
            planned = start + timedelta(days=int(30 * months * m / 4))
            m_slip = int(slip * m / 4)
            actual = planned + timedelta(days=m_slip)
            milestones.append(
                (
                    iid,
                    f"M{m}",
                    ("Design", "Build", "Pilot", "Rollout")[m - 1],
                    planned,
                    actual if actual <= last else None,
                )
            )
    ini = pl.DataFrame(
        rows,
        orient="row",
        schema={
            "initiative_id": pl.String,
            "name": pl.String,
            "owner": pl.String,
            "start_date": pl.Date,
            "planned_end_date": pl.Date,
            "actual_end_date": pl.Date,
            "investment_usd": pl.Float64,
            "expected_annual_benefit_usd": pl.Float64,
        },
    )
    ms = pl.DataFrame(
        milestones,
        orient="row",
        schema={
            "initiative_id": pl.String,
            "milestone_id": pl.String,
            "milestone": pl.String,
            "planned_date": pl.Date,
            "actual_date": pl.Date,
        },
    )
    return ini, ms


def initiative_ledger(seed: int, days: list[date], ini: pl.DataFrame) -> pl.DataFrame:
    """Monthly spend and realized benefit booked against each initiative."""
    rows = []
    rng = np.random.default_rng([seed, 88])
    for r in ini.iter_rows(named=True):
        months = max(1, (r["planned_end_date"] - r["start_date"]).days // 30)
        monthly_spend = r["investment_usd"] / months
        m = r["start_date"].replace(day=1)
        while m <= days[-1]:
            if m <= r["planned_end_date"]:
                spend = round(monthly_spend * float(rng.uniform(0.85, 1.15)), 2)
            else:
                spend = 0.0
            live_from = r["actual_end_date"] or r["planned_end_date"]
            benefit = 0.0
            if r["actual_end_date"] is not None and m >= live_from.replace(day=1):
                benefit = round(
                    r["expected_annual_benefit_usd"] / 12 * float(rng.uniform(0.6, 1.05)), 2
                )
            rows.append((r["initiative_id"], m, spend, benefit))
            m = (m + timedelta(days=32)).replace(day=1)
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "initiative_id": pl.String,
            "month_start": pl.Date,
            "spend_usd": pl.Float64,
            "realized_benefit_usd": pl.Float64,
        },
    )


def industry_benchmarks() -> pl.DataFrame:
    """Percentiles of common SaaS KPIs for companies of Northwind's size (ARR $5–20 M)."""
    rows = [
        ("arr_growth_yoy", "ratio", 0.12, 0.25, 0.42, 0.65),
        ("net_revenue_retention", "ratio", 0.95, 1.02, 1.10, 1.20),
        ("gross_revenue_retention", "ratio", 0.82, 0.88, 0.92, 0.95),
        ("gross_margin", "ratio", 0.65, 0.73, 0.79, 0.84),
        ("cac_payback_months", "months", 26.0, 18.0, 13.0, 9.0),
        ("monthly_logo_churn", "ratio", 0.035, 0.022, 0.014, 0.008),
        ("payment_recovery_rate", "ratio", 0.45, 0.58, 0.70, 0.80),
        ("infra_cost_share_of_revenue", "ratio", 0.22, 0.16, 0.12, 0.09),
        ("first_response_sla_rate", "ratio", 0.80, 0.88, 0.94, 0.97),
        ("mttr_hours", "hours", 12.0, 6.0, 3.5, 2.0),
    ]
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "kpi": pl.String,
            "unit": pl.String,
            "p25": pl.Float64,
            "p50": pl.Float64,
            "p75": pl.Float64,
            "p90": pl.Float64,
        },
    ).with_columns(segment=pl.lit("B2B SaaS, ARR $5-20M"), source_year=pl.lit(2026, dtype=pl.Int64))
