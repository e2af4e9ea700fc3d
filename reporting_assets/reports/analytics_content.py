"""What the weekly and monthly analytics add to a period report: sections, summary sentences,
recommendations for the decks, and the forecast chart.

Each section appears when the report definition lists it (`trends`, `scorecard`, `initiatives`,
`roi` for the weekly review; `business_analysis`, `benchmarks`, `forecasts`, `recommendations`,
`impact` for the monthly report) and its analytics table was materialized for the period.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import polars as pl

from reporting_assets.config.models import Settings
from reporting_assets.lib.formatting import (
    display_name,
    format_delta,
    format_value,
    in_sentence,
    plural,
    signed,
)
from reporting_assets.reports.impact_content import impact_section, impact_takeaway
from reporting_assets.reports.model import STATUS_WORDS, Column, Section

BENCHMARK_UNITS = {"ratio": "ratio", "hours": "hours", "months": "count"}
BENCHMARK_LABELS = {
    "arr_growth_yoy": "ARR growth, year over year", "cac_payback_months": "CAC payback (months)",
    "first_response_sla_rate": "First response within SLA", "gross_margin": "Gross margin",
    "gross_revenue_retention": "Gross revenue retention",
    "infra_cost_share_of_revenue": "Infrastructure cost / revenue",
    "monthly_logo_churn": "Monthly logo churn", "mttr_hours": "Mean time to resolve",
    "net_revenue_retention": "Net revenue retention",
    "payment_recovery_rate": "Payment recovery rate",
}  # fmt: skip


@dataclass
class AnalyticsContent:
    sections: list[Section] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    # The month's MRR bridge as the business analysis table shows it (opening, new, won back,
    # expansion, contraction, churned, closing): the one bridge the summary speaks of.
    bridge: dict | None = None
    # The period's analytic headline for the decision block (the scorecard, or the forecast).
    takeaway: str = ""
    # The forecast in a sentence (the forecast chart's takeaway).
    forecast: str = ""
    # What the analytics' charts show (chart name → takeaway).
    charts: dict[str, str] = field(default_factory=dict)
    # The month's recommendations (strategic_recommendations_monthly), for the asks.
    recommendation_rows: pl.DataFrame | None = None


# What pushes an account toward churn, in words (the churn model's features).
DRIVER_WORDS = {
    "log_mrr": "account size", "tenure_days": "tenure", "past_due": "payment past due",
    "past_due_days_90": "days past due, last 90 days", "downgrades_90": "recent downgrades",
    "log_events_per_seat": "product use per seat", "usage_trend": "falling usage",
}  # fmt: skip


def lead(out: AnalyticsContent, key: str, sentence: str) -> str:
    """Make `sentence` the takeaway of section `key` (its first, when it has several) and
    return it, for the summary too."""
    for i, section in enumerate(out.sections):
        if section.key == key and not section.takeaway:
            out.sections[i] = replace(section, takeaway=sentence)
    return sentence


def driver_words(feature: str) -> str:
    """A churn driver as the reader says it: "recent downgrades", "Starter plan"."""
    if feature.startswith("plan_"):
        return f"{display_name(feature.removeprefix('plan_'))} plan"
    return DRIVER_WORDS.get(feature, feature.replace("_", " "))


# The forecast series as the reader calls them.
SERIES_NAMES = {"mrr": "MRR", "cost": "Cloud spend"}
BRIDGE_IN = ("new_mrr", "reactivation_mrr", "expansion_mrr")
BRIDGE_OUT = ("contraction_mrr", "churned_mrr")


def ordinal(x: float) -> str:
    """21 → "21st", 92 → "92nd", 13 → "13th"."""
    n = round(x)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _label(settings: Settings, metric: str) -> str:
    m = settings.metrics.get(metric)
    return m.label if m else metric.replace("_", " ").capitalize()


def _unit(settings: Settings, metric: str) -> str:
    m = settings.metrics.get(metric)
    return m.unit if m else "count"


def _with_labels(frame: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    return frame.with_columns(
        label=pl.col("metric").map_elements(lambda m: _label(settings, m), pl.String),
        unit=pl.col("metric").map_elements(lambda m: _unit(settings, m), pl.String),
    )


def weekly_content(frames: dict[str, pl.DataFrame], wanted: list[str], s: Settings):
    out = AnalyticsContent()
    trends = frames.get("metric_trends_weekly")
    if trends is not None and "trends" in wanted:
        t = _with_labels(trends, s)
        out.sections.append(Section(
            "trends", "Trends", "Each headline metric this week, the change from last week, "
            "the 4-week average and the trend over the last weeks (significant at the "
            f"{s.analytics.trend_significance:.0%} level).", t,
            [Column("label", "Metric"), Column("value", "This week", unit_from="unit"),
             Column("wow_change", "vs last week", unit_from="unit"),
             Column("moving_avg_4w", "4-week average", unit_from="unit"),
             Column("slope_per_week", "Trend per week", unit_from="unit"),
             Column("significant", "Significant", "bool"),
             Column("streak_text", "Streak")]))  # fmt: skip
        notable = t.filter(pl.col("significant") | (pl.col("streak").abs() >= 3))
        for r in notable.head(3).iter_rows(named=True):
            out.summary.append(lead(out, "trends",
                f"{r['label']}: {r['streak_text']} ({format_delta(r['wow_change'], r['unit'])} "
                f"week over week" + (", a significant trend of "
                                     f"{format_delta(r['slope_per_week'], r['unit'])} a week)"
                                     if r["significant"] else ").")
            ))  # fmt: skip
    card = frames.get("business_scorecard_weekly")
    if card is not None and "scorecard" in wanted:
        c = _with_labels(card, s).with_columns(
            unit=pl.when(pl.col("metric") == "overall").then(pl.lit("count"))
            .otherwise(pl.col("unit")),
            label=pl.when(pl.col("metric") == "overall").then(pl.lit("Overall score (0–100)"))
            .otherwise(pl.col("label")),
            rating=pl.col("status").replace_strict(STATUS_WORDS,
                                                   default=pl.col("status")))  # fmt: skip
        out.sections.append(Section(
            "scorecard", "Business scorecard", "Each KPI against its weekly target: On track at "
            "target or better, Watch when short by no more than its tolerance, Off track beyond; "
            "On track counts 1 point, Watch ½, weighted into an overall score out of 100.", c,
            [Column("label", "KPI"), Column("value", "This week", unit_from="unit"),
             Column("target", "Target", unit_from="unit"),
             Column("attainment", "Of target", "ratio"), Column("rating", "Status"),
             Column("weight", "Weight", "count"), Column("contribution", "Points", "count"),
             Column("contribution_change", "Change", "count")]))  # fmt: skip
        overall = c.filter(pl.col("metric") == "overall").row(0, named=True)
        change = overall["contribution_change"]
        moved = c.filter((pl.col("metric") != "overall") & pl.col("contribution_change")
                         .is_not_null() & (pl.col("contribution_change") != 0))  # fmt: skip
        moved = moved.sort(pl.col("contribution_change").abs(), descending=True).head(2)
        why = "; ".join(f"{in_sentence(r['label'])} {signed(r['contribution_change'])}"
                        for r in moved.iter_rows(named=True))  # fmt: skip
        out.summary.insert(0, lead(out, "scorecard",
            f"Scorecard {overall['value']:.0f}/100 ({STATUS_WORDS[overall['status']]})"
            + (f", {signed(change)} since last week" if change is not None else "")
            + (f": {why}." if why else ".")))  # fmt: skip
        out.takeaway = out.summary[0]
    progress = frames.get("initiative_progress_weekly")
    if progress is not None and "initiatives" in wanted:
        p = progress.with_columns(
            milestones=pl.format("{} of {}", "milestones_done", "milestones_total"),
            owner=pl.col("owner").map_elements(s.person, return_dtype=pl.String),
        )
        out.sections.append(Section(
            "initiatives", "Strategic initiatives", "Milestones reached, percent complete and "
            "days behind (+) or ahead (−) of plan at the week's end.", p,
            [Column("name", "Initiative"), Column("owner", "Owner"),
             Column("milestones", "Milestones"), Column("percent_complete", "Complete", "ratio"),
             Column("schedule_variance_days", "Days late", "count"),
             Column("planned_end_date", "Planned end", "date"),
             Column("status", "Status", "name"), Column("reason", "Why")]))  # fmt: skip
        behind = p.filter(pl.col("status").is_in(["behind", "at risk"]))
        if behind.height:
            names = "; ".join(f"{r['name']} ({r['status']})" for r in behind.iter_rows(named=True))
            need = "needs" if behind.height == 1 else "need"
            out.summary.append(lead(out, "initiatives", f"{behind.height} of {p.height} "
                                    f"initiatives {need} attention: {names}."))  # fmt: skip
    roi = frames.get("roi_weekly")
    if roi is not None and "roi" in wanted:
        out.sections.append(Section(
            "roi", "Initiative ROI", "Money invested and benefit realized to date, ROI, "
            "payback in months at the recent monthly benefit, and realized vs expected.", roi,
            [Column("name", "Initiative"), Column("investment_to_date", "Invested", "usd"),
             Column("realized_benefit_to_date", "Realized", "usd"),
             Column("expected_benefit_to_date", "Expected by now", "usd"),
             Column("roi", "ROI", "ratio"),
             Column("realized_vs_expected", "Realized vs expected", "ratio"),
             Column("payback_months", "Payback (months)", "count")]))  # fmt: skip
        t = roi.filter(pl.col("initiative_id") == "total").row(0, named=True)
        out.summary.append(lead(out, "roi",
            f"Initiatives have returned {format_value(t['realized_benefit_to_date'], 'usd')} on "
            f"{format_value(t['investment_to_date'], 'usd')} invested (ROI "
            f"{format_value(t['roi'], 'ratio')}), "
            f"{format_value(t['realized_vs_expected'], 'ratio')} of the benefit expected "
            "by now."))  # fmt: skip
    return out


def monthly_content(frames: dict[str, pl.DataFrame], wanted: list[str], s: Settings):
    out = AnalyticsContent()
    analysis = frames.get("business_analysis_monthly")
    if analysis is not None and "business_analysis" in wanted:
        out.sections.append(Section(
            "business_analysis", "Business analysis", "The MRR bridge month by month, growth, "
            "logo churn, net revenue retention, cloud cost as a share of revenue, and the "
            "retention of the cohort that started paying three months earlier.", analysis,
            [Column("month", "Month", "month"), Column("opening_mrr", "Opening", "usd"),
             Column("new_mrr", "New", "usd"), Column("reactivation_mrr", "Won back", "usd"),
             Column("expansion_mrr", "Expansion", "usd"),
             Column("contraction_mrr", "Contraction", "usd"),
             Column("churned_mrr", "Churned", "usd"), Column("closing_mrr", "Closing", "usd"),
             Column("mom_growth", "MoM", "ratio"), Column("logo_churn_rate", "Logo churn", "ratio"),
             Column("net_revenue_retention", "NRR", "ratio"),
             Column("infra_cost_share", "Cloud / revenue", "ratio"),
             Column("cohort_retention_3m", "3-month cohort", "ratio")],
            ["mrr_movements"],
            brief=["month", "opening_mrr", "churned_mrr", "closing_mrr", "mom_growth",
                   "logo_churn_rate", "net_revenue_retention"]))  # fmt: skip
        now = analysis.row(-1, named=True)
        worst = analysis.sort("churned_mrr", descending=True).row(0, named=True)
        out.charts["mrr_movements"] = (
            f"Churned MRR was highest in {worst['month']:%B %Y}, at "
            f"{format_value(worst['churned_mrr'], 'usd')}; {now['month']:%B %Y} closed at "
            f"{format_value(now['closing_mrr'], 'usd')}.")  # fmt: skip
        now = analysis.row(-1, named=True)
        yoy = (f", {format_value(now['yoy_growth'], 'ratio')} year over year"
               if now["yoy_growth"] is not None else "")  # fmt: skip
        out.bridge = {
            **now,
            "mrr": now["closing_mrr"],
            "net_new_mrr": sum(now[c] for c in BRIDGE_IN) - sum(now[c] for c in BRIDGE_OUT),
        }
        out.summary.append(lead(out, "business_analysis",
            f"MRR growth: {format_delta(now['mom_growth'], 'ratio').replace(' pts', '%')} month "
            f"over month{yoy}."))  # fmt: skip
    bench = frames.get("market_benchmarks_monthly")
    if bench is not None and "benchmarks" in wanted:
        b = bench.with_columns(
            label=pl.col("kpi").replace_strict(BENCHMARK_LABELS, default=pl.col("kpi")),
            unit=pl.col("unit").replace_strict(BENCHMARK_UNITS, default="count"))  # fmt: skip
        out.sections.append(Section(
            "benchmarks", "Market benchmarks", "Our value against the industry's percentiles "
            "for companies of our size, and our percentile.", b,
            [Column("label", "KPI"), Column("value", "Ours", unit_from="unit"),
             Column("p25", "25th", unit_from="unit"), Column("p50", "Median", unit_from="unit"),
             Column("p75", "75th", unit_from="unit"), Column("p90", "90th", unit_from="unit"),
             Column("percentile", "Percentile", "count"), Column("position", "Position"),
             Column("basis", "How measured")]))  # fmt: skip

        def listed(frame: pl.DataFrame) -> str:
            return ", ".join(f"{in_sentence(r['label'])} ({ordinal(r['percentile'])} percentile)"
                             for r in frame.iter_rows(named=True))  # fmt: skip

        strong = b.filter(pl.col("percentile") >= 75)
        weak = b.filter(pl.col("percentile") < 25)
        parts = ([f"top quartile in {listed(strong)}"] if strong.height else []) + (
            [f"bottom quartile in {listed(weak)}"] if weak.height else [])  # fmt: skip
        if parts:
            out.summary.append(
                lead(out, "benchmarks", "Against the industry: " + "; ".join(parts) + ".")
            )
    forecasts = frames.get("forecasts_monthly")
    if forecasts is not None and "forecasts" in wanted:
        f = forecasts.with_columns(
            unit=pl.lit("usd"),
            series_label=pl.col("series").replace_strict(SERIES_NAMES, default=pl.col("series")),
        )
        rows = []
        for (series,), g in f.group_by("series", maintain_order=True):
            r = g.row(0, named=True)
            same = f"{r['backtest_mape']:.1%}" == f"{r['baseline_mape']:.1%}"
            verdict = ("matches" if same else "beats" if r["beats_baseline"]
                       else "does worse than")  # fmt: skip
            rows.append(f"{SERIES_NAMES.get(series, series)}: model "
                        f"{r['model']} backtest error {r['backtest_mape']:.1%}, {verdict} the "
                        f"naive baseline's {r['baseline_mape']:.1%}")  # fmt: skip
        out.sections.append(Section(
            "forecasts", "Forecasts", "MRR at each month's end and cloud spend per month, with "
            f"{f['interval'][0]:.0%} prediction intervals; the baseline repeats the last value "
            "(MRR) or the last week (spend). " + "; ".join(rows) + ".", f,
            [Column("series_label", "Series"), Column("month", "Month", "month"),
             Column("forecast", "Forecast", "usd"), Column("lower", "Low", "usd"),
             Column("upper", "High", "usd"), Column("baseline", "Naive baseline", "usd"),
             Column("backtest_mape", "Backtest error", "ratio"),
             Column("baseline_mape", "Baseline's error", "ratio"),
             Column("beats_baseline", "Model beats baseline", "bool")],
            ["mrr_forecast"],
            brief=["series_label", "month", "forecast", "lower", "upper", "baseline"]))  # fmt: skip
        horizon = f.sort("month").group_by("series", maintain_order=True).last()
        out.sections.append(Section(
            "scenarios", "Scenarios", f"Where the forecast puts each series by "
            f"{horizon['month'][0]:%B %Y}: the downside and upside are the ends of its "
            f"{horizon['interval'][0]:.0%} prediction interval, the base case its forecast.",
            horizon.select("series_label", "month", "lower", "forecast", "upper"),
            [Column("series_label", "Series"), Column("month", "Month", "month"),
             Column("lower", "Downside", "usd"), Column("forecast", "Base", "usd"),
             Column("upper", "Upside", "usd")],
            takeaway=" ".join(
                f"{r['series_label']} by {r['month']:%B %Y}: {format_value(r['lower'], 'usd')} "
                f"in the downside, {format_value(r['forecast'], 'usd')} in the base case, "
                f"{format_value(r['upper'], 'usd')} in the upside."
                for r in horizon.iter_rows(named=True))))  # fmt: skip
        last = f.filter(pl.col("series") == "mrr").sort("month").row(-1, named=True)
        out.takeaway = (
            f"MRR is forecast at {format_value(last['forecast'], 'usd')} by the end of "
            f"{last['month']:%B %Y} ({last['interval']:.0%} interval "
            f"{format_value(last['lower'], 'usd')}–{format_value(last['upper'], 'usd')})"
            + ("." if last["beats_baseline"] else "; the naive baseline did better in backtest, "
               f"at {format_value(last['baseline'], 'usd')}."))  # fmt: skip
        out.summary.append(lead(out, "forecasts", out.takeaway))
        out.forecast = out.takeaway
    churn = frames.get("churn_risk_monthly")
    if churn is not None and "forecasts" in wanted:
        high = churn.filter(pl.col("risk_band") == "high")
        # The high-risk accounts first (the sentence counts them), then the most MRR at stake.
        top = churn.sort(pl.col("risk_band") == "high", "mrr_at_stake", descending=True).head(15)
        top = top.with_columns(
            account=pl.coalesce(pl.col("account_name") if "account_name" in top.columns
                                else pl.lit(None, pl.String), pl.col("account_id")),
            driver=pl.col("top_driver").map_elements(driver_words, return_dtype=pl.String),
        )  # fmt: skip
        shown = top.filter(pl.col("risk_band") == "high").height
        more = f" ({shown} shown)" if shown < high.height else ""
        out.sections.append(Section(
            "churn_risk", "Accounts at risk of churn", "The paying accounts at high risk, then "
            "those with the most MRR at stake (MRR × probability of churning within the "
            f"horizon), with the strongest driver. {high.height} account"
            f"{'s are' if high.height != 1 else ' is'} high risk{more}.", top,
            [Column("account", "Account"), Column("plan", "Plan", "name"),
             Column("mrr", "MRR", "usd"),
             Column("churn_probability", "Churn probability", "ratio"),
             Column("risk_band", "Risk", "name"), Column("mrr_at_stake", "MRR at stake", "usd"),
             Column("driver", "Main driver")],
            takeaway=f"{plural(high.height, 'paying account')} "
            f"{'is' if high.height == 1 else 'are'} at high risk of churning."))  # fmt: skip
    recs = frames.get("strategic_recommendations_monthly")
    if recs is not None:
        out.recommendations = recs.sort("rank")["recommendation"].to_list()
        out.recommendation_rows = recs
        if "recommendations" in wanted:
            out.sections.append(Section(
                "recommendations", "Recommendations", "Ranked by estimated impact; each from a "
                "rule in configuration and the numbers that triggered it.", recs,
                [Column("rank", "#", "count"), Column("recommendation", "Recommendation"),
                 Column("value", "Value", unit_from="unit"),
                 Column("threshold", "Threshold", unit_from="unit"),
                 Column("gap", "Gap", unit_from="unit"),
                 Column("estimated_impact_usd", "Estimated impact", "usd"),
                 Column("source", "From")]))  # fmt: skip
            if recs.height:
                many = "s" if recs.height != 1 else ""
                out.summary.append(lead(out, "recommendations",
                    f"{recs.height} recommendation{many}; the first: "
                    f"{out.recommendations[0]}"))  # fmt: skip
    impact = frames.get("business_impact_monthly")
    if impact is not None and "impact" in wanted:
        out.sections.append(impact_section(impact))
        out.summary.append(lead(out, "impact", impact_takeaway(impact)))
    return out
