"""The annual strategic review of the reporting itself: did the framework deliver (the business
impact metrics month by month against their targets), did the investment pay (its cost against
the value the impact metrics attribute), how did the platform hold up (service levels, incidents,
growth of volume and cost), and do the reports follow the year's initiatives.

Plain functions (no Dagster), each giving rows of one long table (`ANNUAL_SCHEMA`): a part of
the review, its subject, the period (a month, or the year), the measure, its value and unit, the
target, whether it was met, and the detail in words.

Return on the reporting investment (`reporting_roi`):
    cost  = months live in the year × (platform_usd_per_month + people_hours_per_month ×
            hourly_rate_usd)                       [config `investment:`; live from impact.go_live]
    value = Σ months live (revenue recovered − baseline recovery share × revenue flagged at risk)
          + Σ savings realized: each opportunity's realized monthly savings × the live months of
            the year from the month it was realized to the month reviewed
    ROI   = (value − cost) / cost
The revenue term is what the revenue-protection metric attributes to the reporting: the recovery
beyond what the months before go-live recovered at the same exposure (negative when worse)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

import polars as pl

from reporting_assets.config.platform import Investment
from reporting_assets.lib.formatting import display_name, format_value, plural
from reporting_assets.metrics.rating import STATUS_WORDS
from reporting_assets.platform.figures import RunTiming
from reporting_assets.reports.impact_content import IMPACT_LABELS

ANNUAL_SCHEMA = {
    "part": pl.String,
    "subject": pl.String,
    "period": pl.String,
    "measure": pl.String,
    "value": pl.Float64,
    "unit": pl.String,
    "target": pl.Float64,
    "met": pl.Boolean,
    "detail": pl.String,
}
FRAMEWORK, ROI, PLATFORM, ALIGNMENT = "framework", "roi", "platform", "alignment"
# The report sections and deck slides that show the strategic initiatives.
INITIATIVE_PLACES = ("initiatives", "initiative_roi")
AUDIENCES = {"c_suite": "C-suite", "vp_operations": "VP operations"}


def _row(part, subject, period, measure, value, unit, target=None, met=None, detail=""):
    return dict(
        zip(
            ANNUAL_SCHEMA,
            (part, subject, period, measure, value, unit, target, met, detail),
            strict=True,
        )
    )


def framework_effectiveness(impact: Mapping[str, pl.DataFrame], year: str) -> list[dict]:
    """Each impact metric month by month (its rated figure against its target, and its status),
    and over the year: the months on target of the months rated."""
    rows, by_metric = [], {}
    for month in sorted(impact):
        for r in impact[month].iter_rows(named=True):
            label = IMPACT_LABELS.get(r["metric"], display_name(r["metric"]))
            met = None if r["status"] == "grey" else r["status"] == "green"
            by_metric.setdefault(label, []).append((month, r["status"]))
            rows.append(
                _row(
                    FRAMEWORK,
                    label,
                    month,
                    "rated against target",
                    r["rated"],
                    "ratio",
                    r["target"],
                    met,
                    f"{STATUS_WORDS[r['status']]}: {r['reason']}",
                )
            )
    for label, months in by_metric.items():
        rated = [(m, s) for m, s in months if s != "grey"]
        on = [m for m, s in rated if s == "green"]
        off = [date.fromisoformat(m) for m, s in rated if s != "green"]
        detail = f"On track in {len(on)} of {plural(len(rated), 'month')} rated"
        if off:
            detail += f"; not on target in {', '.join(f'{m:%B}' for m in off)}"
        if len(rated) < len(months):
            detail += f"; not rated in {len(months) - len(rated)}"
        rows.append(
            _row(
                FRAMEWORK,
                label,
                year,
                "months on target",
                float(len(on)),
                "count",
                float(len(rated)),
                bool(rated) and len(on) == len(rated),
                detail,
            )
        )
    return rows


def live_months(months: Iterable[date], go_live: date | None, due: date) -> list[date]:
    """The months of the year (first days) the reporting was live in, up to the month of `due`."""
    start = go_live.replace(day=1) if go_live else None
    return [m for m in months if (start is None or m >= start) and m <= due]


def reporting_roi(
    investment: Investment,
    months: list[date],
    impact: Mapping[str, pl.DataFrame],
    kpis: Mapping[str, Mapping[str, float | None]],
    savings: pl.DataFrame | None,
    due: date,
    year: str,
) -> list[dict]:
    """The year's return on the reporting investment (the formula is in the module docstring):
    `months` the live months, `impact` the business-impact tables by month key, `kpis` each
    month's KPI values, `savings` the savings register as of `due`."""
    cost = len(months) * investment.monthly_cost_usd
    recovered, counted = 0.0, []
    for m in months:
        key = m.isoformat()
        share = _impact_row(impact.get(key), "revenue_protection_share")
        values = kpis.get(key) or {}
        at_risk, got = values.get("mrr_at_risk_flagged"), values.get("revenue_recovered")
        if share is None or share["baseline"] is None or at_risk is None or got is None:
            continue
        recovered += got - share["baseline"] * at_risk
        counted.append(m)
    realized = 0.0
    if savings is not None:
        done = savings.filter(
            pl.col("realized_date").is_not_null() & (pl.col("realized_date") <= due)
        )
        for r in done.iter_rows(named=True):
            since = r["realized_date"].replace(day=1)
            realized += (r["realized_monthly_savings_usd"] or 0.0) * sum(m >= since for m in months)
    value = recovered + realized
    roi = (value - cost) / cost if cost else None
    per_month = format_value(investment.monthly_cost_usd, "usd")
    return [
        _row(
            ROI,
            "Cost of the reporting",
            year,
            "cost",
            cost,
            "usd",
            detail=(
                f"{plural(len(months), 'month')} live × {per_month} a month (platform "
                f"{format_value(investment.platform_usd_per_month, 'usd')} + "
                f"{investment.people_hours_per_month:g} h × "
                f"{format_value(investment.hourly_rate_usd, 'usd')})"
            ),
        ),
        _row(
            ROI,
            "Revenue recovered beyond the baseline",
            year,
            "value",
            recovered,
            "usd",
            detail=f"revenue recovered − the baseline's recovery share × revenue flagged at "
            f"risk, over {plural(len(counted), 'month')} with both measured",
        ),
        _row(
            ROI,
            "Savings realized",
            year,
            "value",
            realized,
            "usd",
            detail="each opportunity's realized monthly savings × the live months since it was "
            "realized",
        ),
        _row(
            ROI,
            "Value attributed",
            year,
            "value",
            value,
            "usd",
            target=cost,
            met=value >= cost,
            detail=f"{format_value(value, 'usd')} against {format_value(cost, 'usd')} spent",
        ),
        _row(
            ROI,
            "Return on the reporting investment",
            year,
            "roi",
            roi,
            "ratio",
            0.0,
            None if roi is None else roi >= 0,
            "(value attributed − cost) / cost",
        ),
    ]


def _impact_row(table: pl.DataFrame | None, metric: str) -> dict | None:
    found = table.filter(pl.col("metric") == metric) if table is not None else None
    return found.row(0, named=True) if found is not None and found.height else None


def slo_history(results: Iterable[Mapping], days: list[str], year: str) -> list[dict]:
    """Days each service level was met, from the daily check results {asset, check_name,
    partition_key, passed, evaluated_at} of the year's `days` (a day evaluated twice counts as
    its last evaluation)."""
    wanted, latest = set(days), {}
    for r in sorted(results, key=lambda r: r["evaluated_at"]):
        if r["partition_key"] in wanted:
            latest[(r["asset"], r["check_name"], r["partition_key"])] = r["passed"]
    per: dict[str, list[bool]] = {}
    for (asset, _, _), passed in sorted(latest.items()):
        per.setdefault(asset, []).append(bool(passed))
    return [
        _row(
            PLATFORM,
            display_name(asset.removeprefix("slo_")),
            year,
            "days met",
            float(sum(met)),
            "count",
            float(len(met)),
            all(met),
            f"met on {sum(met)} of {plural(len(met), 'day')} measured, of {len(days)} in the "
            "year to date",
        )
        for asset, met in per.items()
    ]


def incidents(runs: Iterable[RunTiming], months: list[date], year: str) -> list[dict]:
    """Failed runs (incidents) month by month (of the partition each run was for) and over the
    year, with the jobs that failed."""
    failed = [r for r in runs if r.status == "FAILURE"]
    by_month: dict[str, list[RunTiming]] = {}
    for r in failed:  # the month of the data the run was for (its partition's day)
        by_month.setdefault(r.partition[:8] + "01", []).append(r)
    rows = [
        _row(
            PLATFORM,
            "Incidents",
            m.isoformat(),
            "failed runs",
            float(len(by_month.get(m.isoformat(), []))),
            "count",
            detail=_jobs(by_month.get(m.isoformat(), [])),
        )
        for m in months
    ]
    rows.append(
        _row(
            PLATFORM,
            "Incidents",
            year,
            "failed runs",
            float(len(failed)),
            "count",
            detail=_jobs(failed),
        )
    )
    return rows


def _jobs(runs: list[RunTiming]) -> str:
    count: dict[str, int] = {}
    for r in runs:
        count[r.job] = count.get(r.job, 0) + 1
    return ", ".join(f"{j} {n}" for j, n in sorted(count.items())) or "none"


def volume_growth(
    events: Mapping[str, int],
    delivered: Iterable[datetime],
    months: list[date],
    monthly_cost: float,
    tz,
) -> list[dict]:
    """Month by month: product events loaded (the source's daily row counts), reports delivered
    (ledger rows sent, by the month they were sent), each with its change on the month before,
    and the reporting's cost per report delivered."""
    sent: dict[str, int] = {}
    for at in delivered:
        key = at.astimezone(tz).date().replace(day=1).isoformat()
        sent[key] = sent.get(key, 0) + 1
    loaded: dict[str, int] = {}
    for day, n in events.items():
        loaded[day[:8] + "01"] = loaded.get(day[:8] + "01", 0) + n
    rows, before = [], {}
    for m in months:
        key = m.isoformat()
        for subject, figures in (("Events loaded", loaded), ("Reports delivered", sent)):
            n = figures.get(key, 0)
            prev = before.get(subject)
            change = (n / prev - 1) if prev else None
            words = (
                "first month"
                if prev is None
                else (
                    "no change measurable (none the month before)"
                    if change is None
                    else f"{'+' if change >= 0 else '−'}{abs(change):.1%} on the month before"
                )
            )
            rows.append(_row(PLATFORM, subject, key, "volume", float(n), "count", detail=words))
            before[subject] = n
        per = monthly_cost / sent[key] if sent.get(key) else None
        rows.append(
            _row(
                PLATFORM,
                "Cost per report delivered",
                key,
                "cost",
                per,
                "usd",
                detail=f"{format_value(monthly_cost, 'usd')} a month / "
                f"{plural(sent.get(key, 0), 'report')} delivered",
            )
        )
    return rows


def alignment(
    reports: Mapping[str, Mapping],
    initiatives: pl.DataFrame | None,
    ledger: pl.DataFrame | None,
    delivered: Mapping[str, int],
    first: date,
    due: date,
    year: str,
) -> list[dict]:
    """Each initiative under way in the year: the report sections and deck slides that show it
    (config `reports.*.sections` / `deck_sections`), how often those reports were delivered,
    and what its ledger booked in the year. Aligned when a delivered report shows it and its
    ledger has entries this year (so its return can be shown)."""
    places = []
    for key, r in reports.items():
        where = [f"section {display_name(s)}" for s in r["sections"] if s in INITIATIVE_PLACES]
        where += [
            f"{AUDIENCES.get(a, display_name(a))} deck"
            for a, slides in r.get("deck_sections", {}).items()
            if any(s in INITIATIVE_PLACES for s in slides)
        ]
        if where:
            places.append((key, r["title"], where))
    shown = (
        "; ".join(
            f"{t} ({', '.join(w)}, delivered {plural(delivered.get(k, 0), 'time')})"
            for k, t, w in places
        )
        or "no report shows the initiatives"
    )
    reach = sum(delivered.get(k, 0) for k, _, _ in places)
    if initiatives is None:
        return []
    active = initiatives.filter(
        (pl.col("start_date") <= due)
        & (pl.col("actual_end_date").is_null() | (pl.col("actual_end_date") >= first))
    )
    rows = []
    for i in active.sort("name").iter_rows(named=True):
        booked = (
            ledger.filter(
                (pl.col("initiative_id") == i["initiative_id"])
                & (pl.col("month_start") >= first)
                & (pl.col("month_start") <= due)
            )
            if ledger is not None
            else None
        )
        spent = float(booked["spend_usd"].sum()) if booked is not None else 0.0
        benefit = (
            float(booked["realized_benefit_usd"].fill_null(0).sum()) if booked is not None else 0.0
        )
        months = booked.height if booked is not None else 0
        rows.append(
            _row(
                ALIGNMENT,
                i["name"],
                year,
                "report places showing it",
                float(sum(len(w) for _, _, w in places)),
                "count",
                None,
                bool(places) and reach > 0 and months > 0,
                f"{shown}. Ledger this year: {plural(months, 'month')} booked, "
                f"{format_value(spent, 'usd')} spent, {format_value(benefit, 'usd')} benefit",
            )
        )
    return rows
