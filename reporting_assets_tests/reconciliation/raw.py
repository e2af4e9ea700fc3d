"""Headline KPIs recomputed from the raw demo inputs, independently of the platform's code.

Reads the PostHog batch-export files (`posthog/events`, through their manifests) and the
warehouse export (`warehouse/schema.sql` tables loaded from `warehouse/data/*.csv`) into an
in-memory DuckDB, and computes the agreed KPI definitions per New York day with SQL. Nothing
from `reporting_assets.metrics`, `.reports` or `.analytics` is used: a number that agrees here
and in a report was reached twice, by two routes.

Day boundaries: a New York day D is [D 00:00, D+1 00:00) America/New_York. PostHog timestamps
are UTC instants; warehouse timestamps are naive UTC. Both are converted to New York wall time
with DuckDB's ICU time zones and cut by calendar date, so DST days are 23 or 25 hours long.

Blocked days: the PostHog volume gate is recomputed here from the export (`volume_gate`), not
read from the pipeline: a day whose event count is under `min_volume_share` (read from the
default config file) of the median of the same weekday in the 4 weeks before (those with data;
at least 2) is blocked. A blocked day is left out of the 28-day usage window, which compares usage
per day of data; days before the company's first day of data are simply absent.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path

import duckdb
import polars as pl
import yaml

TZ = "America/New_York"
PAYING = ("active", "past_due")
# "Usage fell sharply", per day of data in the 28-day window (the day and the 27 before, less
# the days absent or blocked): with R events on the r recent days present (the last 7) and B
# events on the b days present before them (the 21 before), the weekly rate before, 7·B/b, is at
# least USAGE_MIN_WEEKLY and the recent weekly rate, 7·R/r, is under 2/5 of it. In integers:
# 7·B ≥ 10·b and 5·R·b < 2·B·r (a tie is never a drop); nothing is flagged when r or b is 0.
USAGE_SHARE_NUMERATOR, USAGE_SHARE_DENOMINATOR = 2, 5  # 0.4, kept exact
USAGE_MIN_WEEKLY = 10
# The PostHog volume gate (`reporting_assets/quality/checks.py`, `completeness`, as
# `posthog_events` calls it): the day's events against the median of the same weekday in the
# VOLUME_WEEKS weeks before, compared only with at least VOLUME_MIN_WEEKS of them.
VOLUME_WEEKS, VOLUME_MIN_WEEKS = 4, 2
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "reporting_assets/config/default.yaml"

# Each KPI: its unit (how it is compared and formatted) and how a period rolls it up.
#   flow: summed over the days; stock: the last day's value; ratio: Σ numerator / Σ denominator.
KPIS: dict[str, tuple[str, str]] = {
    "mrr": ("usd", "stock"),
    "new_mrr": ("usd", "flow"),
    "reactivation_mrr": ("usd", "flow"),
    "expansion_mrr": ("usd", "flow"),
    "contraction_mrr": ("usd", "flow"),
    "churned_mrr": ("usd", "flow"),
    "net_new_mrr": ("usd", "flow"),
    "payment_failure_rate": ("ratio", "ratio"),
    "payment_recovery_rate": ("ratio", "ratio"),
    "revenue_recovered": ("usd", "flow"),
    "mrr_at_risk": ("usd", "stock"),
    "total_cost": ("usd", "flow"),
    "budget_variance": ("ratio", "ratio"),
    "incidents_opened": ("count", "flow"),
    "mttr_hours": ("hours", "ratio"),
    "first_response_sla_rate": ("ratio", "ratio"),
    "pipeline_success_rate": ("ratio", "ratio"),
    "ticket_backlog": ("count", "stock"),
}
# Ratio KPIs: (numerator, denominator) columns of the daily frame; budget_variance is
# Σ cost / Σ budget − 1.
RATIOS: dict[str, tuple[str, str]] = {
    "payment_failure_rate": ("payments_failed", "payment_attempts"),
    "payment_recovery_rate": ("payments_recovered", "payments_settled"),
    "budget_variance": ("total_cost", "total_budget"),
    "mttr_hours": ("resolution_hours_sev12", "resolved_sev12"),
    "first_response_sla_rate": ("first_responses_within_sla", "first_responses"),
    "pipeline_success_rate": ("runs_succeeded", "runs_finished"),
}
# The daily columns a period adds up: movements, amounts, numerators and denominators.
ADDITIVE = (
    "new_mrr",
    "reactivation_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "purchases",
    "payments_failed",
    "failed_payment_amount",
    "payments_recovered",
    "recovered_amount",
    "dunning_cancellations",
    "total_cost",
    "total_budget",
    "incidents_opened",
    "resolved_sev12",
    "resolution_hours_sev12",
    "first_responses",
    "first_responses_within_sla",
    "runs_succeeded",
    "runs_finished",
)


def _connect(demo_root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding the raw events (`ev`) and the warehouse tables."""
    con = duckdb.connect()
    warehouse = demo_root / "warehouse"
    ddl = (warehouse / "schema.sql").read_text()
    body = "\n".join(line for line in ddl.splitlines() if not line.strip().startswith("--"))
    for stmt in (s.strip() for s in body.split(";")):
        if stmt.upper().startswith("CREATE TABLE"):  # the tables only; the views are not used
            con.execute(stmt)
            name = stmt.split()[2]
            csv = (warehouse / "data" / f"{name}.csv").as_posix()
            con.execute(f"COPY {name} FROM '{csv}' (FORMAT csv, HEADER true)")
    export = demo_root / "posthog" / "events"
    files = sorted(
        (export / key.rsplit("/", 1)[-1]).as_posix()
        for manifest in export.glob("*_manifest.json")
        for key in json.loads(manifest.read_text())["files"]
    )
    con.execute(
        f"""
        CREATE TABLE ev AS
        SELECT CAST(timestamp AT TIME ZONE '{TZ}' AS DATE) AS day, event,
               json_extract_string(properties, '$.account_id') AS account_id,
               json_extract_string(properties, '$.plan') AS plan,
               CAST(json_extract_string(properties, '$.mrr') AS DOUBLE) AS mrr,
               CAST(json_extract_string(properties, '$.previous_mrr') AS DOUBLE) AS previous_mrr,
               CAST(json_extract_string(properties, '$.amount') AS BIGINT) AS amount,
               CAST(json_extract_string(properties, '$.revenue') AS BIGINT) AS revenue,
               json_extract_string(properties, '$.reason') AS reason,
               coalesce(json_extract_string(properties, '$.reactivation') = 'true', false)
                   AS reactivation
        FROM read_parquet({files!r})
        """
    )
    # New York calendar date of a naive UTC warehouse timestamp.
    con.execute(
        f"CREATE MACRO ny_day(ts) AS CAST((ts AT TIME ZONE 'UTC') AT TIME ZONE '{TZ}' AS DATE)"
    )
    return con


def _days_table(con: duckdb.DuckDBPyConnection, days: list[date]) -> None:
    con.execute("CREATE OR REPLACE TABLE days AS SELECT unnest(?::DATE[]) AS day", [days])


_DAILY_SQL = f"""
WITH
state AS (  -- each account's state at the end of each day (and of the day before)
    SELECT d.day, h.account_id, h.plan, h.status,
           CASE WHEN h.status IN {PAYING} THEN h.mrr ELSE 0 END AS mrr
    FROM (SELECT day FROM days UNION SELECT day - 1 FROM days) d
    JOIN account_history h
      ON h.valid_from <= d.day AND (h.valid_to IS NULL OR h.valid_to > d.day)
),
closing AS (SELECT day, sum(mrr) AS mrr FROM state GROUP BY day),
money AS (
    SELECT day,
        sum(mrr) FILTER (event = 'subscription_created' AND NOT reactivation) AS new_mrr,
        sum(mrr) FILTER (event = 'subscription_created' AND reactivation) AS reactivation_mrr,
        sum(mrr - previous_mrr) FILTER (event = 'subscription_upgraded') AS expansion_mrr,
        sum(previous_mrr - mrr) FILTER (event = 'subscription_downgraded') AS contraction_mrr,
        sum(previous_mrr) FILTER (event = 'subscription_cancelled') AS churned_mrr,
        count(*) FILTER (event = 'purchase_completed') AS purchases,
        count(*) FILTER (event = 'payment_failed') AS payments_failed,
        sum(amount) FILTER (event = 'payment_failed') / 100.0 AS failed_payment_amount,
        count(*) FILTER (event = 'payment_recovered') AS payments_recovered,
        sum(amount) FILTER (event = 'payment_recovered') / 100.0 AS recovered_amount,
        count(*) FILTER (event = 'subscription_cancelled' AND reason = 'payment_failed')
            AS dunning_cancellations
    FROM ev WHERE day IN (SELECT day FROM days) GROUP BY day
),
activity AS (  -- every event that names an account, per account and day
    SELECT day, account_id, count(*) AS n FROM ev WHERE account_id IS NOT NULL GROUP BY ALL
),
window_days AS (  -- days of data in each day's 28-day window: r recent, b before
    SELECT d.day,
           count(*) FILTER (p.day > d.day - 7) AS r,
           count(*) FILTER (p.day <= d.day - 7) AS b
    FROM days d JOIN present p ON p.day BETWEEN d.day - 27 AND d.day
    GROUP BY 1
),
usage AS (  -- events on the present days: the 7 days to the day, and the 21 days before those
    SELECT d.day, a.account_id,
           coalesce(sum(a.n) FILTER (a.day > d.day - 7), 0) AS recent,
           coalesce(sum(a.n) FILTER (a.day <= d.day - 7), 0) AS before
    FROM days d JOIN activity a ON a.day BETWEEN d.day - 27 AND d.day
    WHERE a.day IN (SELECT day FROM present)
    GROUP BY ALL
),
drops AS (  -- usage fell sharply, for an account paying at the end of the day
    SELECT u.day, u.account_id, s.mrr AS usage_mrr
    FROM usage u
    JOIN window_days w ON w.day = u.day
    JOIN state s ON s.day = u.day AND s.account_id = u.account_id
    -- weekly rates per day of data, in integers (exact at the threshold, where floating point
    -- would decide a tie either way): 7·B ≥ 10·b and 5·R·b < 2·B·r
    WHERE w.r > 0 AND w.b > 0
      AND 7 * u.before >= {USAGE_MIN_WEEKLY} * w.b
      AND {USAGE_SHARE_DENOMINATOR} * u.recent * w.b < {USAGE_SHARE_NUMERATOR} * u.before * w.r
      AND s.mrr > 0
),
risk_events AS (
    SELECT day, account_id,
        sum(amount) FILTER (event = 'payment_failed') / 100.0 AS failed,
        sum(previous_mrr) FILTER (event = 'subscription_cancelled') AS churned,
        sum(previous_mrr - mrr) FILTER (event = 'subscription_downgraded') AS contraction
    FROM ev
    WHERE day IN (SELECT day FROM days)
      AND event IN ('payment_failed', 'subscription_cancelled', 'subscription_downgraded')
    GROUP BY ALL
),
risk AS (  -- each account once, at its largest amount at risk
    SELECT day,
        sum(greatest(coalesce(r.failed, 0), coalesce(r.churned, 0),
                     coalesce(r.contraction, 0), coalesce(d.usage_mrr, 0))) AS mrr_at_risk,
        count(*) FILTER (greatest(coalesce(r.failed, 0), coalesce(r.churned, 0),
                                  coalesce(r.contraction, 0), coalesce(d.usage_mrr, 0)) > 0)
            AS accounts_at_risk,
        count(d.account_id) AS usage_drop_accounts,
        coalesce(sum(d.usage_mrr), 0) AS usage_drop_mrr
    FROM risk_events r FULL JOIN drops d USING (day, account_id)
    GROUP BY day
),
costs AS (
    SELECT c.cost_date AS day, sum(c.cost_usd) AS total_cost,
           sum(b.monthly_budget_usd / b.days_in_month) AS total_budget
    FROM cloud_costs c
    LEFT JOIN cost_budgets b
      ON b.service = c.service AND b.team = c.team
     AND b.month_start = CAST(date_trunc('month', c.cost_date) AS DATE)
    GROUP BY 1
),
opened AS (SELECT ny_day(opened_at) AS day, count(*) AS n FROM incidents GROUP BY 1),
resolved AS (
    SELECT ny_day(resolved_at) AS day, count(*) AS n,
           sum(epoch(resolved_at - opened_at) / 3600.0) AS hours
    FROM incidents WHERE severity IN ('sev1', 'sev2') AND resolved_at IS NOT NULL GROUP BY 1
),
responses AS (
    SELECT ny_day(first_response_at) AS day, count(*) AS n,
           count(*) FILTER (epoch(first_response_at - opened_at) / 3600.0
                            <= sla_first_response_hours) AS within
    FROM support_tickets WHERE first_response_at IS NOT NULL GROUP BY 1
),
backlog AS (
    SELECT d.day, count(t.ticket_id) AS n
    FROM days d LEFT JOIN support_tickets t
      ON ny_day(t.opened_at) <= d.day
     AND (t.resolved_at IS NULL OR ny_day(t.resolved_at) > d.day)
    GROUP BY 1
),
runs AS (  -- deploys and pipeline runs belong to the day they started in
    SELECT ny_day(started_at) AS day,
           count(*) FILTER (status = 'success') AS succeeded,
           count(*) FILTER (status IN ('success', 'failed')) AS finished
    FROM deploy_runs GROUP BY 1
)
SELECT d.day AS date,
    cl.mrr AS mrr, op.mrr AS opening_mrr,
    coalesce(m.new_mrr, 0) AS new_mrr,
    coalesce(m.reactivation_mrr, 0) AS reactivation_mrr,
    coalesce(m.expansion_mrr, 0) AS expansion_mrr,
    coalesce(m.contraction_mrr, 0) AS contraction_mrr,
    coalesce(m.churned_mrr, 0) AS churned_mrr,
    coalesce(m.purchases, 0) AS purchases,
    coalesce(m.payments_failed, 0) AS payments_failed,
    coalesce(m.failed_payment_amount, 0) AS failed_payment_amount,
    coalesce(m.payments_recovered, 0) AS payments_recovered,
    coalesce(m.recovered_amount, 0) AS recovered_amount,
    coalesce(m.dunning_cancellations, 0) AS dunning_cancellations,
    coalesce(r.mrr_at_risk, 0) AS mrr_at_risk,
    coalesce(r.accounts_at_risk, 0) AS accounts_at_risk,
    coalesce(r.usage_drop_accounts, 0) AS usage_drop_accounts,
    coalesce(r.usage_drop_mrr, 0) AS usage_drop_mrr,
    c.total_cost, c.total_budget,
    coalesce(o.n, 0) AS incidents_opened,
    coalesce(rs.n, 0) AS resolved_sev12,
    coalesce(rs.hours, 0) AS resolution_hours_sev12,
    coalesce(fr.n, 0) AS first_responses,
    coalesce(fr.within, 0) AS first_responses_within_sla,
    b.n AS ticket_backlog,
    coalesce(ru.succeeded, 0) AS runs_succeeded,
    coalesce(ru.finished, 0) AS runs_finished
FROM days d
LEFT JOIN closing cl ON cl.day = d.day
LEFT JOIN closing op ON op.day = d.day - 1
LEFT JOIN money m ON m.day = d.day
LEFT JOIN risk r ON r.day = d.day
LEFT JOIN costs c ON c.day = d.day
LEFT JOIN opened o ON o.day = d.day
LEFT JOIN resolved rs ON rs.day = d.day
LEFT JOIN responses fr ON fr.day = d.day
LEFT JOIN backlog b ON b.day = d.day
LEFT JOIN runs ru ON ru.day = d.day
ORDER BY d.day
"""


def with_ratios(frame: pl.DataFrame) -> pl.DataFrame:
    """Derived KPIs from the (daily or summed) numerators and denominators; a ratio with a zero
    denominator has no value (null)."""

    def ratio(num: str, den: str) -> pl.Expr:
        return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)

    return frame.with_columns(
        net_new_mrr=pl.col("new_mrr")
        + pl.col("reactivation_mrr")
        + pl.col("expansion_mrr")
        - pl.col("contraction_mrr")
        - pl.col("churned_mrr"),
        revenue_recovered=pl.col("recovered_amount") + pl.col("reactivation_mrr"),
        payment_attempts=pl.col("purchases") + pl.col("payments_failed"),
        payments_settled=pl.col("payments_recovered") + pl.col("dunning_cancellations"),
    ).with_columns(
        payment_failure_rate=ratio("payments_failed", "payment_attempts"),
        payment_recovery_rate=ratio("payments_recovered", "payments_settled"),
        budget_variance=ratio("total_cost", "total_budget") - 1,
        mttr_hours=ratio("resolution_hours_sev12", "resolved_sev12"),
        first_response_sla_rate=ratio("first_responses_within_sla", "first_responses"),
        pipeline_success_rate=ratio("runs_succeeded", "runs_finished"),
    )


def min_volume_share() -> Fraction:
    """`quality.min_volume_share` of the default config file, as an exact fraction."""
    quality = yaml.safe_load(DEFAULT_CONFIG.read_text())["quality"]
    return Fraction(str(quality["min_volume_share"]))


def _event_counts(con: duckdb.DuckDBPyConnection) -> dict[date, int]:
    """Events per New York day (every row of the export: duplicates and events naming no
    account count too), for every day from the first to the last day with data."""
    counts = dict(con.sql("SELECT day, count(*) FROM ev GROUP BY 1").fetchall())
    first, last = min(counts), max(counts)
    return {
        first + timedelta(days=k): counts.get(first + timedelta(days=k), 0)
        for k in range((last - first).days + 1)
    }


def volume_gate(counts: dict[date, int], share: Fraction) -> dict[date, tuple[int, Fraction]]:
    """The days the PostHog volume gate blocks, with (their count, the typical count): the
    count is under `share` of the median of the same weekday in the VOLUME_WEEKS weeks before
    (the weeks with data; with fewer than VOLUME_MIN_WEEKS of them the day is not judged)."""
    blocked = {}
    for day, n in counts.items():
        earlier = sorted(
            counts[d]
            for w in range(1, VOLUME_WEEKS + 1)
            if (d := day - timedelta(weeks=w)) in counts
        )
        if len(earlier) < VOLUME_MIN_WEEKS:
            continue
        mid = len(earlier) // 2
        typical = (
            Fraction(earlier[mid])
            if len(earlier) % 2
            else Fraction(earlier[mid - 1] + earlier[mid], 2)
        )
        if typical > 0 and n < share * typical:
            blocked[day] = (n, typical)
    return blocked


def blocked_days(demo_root: Path) -> dict[date, tuple[int, Fraction]]:
    """The days of the export the PostHog volume gate blocks (see `volume_gate`)."""
    con = _connect(Path(demo_root))
    try:
        return volume_gate(_event_counts(con), min_volume_share())
    finally:
        con.close()


def _present_table(con: duckdb.DuckDBPyConnection) -> None:
    """`present`: the days with data that the volume gate does not block."""
    counts = _event_counts(con)
    blocked = volume_gate(counts, min_volume_share())
    present = [d for d in counts if d not in blocked]
    con.execute("CREATE OR REPLACE TABLE present AS SELECT unnest(?::DATE[]) AS day", [present])


def daily_kpis(demo_root: Path, days: list[date]) -> pl.DataFrame:
    """One row per New York day: every KPI of `KPIS` with its numerators and denominators,
    the opening MRR (end of the day before) and the usage-drop components of MRR at risk."""
    con = _connect(Path(demo_root))
    try:
        _days_table(con, days)
        _present_table(con)
        frame = con.sql(_DAILY_SQL).pl()
    finally:
        con.close()
    return with_ratios(frame.with_columns(pl.col("date").cast(pl.Date)))


def plan_bridge(demo_root: Path, days: list[date]) -> pl.DataFrame:
    """Per day and plan: opening and closing MRR (by the account's plan at the start and end
    of the day), the day's movements (by the plan the event names), and the MRR that moved
    between plans (accounts paying at both ends of the day on a different plan: transfer_in to
    the new plan, transfer_out of the old one, at the opening MRR)."""
    con = _connect(Path(demo_root))
    try:
        _days_table(con, days)
        frame = con.sql(
            f"""
            WITH state AS (
                SELECT d.day, h.account_id, h.plan, h.status,
                       CASE WHEN h.status IN {PAYING} THEN h.mrr ELSE 0 END AS mrr
                FROM (SELECT day FROM days UNION SELECT day - 1 FROM days) d
                JOIN account_history h
                  ON h.valid_from <= d.day AND (h.valid_to IS NULL OR h.valid_to > d.day)
            ),
            pairs AS (
                SELECT d.day, c.plan AS plan_to, o.plan AS plan_from, o.mrr AS opening
                FROM days d
                JOIN state c ON c.day = d.day
                JOIN state o ON o.day = d.day - 1 AND o.account_id = c.account_id
                WHERE c.plan <> o.plan AND c.mrr > 0 AND o.mrr > 0
            ),
            grid AS (SELECT day, plan FROM days, (SELECT DISTINCT plan FROM account_history))
            SELECT g.day AS date, g.plan,
                (SELECT coalesce(sum(mrr), 0) FROM state s
                 WHERE s.day = g.day - 1 AND s.plan = g.plan) AS opening_mrr,
                (SELECT coalesce(sum(mrr), 0) FROM state s
                 WHERE s.day = g.day AND s.plan = g.plan) AS closing_mrr,
                (SELECT coalesce(sum(CASE
                    WHEN event = 'subscription_created' THEN mrr
                    WHEN event IN ('subscription_upgraded', 'subscription_downgraded')
                        THEN mrr - previous_mrr
                    WHEN event = 'subscription_cancelled' THEN -previous_mrr END), 0)
                 FROM ev e WHERE e.day = g.day AND e.plan = g.plan) AS net_new_mrr,
                (SELECT coalesce(sum(opening), 0) FROM pairs p
                 WHERE p.day = g.day AND p.plan_to = g.plan) AS transfer_in_mrr,
                (SELECT coalesce(sum(opening), 0) FROM pairs p
                 WHERE p.day = g.day AND p.plan_from = g.plan) AS transfer_out_mrr
            FROM grid g ORDER BY 1, 2
            """
        ).pl()
    finally:
        con.close()
    return frame.with_columns(pl.col("date").cast(pl.Date))


def period_kpis(daily: pl.DataFrame, start: date, end: date) -> dict[str, float | None]:
    """The period start..end (inclusive) from the daily frame: flows summed, stocks at the last
    day, ratios from the summed numerators and denominators (never an average of daily ratios).
    Also `opening_mrr` (the end of the day before the period), `new_and_won_back_mrr` and
    `days` (how many days were rolled up)."""
    rows = daily.filter(pl.col("date").is_between(start, end)).sort("date")
    wanted = (end - start).days + 1
    if rows.height != wanted:
        raise ValueError(f"{start} – {end}: {rows.height} of {wanted} days in the daily frame")
    rolled = period_sums(daily, start, end)
    last, first = rows.row(-1, named=True), rows.row(0, named=True)
    out: dict[str, float | None] = {}
    for kpi, (_unit, kind) in KPIS.items():
        out[kpi] = last[kpi] if kind == "stock" else rolled[kpi]
    out["opening_mrr"] = first["opening_mrr"]
    out["new_and_won_back_mrr"] = rolled["new_mrr"] + rolled["reactivation_mrr"]
    out["days"] = rows.height
    return out


def period_sums(daily: pl.DataFrame, start: date, end: date) -> dict[str, float]:
    """The period's summed numerators, denominators and movements (`ADDITIVE`, and the derived
    attempts and settled payments)."""
    rows = daily.filter(pl.col("date").is_between(start, end))
    return with_ratios(rows.select([pl.col(c).sum() for c in ADDITIVE])).row(0, named=True)


def period_bounds(cadence: str, period_key: str, last_day: date) -> tuple[date, date]:
    """First and last day of a weekly (Sunday–Saturday) or monthly period; a month runs to
    date, that is to `last_day` when the month is not over by then."""
    start = date.fromisoformat(period_key)
    if cadence == "weekly":
        return start, start + timedelta(days=6)
    following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start, min(following - timedelta(days=1), last_day)
