"""Every headline KPI the pipeline stores and publishes equals the same KPI recomputed from the
raw demo inputs (the PostHog export files and the warehouse CSVs) by `raw.py`, which shares no
code with the platform's metrics.

The window (`window.py`, materialized once per session by the `pipeline` fixture of this
folder's conftest) runs February 2026 and the first two weeks of March through Dagster as the
schedules do, after four weeks of history that the trailing windows read. It holds every demo
anomaly. The tracking-outage day fails its quality gate on purpose: it publishes no metrics, and a
period holding it publishes no report, so the day-by-day comparisons skip it and the period ones
skip unpublished periods. `raw.py` finds that day with its own copy of the volume gate.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from reporting_assets.config import get_settings
from reporting_assets.lib.formatting import format_value
from reporting_assets_tests.reconciliation import raw
from reporting_assets_tests.reconciliation.window import (
    DAILY_REPORT,
    FIRST,
    LAST,
    METRIC_TABLES,
    PERIODS,
    PUBLISHED,
    WARM_UP,
)
from reporting_assets_tests.reconciliation.window import days as _days

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes

REVENUE, COST, OPS = (
    "revenue_protection_daily",
    "cost_optimization_daily",
    "operational_efficiency_daily",
)
assert (REVENUE, COST, OPS) == METRIC_TABLES
TOTAL_ROWS = {REVENUE: ("plan", "total"), COST: ("level", "total")}
# Where the stored daily tables keep each KPI: (asset, column) of the total row.
STORED = {
    "mrr": (REVENUE, "closing_mrr"),
    **{
        k: (REVENUE, k)
        for k in (
            "new_mrr",
            "reactivation_mrr",
            "expansion_mrr",
            "contraction_mrr",
            "churned_mrr",
            "net_new_mrr",
            "payment_failure_rate",
            "payment_recovery_rate",
            "revenue_recovered",
            "mrr_at_risk",
        )
    },
    "total_cost": (COST, "cost_usd"),
    "budget_variance": (COST, "budget_variance"),
    **{
        k: (OPS, k)
        for k in (
            "incidents_opened",
            "mttr_hours",
            "first_response_sla_rate",
            "pipeline_success_rate",
            "ticket_backlog",
        )
    },
}
assert set(STORED) == set(raw.KPIS)
# Numerators, denominators and parts the stored tables also show: (asset, column, unit).
COMPONENTS = {
    "opening_mrr": (REVENUE, "opening_mrr", "usd"),
    "payments_failed": (REVENUE, "payments_failed", "count"),
    "purchases": (REVENUE, "payments_succeeded", "count"),
    "payment_attempts": (REVENUE, "payment_attempts", "count"),
    "failed_payment_amount": (REVENUE, "failed_payment_amount", "usd"),
    "payments_recovered": (REVENUE, "payments_recovered", "count"),
    "recovered_amount": (REVENUE, "recovered_amount", "usd"),
    "dunning_cancellations": (REVENUE, "dunning_cancellations", "count"),
    "payments_settled": (REVENUE, "failed_payments_settled", "count"),
    "accounts_at_risk": (REVENUE, "accounts_at_risk", "count"),
    "usage_drop_accounts": (REVENUE, "usage_drop_accounts", "count"),
    "usage_drop_mrr": (REVENUE, "usage_drop_mrr", "usd"),
    "total_budget": (COST, "daily_budget_usd", "usd"),
    "first_responses": (OPS, "first_responses", "count"),
}
TOLERANCE = {"usd": 0.01, "ratio": 1e-9, "hours": 1e-9, "count": 0.0}
# Workbook: the header naming the period's value in a KPI table, and the "Day by day" columns.
VALUE_HEADERS = ("Value", "This week", "This month", "Ours")
DAY_COLUMNS = {
    "MRR": "mrr",
    "Net new": "net_new_mrr",
    "Churned": "churned_mrr",
    "Payment failures": "payment_failure_rate",
    "Spend": "total_cost",
    "vs budget": "budget_variance",
    "Incidents": "incidents_opened",
    "Backlog": "ticket_backlog",
    "First response SLA": "first_response_sla_rate",
    "MRR at risk": "mrr_at_risk",
    "Pipeline success": "pipeline_success_rate",
    "MTTR": "mttr_hours",
}
# Monthly "Business analysis" sheet: the month's MRR bridge columns (the month's bridge is the
# sum of its days' bridges, from the end of the day before the month to the end of its last day).
BRIDGE_COLUMNS = {
    "Opening": "opening_mrr",
    "New": "new_mrr",
    "Won back": "reactivation_mrr",
    "Expansion": "expansion_mrr",
    "Contraction": "contraction_mrr",
    "Churned": "churned_mrr",
    "Closing": "mrr",
}
# How the numerators and denominators of the ratio KPIs compare.
PART_UNITS = {
    **dict.fromkeys(
        (
            "payments_failed",
            "payment_attempts",
            "payments_recovered",
            "payments_settled",
            "resolved_sev12",
            "first_responses_within_sla",
            "first_responses",
            "runs_succeeded",
            "runs_finished",
        ),
        "count",
    ),
    "total_cost": "usd",
    "total_budget": "usd",
    "resolution_hours_sev12": "hours",
}
assert {c for pair in raw.RATIOS.values() for c in pair} == set(PART_UNITS)
# The movements the summary's MRR bridge sentence names, and the KPI each one is.
SENTENCE_PARTS = {
    "new": "new_mrr",
    "won back": "reactivation_mrr",
    "new and won back": "new_and_won_back_mrr",
    "expansion": "expansion_mrr",
    "contraction": "contraction_mrr",
    "churned": "churned_mrr",
}
# A value as `format_value` writes it: –, $1,234, −$5, 4.2%, −3.9%, 3.5 h, 1,234 (negatives
# with the true minus sign; a hyphen is matched too, so a wrong sign shows as a mismatch).
VALUE = r"(?:–|[-−]?\$[\d,]+|[-−]?[\d,]*\.?\d+%|[-−]?[\d,]*\.?\d+ h|[-−]?[\d,]+)"


def _same(stored, expected, unit: str) -> bool:
    if stored is None or expected is None:
        return stored is None and expected is None
    return abs(float(stored) - float(expected)) <= TOLERANCE[unit] + 1e-12


def _show(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:,.10g}" if abs(value) < 1 else f"{value:,.4f}"
    return str(value)


def _mismatch_table(title: str, rows: list[tuple]) -> str:
    """(where, kpi, stored, raw) rows as a readable list under a title."""
    lines = [f"{title}: {len(rows)} mismatch(es) (where, kpi, stored/published, raw)"]
    lines += [
        f"  {where:<24} {kpi:<28} {_show(got):>20}  {_show(want):>20}"
        for where, kpi, got, want in rows
    ]
    return "\n".join(lines)


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_daily(demo_company) -> pl.DataFrame:
    return raw.daily_kpis(Path(demo_company["path"]), _days(FIRST, LAST))


@pytest.fixture(scope="module")
def stored(pipeline) -> dict[date, dict[str, pl.DataFrame]]:
    """The stored metric tables of each window day that has all three."""
    out = {}
    for day in _days(FIRST, LAST):
        paths = {a: pipeline["assets"] / a / f"{day}.parquet" for a in METRIC_TABLES}
        if all(p.exists() for p in paths.values()):
            out[day] = {a: pl.read_parquet(p) for a, p in paths.items()}
    return out


def _total_row(tables: dict[str, pl.DataFrame], asset: str) -> dict:
    frame = tables[asset]
    if asset in TOTAL_ROWS:
        column, value = TOTAL_ROWS[asset]
        frame = frame.filter(pl.col(column) == value)
    assert frame.height == 1, f"{asset}: expected one total row, found {frame.height}"
    return frame.row(0, named=True)


def _blocked(pipeline, days: list[date]) -> list[date]:
    """Days whose run failed or left a metric table unwritten."""
    return [
        d
        for d in days
        if pipeline["daily"].get(d)
        or not all((pipeline["assets"] / a / f"{d}.parquet").exists() for a in METRIC_TABLES)
    ]


def _anomalies(demo_company) -> dict[str, date]:
    return {a["kind"]: date.fromisoformat(a["date"]) for a in demo_company["anomalies"]}


# -- the window and its blocked day ---------------------------------------------------------------


def test_the_window_holds_every_demo_anomaly(demo_company):
    anomalies = _anomalies(demo_company)
    assert anomalies, "the demo company has no anomalies to reconcile"
    outside = {k: d for k, d in anomalies.items() if not FIRST <= d <= LAST}
    assert not outside, f"anomalies outside {FIRST} – {LAST}: {outside}"


def test_the_tracking_outage_day_is_blocked_and_publishes_no_metrics(pipeline, demo_company):
    outage = _anomalies(demo_company)["tracking_outage"]
    assert pipeline["daily"][outage], f"the run of {outage} passed every gate"
    assert any("posthog_events" in f for f in pipeline["daily"][outage]), pipeline["daily"][outage]
    written = [a for a in METRIC_TABLES if (pipeline["assets"] / a / f"{outage}.parquet").exists()]
    assert not written, f"{outage}: metric tables written despite the failed gate: {written}"


def test_the_raw_volume_gate_blocks_the_days_the_pipeline_blocks(pipeline, demo_company):
    """`raw.volume_gate` (the PostHog volume rule recomputed from the export) blocks the same
    days as the pipeline's posthog_events completeness check: the tracking outage, and no other
    day of the window or of its 28-day usage windows. The first two weeks of the warm-up are left
    out: the private home has fewer than 2 earlier weeks for them (so the pipeline does not judge
    their volume), while the export has December for the raw gate."""
    judged = _days(WARM_UP + timedelta(weeks=2), LAST)
    raw_blocked = {
        d: v for d, v in raw.blocked_days(Path(demo_company["path"])).items() if d in judged
    }
    runs = {**pipeline["history"], **pipeline["daily"]}
    gate = {d for d in judged if any(f.startswith("posthog_events:complete") for f in runs[d])}
    outage = _anomalies(demo_company)["tracking_outage"]
    assert set(raw_blocked) == {outage}, f"raw gate blocks {raw_blocked}, expected {outage}"
    assert gate == set(raw_blocked), (
        f"the pipeline's volume gate blocked {sorted(gate)}, the raw gate {sorted(raw_blocked)}"
    )


def test_every_other_day_of_the_window_is_published(pipeline, demo_company):
    outage = _anomalies(demo_company)["tracking_outage"]
    blocked = [d for d in _blocked(pipeline, _days(FIRST, LAST)) if d != outage]
    assert not blocked, "days blocked besides the tracking outage:\n" + "\n".join(
        f"  {d}: {'; '.join(pipeline['daily'][d]) or 'tables missing'}" for d in blocked
    )


# -- day by day -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kpi", list(raw.KPIS))
def test_daily_kpi_equals_the_raw_recomputation(kpi, stored, raw_daily):
    unit = raw.KPIS[kpi][0]
    asset, column = STORED[kpi]
    expected = {r["date"]: r[kpi] for r in raw_daily.iter_rows(named=True)}
    assert stored, "no day of the window was published"
    rows = []
    for day, tables in sorted(stored.items()):
        row = _total_row(tables, asset)
        assert column in row, f"{asset} has no column {column} (columns: {', '.join(row)})"
        if not _same(row[column], expected[day], unit):
            rows.append((day.isoformat(), kpi, row[column], expected[day]))
    assert not rows, _mismatch_table(f"{asset}.{column} vs raw {kpi}", rows)


@pytest.mark.parametrize("component", list(COMPONENTS))
def test_daily_components_equal_the_raw_recomputation(component, stored, raw_daily):
    """The numerators, denominators and parts behind the KPIs: a KPI mismatch is easier to
    place when its parts are compared too."""
    asset, column, unit = COMPONENTS[component]
    expected = {r["date"]: r[component] for r in raw_daily.iter_rows(named=True)}
    first = _total_row(next(iter(stored.values())), asset)
    assert column in first, f"{asset} has no column {column}"
    rows = []
    for day, tables in sorted(stored.items()):
        got = _total_row(tables, asset)[column]
        if not _same(got, expected[day], unit):
            rows.append((day.isoformat(), component, got, expected[day]))
    assert not rows, _mismatch_table(f"{asset}.{column} vs raw {component}", rows)


def _transfer(plans: pl.DataFrame) -> tuple[list[str], pl.Expr]:
    """The plan-transfer columns of the plan rows (if any) and their signed sum (into the plan
    positive: a column whose name has an "out" part counts negative)."""
    columns = [c for c in plans.columns if "transfer" in c]
    signed = [pl.col(c) * (-1 if "out" in c.split("_") else 1) for c in columns]
    return columns, pl.sum_horizontal(signed) if signed else pl.lit(0.0)


def test_every_plan_bridges_opening_to_closing_mrr(stored, demo_company):
    """Per plan: opening + net new (+ the plan-transfer columns, when the table has them) =
    closing MRR. The raw MRR that moved between plans that day is shown with each failure."""
    bridge = raw.plan_bridge(Path(demo_company["path"]), sorted(stored))
    moved = {
        (r["date"], r["plan"]): (r["transfer_in_mrr"], r["transfer_out_mrr"])
        for r in bridge.iter_rows(named=True)
    }
    failures = []
    for day, tables in sorted(stored.items()):
        plans = tables[REVENUE].filter(pl.col("plan") != "total")
        columns, transfer = _transfer(plans)
        gap = plans.select(
            "plan",
            (pl.col("opening_mrr") + pl.col("net_new_mrr") + transfer - pl.col("closing_mrr")),
        )
        for plan, value in gap.iter_rows():
            if abs(value) > TOLERANCE["usd"]:
                t_in, t_out = moved.get((day, plan), (0.0, 0.0))
                failures.append(
                    f"  {day} {plan:<10} opening + net new"
                    f"{''.join(' + ' + c for c in columns)} − closing = {value:,.2f}"
                    f"  (raw plan transfers: in {t_in:,.2f}, out {t_out:,.2f})"
                )
    assert not failures, "plan rows whose MRR bridge does not close:\n" + "\n".join(failures)


def test_plan_rows_equal_the_raw_recomputation(stored, demo_company):
    """Per plan and day: opening and closing MRR by the account's plan at each end of the day,
    net new by the plan the events name, and the net MRR transferred into the plan."""
    bridge = raw.plan_bridge(Path(demo_company["path"]), sorted(stored))
    assert bridge["transfer_in_mrr"].sum() > 0, "no plan change in the window to reconcile"
    expected = {(r["date"], r["plan"]): r for r in bridge.iter_rows(named=True)}
    rows = []
    for day, tables in sorted(stored.items()):
        plans = tables[REVENUE].filter(pl.col("plan") != "total")
        columns, transfer = _transfer(plans)
        plans = plans.with_columns(transfer.alias("_transfer"))
        for r in plans.iter_rows(named=True):
            want = expected[(day, r["plan"])]
            parts = [
                ("opening_mrr", r["opening_mrr"], want["opening_mrr"]),
                ("closing_mrr", r["closing_mrr"], want["closing_mrr"]),
                ("net_new_mrr", r["net_new_mrr"], want["net_new_mrr"]),
            ]
            if columns:
                net = want["transfer_in_mrr"] - want["transfer_out_mrr"]
                parts.append(("+".join(columns), r["_transfer"], net))
            rows += [
                (f"{day} {r['plan']}", name, got, raw_value)
                for name, got, raw_value in parts
                if not _same(got, raw_value, "usd")
            ]
    assert not rows, _mismatch_table(f"{REVENUE} plan rows", rows)


# -- weekly and monthly reports -----------------------------------------------------------------


def _period(report: str, key: str) -> tuple[date, date]:
    return raw.period_bounds(PERIODS[(report, key)], key, LAST)


def _published(pipeline, report: str, key: str) -> Path:
    """The period's latest report version (it must have been published)."""
    version = pipeline["store"].latest(report, key)
    reasons = "; ".join(pipeline["reports"][(report, key)][:3]) or "no failure recorded"
    assert version is not None, f"{report} {key} was not published ({reasons})"
    return version


def _expected(raw_daily: pl.DataFrame, report: str, key: str) -> dict:
    start, end = _period(report, key)
    return raw.period_kpis(raw_daily, start, end)


def _labels() -> dict[str, str]:
    """KPI label (as printed) -> KPI key, for the KPIs recomputed here."""
    return {m.label: k for k, m in get_settings().metrics.items() if k in raw.KPIS}


PERIOD_IDS = [f"{r}-{k}" for r, k in PERIODS]
PUBLISHED_IDS = [f"{r}-{k}" for r, k in PUBLISHED]


def test_unpublished_periods_are_those_holding_a_blocked_day(pipeline):
    wrong = []
    for report, key in PERIODS:
        failures = pipeline["reports"][(report, key)]
        start, end = _period(report, key)
        blocked = _blocked(pipeline, _days(start, end))
        published = pipeline["store"].latest(report, key) is not None
        if published and blocked:
            wrong.append(f"  {report} {key} was published although {blocked} are blocked")
        if not published and not blocked:
            wrong.append(
                f"  {report} {key} every day is checked, yet it was not published: "
                f"{'; '.join(failures[:3])}"
            )
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("report", "key"), PUBLISHED, ids=PUBLISHED_IDS)
def test_report_json_kpis_equal_the_raw_rollup(report, key, pipeline, raw_daily):
    version = _published(pipeline, report, key)
    content = json.loads((version / "report.json").read_text())
    expected = _expected(raw_daily, report, key)
    rows = []
    assert content["kpis"], "the report has no KPIs"
    for kpi in content["kpis"]:
        if kpi["key"] not in raw.KPIS:
            rows.append((key, f"{kpi['key']} (not recomputed)", kpi["value"], None))
            continue
        unit, want = raw.KPIS[kpi["key"]][0], expected[kpi["key"]]
        if not _same(kpi["value"], want, unit):
            rows.append((key, kpi["key"], kpi["value"], want))
        if kpi["display"] != format_value(want, unit):
            rows.append((key, f"{kpi['key']} (display)", kpi["display"], format_value(want, unit)))
    # The period it says it covers: to the last day computed (a month in progress to date).
    end = _period(report, key)[1]
    if f"{end.day} {end:%B}" not in content["period_label"]:
        rows.append((key, "period_label", content["period_label"], f"… {end.day} {end:%B}"))
    if f"{end.day} {end:%B %Y}" not in content["data_through"]:
        rows.append((key, "data_through", content["data_through"], f"… {end.day} {end:%B %Y}"))
    assert not rows, _mismatch_table(f"{report} report.json", rows)


@pytest.mark.parametrize(("report", "key"), list(PERIODS), ids=PERIOD_IDS)
def test_stored_period_kpis_equal_the_raw_rollup(report, key, pipeline, raw_daily):
    """The stored weekly / monthly KPI table (`kpis_<cadence>`) that every report reads: each
    KPI's value, and a ratio's numerator and denominator, equal the raw roll-up of the period.
    A period with a blocked day must say so instead (incomplete, the day named as missing)."""
    cadence = PERIODS[(report, key)]
    path = pipeline["assets"] / f"kpis_{cadence}" / f"{key}.parquet"
    if not path.exists():
        pytest.skip(f"kpis_{cadence} {key} was not stored")
    table = pl.read_parquet(path)
    start, end = _period(report, key)
    blocked = _blocked(pipeline, _days(start, end))
    if blocked:
        assert not table["complete"].any(), f"{key} holds blocked days {blocked} yet is complete"
        named = " ".join(table["missing_days"].unique().to_list())
        assert all(d.isoformat() in named for d in blocked), (blocked, named)
        return
    expected = _expected(raw_daily, report, key)
    sums = raw.period_sums(raw_daily, start, end)
    by_metric = {r["metric"]: r for r in table.iter_rows(named=True)}
    rows = []
    for kpi, (unit, kind) in raw.KPIS.items():
        row = by_metric.get(kpi)
        if row is None:
            rows.append((key, f"{kpi} (missing)", None, expected[kpi]))
            continue
        if (row["period_start"], row["period_end"]) != (start, end):
            rows.append(
                (
                    key,
                    f"{kpi} period",
                    f"{row['period_start']}..{row['period_end']}",
                    f"{start}..{end}",
                )
            )
        if not _same(row["value"], expected[kpi], unit):
            rows.append((key, kpi, row["value"], expected[kpi]))
        if kind == "ratio":
            for part, column in zip(("numerator", "denominator"), raw.RATIOS[kpi], strict=True):
                if not _same(row[part], sums[column], PART_UNITS[column]):
                    rows.append((key, f"{kpi} {part}", row[part], sums[column]))
    assert not rows, _mismatch_table(f"kpis_{cadence} {key}", rows)


def _sheet_rows(ws) -> list[tuple]:
    return [r for r in ws.iter_rows(values_only=True)]


def _typed(value) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


@pytest.mark.parametrize(("report", "key"), PUBLISHED, ids=PUBLISHED_IDS)
def test_workbook_cells_equal_the_raw_recomputation(report, key, pipeline, raw_daily):
    """KPI tables (the value of the period in each), the day-by-day sheet and, for a month,
    its row of the MRR bridge: typed numbers equal to the raw roll-up or the raw day."""
    version = _published(pipeline, report, key)
    expected = _expected(raw_daily, report, key)
    start, end = _period(report, key)
    by_day = {r["date"]: r for r in raw_daily.iter_rows(named=True)}
    labels = _labels()
    wb = openpyxl.load_workbook(version / f"{report}_{key}.xlsx", read_only=True)
    rows, checked = [], 0

    def compare(where: str, kpi: str, got, want) -> None:
        nonlocal checked
        checked += 1
        unit = raw.KPIS[kpi][0] if kpi in raw.KPIS else "usd"  # opening MRR
        if not _typed(got) or not _same(got, want, unit):
            rows.append((where, kpi, got, want))

    for ws in wb.worksheets:
        cells = _sheet_rows(ws)
        for i, header in enumerate(cells):
            if not header or header[0] not in ("Metric", "KPI", "Day", "Month"):
                continue
            body = []
            for r in cells[i + 1 :]:
                if not r or r[0] is None:
                    break
                body.append(r)
            if header[0] in ("Metric", "KPI"):
                col = next((j for j, h in enumerate(header) if h in VALUE_HEADERS), None)
                for r in body if col is not None else []:
                    if r[0] in labels:
                        compare(f"{ws.title}", labels[r[0]], r[col], expected[labels[r[0]]])
            elif header[0] == "Day":
                days = [r[0].date() if isinstance(r[0], datetime) else r[0] for r in body]
                if days != _days(start, end):
                    rows.append(
                        (
                            ws.title,
                            "days",
                            f"{days[0]}..{days[-1]} ({len(days)})",
                            f"{start}..{end} ({(end - start).days + 1})",
                        )
                    )
                for d, r in zip(days, body, strict=True):
                    for j, h in enumerate(header):
                        if h in DAY_COLUMNS and d in by_day:
                            kpi = DAY_COLUMNS[h]
                            compare(f"{ws.title} {d}", kpi, r[j], by_day[d][kpi])
            elif header[0] == "Month" and PERIODS[(report, key)] == "monthly":
                for r in body:
                    month = r[0].date() if isinstance(r[0], datetime) else r[0]
                    if month != start:
                        continue
                    for j, h in enumerate(header):
                        if h in BRIDGE_COLUMNS:
                            compare(
                                f"{ws.title} {month:%Y-%m}",
                                BRIDGE_COLUMNS[h],
                                r[j],
                                expected[BRIDGE_COLUMNS[h]],
                            )
            break  # one table per sheet
    assert checked, "no KPI found in the workbook"
    assert not rows, _mismatch_table(f"{report} {key} workbook", rows)


def _pdf_lines(path: Path) -> list[str]:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout.splitlines()


def _cells(line: str) -> list[tuple[int, str]]:
    """A layout line's cells (runs of text separated by two or more spaces) with their column."""
    return [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", line)]


def _card_values(lines: list[str], label: str) -> list[tuple[int, str]]:
    """Values printed under `label` in a KPI card: the label (wrapped over lines or not) with
    its value in the same column below it; (line number, value) per card."""
    found = []
    for i, line in enumerate(lines):
        for col, text in _cells(line):
            if text != label and not label.startswith(text + " "):
                continue
            seen, value = text, None
            for below in lines[i + 1 : i + 7]:
                under = [t for c, t in _cells(below) if abs(c - col) <= 3]
                if not under:
                    continue
                if seen != label and label.startswith(f"{seen} {under[0]}"):
                    seen = f"{seen} {under[0]}"
                    continue
                if seen == label and re.fullmatch(VALUE, under[0]):
                    value = under[0]
                break
            if value is not None:
                found.append((i + 1, value))
    return found


def _row_values(lines: list[str], label: str) -> list[tuple[int, str]]:
    """Values printed right after `label` on its own line (a table row)."""
    pattern = re.compile(rf"^\s*{re.escape(label)}\s+({VALUE})(?=\s|$)")
    return [(i + 1, m[1]) for i, line in enumerate(lines) if (m := pattern.match(line))]


@pytest.mark.parametrize(("report", "key"), PUBLISHED, ids=PUBLISHED_IDS)
def test_pdf_kpis_equal_the_raw_rollup(report, key, pipeline, raw_daily):
    """Every KPI card and every KPI row of a table (scorecard, trends, benchmarks, summary
    table) prints the raw roll-up of the period, formatted as the reports format it."""
    version = _published(pipeline, report, key)
    content = json.loads((version / "report.json").read_text())
    lines = _pdf_lines(version / f"{report}_{key}.pdf")
    expected = _expected(raw_daily, report, key)
    rows, missing = [], []
    for kpi in content["kpis"]:
        if kpi["key"] not in raw.KPIS:
            continue
        cards = _card_values(lines, kpi["label"])
        if not cards:
            missing.append(kpi["label"])
        want = format_value(expected[kpi["key"]], raw.KPIS[kpi["key"]][0])
        rows += [(f"card, line {n}", kpi["key"], got, want) for n, got in cards if got != want]
    for label, k in _labels().items():
        want = format_value(expected[k], raw.KPIS[k][0])
        rows += [
            (f"table, line {n}", k, got, want)
            for n, got in _row_values(lines, label)
            if got != want
        ]
    assert not missing, f"no KPI card found for {missing}"
    assert not rows, _mismatch_table(f"{report} {key} PDF", rows)


def _summary_rows(text: str, e: dict, end: date, where: str) -> list[tuple]:
    """The MRR bridge ("MRR moved from … to … (… net new): … new, … won back, … expansion, …
    contraction and … churned") and spend sentences of a summary, against the raw roll-up `e`
    (for a month: the sum of its days' bridges)."""
    usd = lambda v: format_value(v, "usd")  # noqa: E731
    rows = []
    bridges = re.findall(r"MRR moved from (\S+) to (\S+) \((\S+) net new\): ([^.]*)\.", text)
    assert bridges, f"the summary's MRR bridge sentence is not in the {where}"
    for opening, closing, net, parts in bridges:
        for k, got in (("opening_mrr", opening), ("mrr", closing), ("net_new_mrr", net)):
            if got != usd(e[k]):
                rows.append((f"{where} MRR bridge", k, got, usd(e[k])))
        named = re.findall(
            rf"({VALUE}) (new and won back|new|won back|expansion|contraction|churned)\b", parts
        )
        assert named, f"no movement named in the MRR bridge sentence: {parts!r}"
        for got, what in named:
            k = SENTENCE_PARTS[what]
            if got != usd(e[k]):
                rows.append((f"{where} MRR bridge ({what})", k, got, usd(e[k])))
    days = re.search(r"Over the (\d+) days to (\d+ \w+)", text)
    if days and days.groups() != (str(e["days"]), f"{end.day} {end:%B}"):
        rows.append((where, "days", " to ".join(days.groups()), f"{e['days']} to {end:%d %B}"))
    spend = re.search(r"Spend was (\S+), (\S+) against budget", text)
    assert spend, f"the summary's spend sentence is not in the {where}"
    for k, got in zip(("total_cost", "budget_variance"), spend.groups(), strict=True):
        if got != format_value(e[k], raw.KPIS[k][0]):
            rows.append((f"{where} spend", k, got, format_value(e[k], raw.KPIS[k][0])))
    return rows


@pytest.mark.parametrize(("report", "key"), PUBLISHED, ids=PUBLISHED_IDS)
def test_summary_sentences_equal_the_raw_rollup(report, key, pipeline, raw_daily):
    """The executive summary's MRR bridge and spend sentences, in report.json and in the PDF,
    print the raw roll-up of the period: for a month, opening, new, won back, expansion,
    contraction, churned and closing are the sums of its days' bridges."""
    version = _published(pipeline, report, key)
    content = json.loads((version / "report.json").read_text())
    pdf = " ".join(" ".join(_pdf_lines(version / f"{report}_{key}.pdf")).split())
    start, end = _period(report, key)
    e = _expected(raw_daily, report, key)
    rows = _summary_rows(" ".join(content["summary"]), e, end, "report.json")
    rows += _summary_rows(pdf, e, end, "PDF")
    assert not rows, _mismatch_table(f"{report} {key} summary ({start} – {end})", rows)


@pytest.mark.parametrize(("report", "key"), [*PUBLISHED, DAILY_REPORT],
                         ids=[*PUBLISHED_IDS, "-".join(DAILY_REPORT)])  # fmt: skip
def test_failed_payments_at_stake_equal_the_raw_sum_over_the_critical_days(
    report, key, pipeline, raw_daily
):
    """The ask a payment-failure breach puts to its owner quotes the failed payments of the
    days the raw payment failure rate was above the rule's critical threshold, summed from the
    raw export; the alerts table shows the same figure. No breach, no ask."""
    version = report == "daily_executive" and pipeline["store"].latest(report, key)
    version = version or _published(pipeline, report, key)
    content = json.loads((version / "report.json").read_text())
    rule = next(r for r in get_settings().alert_rules if r.name == "payment_failures_high")
    start, end = (date.fromisoformat(key),) * 2 if report == "daily_executive" else _period(
        report, key)  # fmt: skip
    days = raw_daily.filter(pl.col("date").is_between(start, end))
    breached = days.filter(pl.col("payment_failure_rate") > rule.critical)
    if report == "daily_executive":
        assert breached.height == 1, "the daily report's day is the demo's payment-failure spike"
    asks = [a for a in content["decisions"]["asks"] if a["stake_words"] == "in failed payments"]
    if breached.is_empty():
        assert asks == []
        return
    want = breached.get_column("failed_payment_amount").sum()
    [ask] = asks
    assert ask["at_stake"] == pytest.approx(want, abs=0.01), breached.get_column("date")
    assert ask["stake_text"].startswith(format_value(want, "usd"))
    [alert] = [a for a in content["alerts"] if a["rule"] == rule.name]
    assert alert["severity"] == "critical" and alert["at_stake"] == pytest.approx(want, abs=0.01)
