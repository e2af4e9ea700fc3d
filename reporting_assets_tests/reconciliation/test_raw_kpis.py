"""Every headline KPI the pipeline stores and publishes equals the same KPI recomputed from the
raw demo inputs (the PostHog export files and the warehouse CSVs) by `raw.py`, which shares no
code with the platform's metrics.

The module runs February 2026 and the first two weeks of March through Dagster as the
schedules do (daily_metrics_job day by day, then the weekly and monthly report jobs), after
four warm-up weeks that the trailing windows read (the 28-day usage and cost history, the
same-weekday event volume). The window holds every demo anomaly. The tracking-outage day fails
its quality gate on purpose: it publishes no metrics, and a period holding it publishes no
report, so the day-by-day comparisons skip it and the period ones skip unpublished periods.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import openpyxl
import polars as pl
import pytest

from reporting_assets.config import get_settings
from reporting_assets.definitions import defs
from reporting_assets.reports.formatting import format_value
from reporting_assets.reports.store import ArtifactStore
from reporting_assets_tests.reconciliation import raw

FIRST, LAST = date(2026, 2, 1), date(2026, 3, 14)
WARM_UP = FIRST - timedelta(weeks=4)
# (report, period key) -> cadence: the two weeks and the two months the window touches.
PERIODS = {
    ("weekly_business_review", "2026-02-01"): "weekly",  # holds the tracking outage
    ("weekly_business_review", "2026-03-08"): "weekly",  # the latest complete week (DST)
    ("monthly_board_report", "2026-02-01"): "monthly",
    ("monthly_board_report", "2026-03-01"): "monthly",  # month to date
}
JOBS = {"weekly": "weekly_report_job", "monthly": "monthly_report_job"}
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

REVENUE, COST, OPS = (
    "revenue_protection_daily",
    "cost_optimization_daily",
    "operational_efficiency_daily",
)
METRIC_TABLES = (REVENUE, COST, OPS)
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
    "payment_attempts": (REVENUE, "payment_attempts", "count"),
    "failed_payment_amount": (REVENUE, "failed_payment_amount", "usd"),
    "payments_recovered": (REVENUE, "payments_recovered", "count"),
    "recovered_amount": (REVENUE, "recovered_amount", "usd"),
    "dunning_cancellations": (REVENUE, "dunning_cancellations", "count"),
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
# Monthly "Business analysis" sheet: the month's MRR bridge columns.
BRIDGE_COLUMNS = {
    "New": "new_mrr",
    "Won back": "reactivation_mrr",
    "Expansion": "expansion_mrr",
    "Contraction": "contraction_mrr",
    "Churned": "churned_mrr",
    "Closing": "mrr",
}
# A value as `format_value` writes it: –, $1,234, -$5, 4.2%, -3.9%, 3.5 h, 1,234.
VALUE = r"(?:–|-?\$[\d,]+|-?[\d,]*\.?\d+%|[\d,]*\.?\d+ h|[\d,]+)"


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _failures(result) -> list[str]:
    """What stopped a run: failed ERROR checks and failed steps (empty for a successful run)."""
    found = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            check = event.asset_check_evaluation_data
            if not check.passed and check.severity == dg.AssetCheckSeverity.ERROR:
                found.append(f"{check.check_name}: {check.description}")
        elif event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            while error.cause is not None:  # the user code's own error, not Dagster's wrapper
                error = error.cause
            found.append(f"step {event.step_key}: {error.message.strip().splitlines()[-1]}")
    if not result.success and not found:
        found.append("the run failed")
    return found


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
def pipeline(demo_company, tmp_path_factory):
    """A private REPORTING_HOME over the shared demo company, with every day WARM_UP..LAST run
    through daily_metrics_job and the PERIODS' report jobs run after them; what stopped each
    run is kept."""
    home = tmp_path_factory.mktemp("reconciliation")
    (home / "var").mkdir()
    (home / "var" / "demo").symlink_to(demo_company["path"])
    started = time.perf_counter()
    daily, reports = {}, {}
    with pytest.MonkeyPatch.context() as env, dg.DagsterInstance.ephemeral() as instance:
        env.setenv("REPORTING_HOME", str(home))
        # "Today" is the day after the window, so March is the month to date (1st – LAST).
        env.setenv("REPORTING_TODAY", (LAST + timedelta(days=1)).isoformat())
        job = defs.resolve_job_def("daily_metrics_job")
        for day in _days(WARM_UP, LAST):
            result = job.execute_in_process(
                partition_key=day.isoformat(),
                instance=instance,
                run_config=QUIET,
                raise_on_error=False,
            )
            daily[day] = _failures(result)
        for (report, key), cadence in PERIODS.items():
            result = defs.resolve_job_def(JOBS[cadence]).execute_in_process(
                partition_key=key, instance=instance, run_config=QUIET, raise_on_error=False
            )
            reports[(report, key)] = _failures(result)
    print(
        f"\nreconciliation: {len(daily)} days and {len(reports)} reports materialized in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return {
        "home": home,
        "daily": daily,
        "reports": reports,
        "assets": home / "var" / "data" / "assets",
        "store": ArtifactStore(home / "var" / "artifacts"),
    }


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
    """The numerators, denominators and parts behind the KPIs, where the tables show them:
    a KPI mismatch is easier to place when its parts are compared too."""
    asset, column, unit = COMPONENTS[component]
    expected = {r["date"]: r[component] for r in raw_daily.iter_rows(named=True)}
    first = _total_row(next(iter(stored.values())), asset)
    if column not in first:
        pytest.skip(f"{asset} has no column {column}")
    rows = []
    for day, tables in sorted(stored.items()):
        got = _total_row(tables, asset)[column]
        if not _same(got, expected[day], unit):
            rows.append((day.isoformat(), component, got, expected[day]))
    assert not rows, _mismatch_table(f"{asset}.{column} vs raw {component}", rows)


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
        transfers = [c for c in plans.columns if "transfer" in c]
        outs = [c for c in transfers if "out" in c.split("_")]
        signed = [pl.col(c) * (-1 if c in outs else 1) for c in transfers]
        gap = plans.select(
            "plan",
            (
                pl.col("opening_mrr")
                + pl.col("net_new_mrr")
                + pl.sum_horizontal(signed or [0.0])
                - pl.col("closing_mrr")
            ).alias("gap"),
        )
        for plan, value in gap.iter_rows():
            if abs(value) > TOLERANCE["usd"]:
                t_in, t_out = moved.get((day, plan), (0.0, 0.0))
                failures.append(
                    f"  {day} {plan:<10} opening + movements"
                    f"{' + ' + ' + '.join(transfers) if transfers else ''} − closing "
                    f"= {value:,.2f}  (raw plan transfers: in {t_in:,.2f}, "
                    f"out {t_out:,.2f})"
                )
    assert not failures, "plan rows whose MRR bridge does not close:\n" + "\n".join(failures)


# -- weekly and monthly reports -----------------------------------------------------------------


def _period(report: str, key: str) -> tuple[date, date]:
    return raw.period_bounds(PERIODS[(report, key)], key, LAST)


def _published(pipeline, report: str, key: str) -> Path:
    """The period's latest report version; the test is skipped when none was published."""
    version = pipeline["store"].latest(report, key)
    if version is None:
        reasons = "; ".join(pipeline["reports"][(report, key)][:3]) or "no failure recorded"
        pytest.skip(f"{report} {key} was not published ({reasons})")
    return version


def _expected(raw_daily: pl.DataFrame, report: str, key: str) -> dict:
    start, end = _period(report, key)
    return raw.period_kpis(raw_daily, start, end)


def _labels() -> dict[str, str]:
    """KPI label (as printed) -> KPI key, for the KPIs recomputed here."""
    return {m.label: k for k, m in get_settings().metrics.items() if k in raw.KPIS}


PERIOD_IDS = [f"{r}-{k}" for r, k in PERIODS]


def test_unpublished_periods_are_those_holding_a_blocked_day(pipeline):
    wrong = []
    for (report, key), failures in pipeline["reports"].items():
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


@pytest.mark.parametrize(("report", "key"), list(PERIODS), ids=PERIOD_IDS)
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
    assert not rows, _mismatch_table(f"{report} report.json", rows)


def _sheet_rows(ws) -> list[tuple]:
    return [r for r in ws.iter_rows(values_only=True)]


def _typed(value) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


@pytest.mark.parametrize(("report", "key"), list(PERIODS), ids=PERIOD_IDS)
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
        if not _typed(got) or not _same(got, want, raw.KPIS[kpi][0]):
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


@pytest.mark.parametrize(("report", "key"), list(PERIODS), ids=PERIOD_IDS)
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


@pytest.mark.parametrize(("report", "key"), list(PERIODS), ids=PERIOD_IDS)
def test_pdf_summary_sentences_equal_the_raw_rollup(report, key, pipeline, raw_daily):
    """The executive summary's MRR bridge and spend sentences: the period's length and last
    day, MRR at its start and end, net new, new and won back, churned, spend and budget."""
    version = _published(pipeline, report, key)
    text = " ".join(" ".join(_pdf_lines(version / f"{report}_{key}.pdf")).split())
    start, end = _period(report, key)
    e = _expected(raw_daily, report, key)
    usd = lambda v: format_value(v, "usd")  # noqa: E731
    rows = []
    bridge = re.search(
        r"Over the (\d+) days to (\d+ \w+), MRR moved from (\S+) to (\S+) \((\S+) net new\): "
        r"(\S+) new and won back, (\S+) churned",
        text,
    )
    assert bridge, "the summary's MRR bridge sentence is not in the PDF"
    wanted = [
        ("days", str(e["days"])),
        ("last day", f"{end.day} {end:%B}"),
        ("opening_mrr", usd(e["opening_mrr"])),
        ("mrr", usd(e["mrr"])),
        ("net_new_mrr", usd(e["net_new_mrr"])),
        ("new_and_won_back_mrr", usd(e["new_and_won_back_mrr"])),
        ("churned_mrr", usd(e["churned_mrr"])),
    ]
    rows += [
        ("MRR bridge sentence", k, got, want)
        for (k, want), got in zip(wanted, bridge.groups(), strict=True)
        if got != want
    ]
    spend = re.search(r"Spend was (\S+), (\S+) against budget", text)
    assert spend, "the summary's spend sentence is not in the PDF"
    for k, got in zip(("total_cost", "budget_variance"), spend.groups(), strict=True):
        if got != format_value(e[k], raw.KPIS[k][0]):
            rows.append(("spend sentence", k, got, format_value(e[k], raw.KPIS[k][0])))
    month = re.search(
        r"MRR closed the month at (\S+), \S+ month over month: (\S+) new and won "
        r"back, (\S+) expansion, (\S+) lost to contraction and churn",
        text,
    )
    if PERIODS[(report, key)] == "monthly" and month:
        lost = e["contraction_mrr"] + e["churned_mrr"]
        for k, got, want in zip(
            ("mrr", "new_and_won_back_mrr", "expansion_mrr", "contraction_mrr + churned_mrr"),
            month.groups(),
            (e["mrr"], e["new_and_won_back_mrr"], e["expansion_mrr"], lost),
            strict=True,
        ):
            if got != usd(want):
                rows.append(("month bridge sentence", k, got, usd(want)))
    assert not rows, _mismatch_table(f"{report} {key} PDF summary ({start} – {end})", rows)
