"""Pandera (polars) schemas: the shape and value rules every source and metric table must meet."""

import pandera.polars as pa
import polars as pl

from reporting_assets.lib.plans import PLANS, TOTAL

UTC_TS = pl.Datetime("us", "UTC")


class RawEvents(pa.DataFrameModel):
    """PostHog events as exported: the columns every event must carry."""

    uuid: pl.String = pa.Field(nullable=False)
    event: pl.String = pa.Field(nullable=False)
    distinct_id: pl.String = pa.Field(nullable=False)
    timestamp: UTC_TS = pa.Field(nullable=False)
    properties: pl.String = pa.Field(nullable=False)


class PostHogEvents(pa.DataFrameModel):
    """Typed PostHog events: one row per event, each for a known account, money never negative."""

    uuid: pl.String = pa.Field(nullable=False, unique=True)
    event: pl.String = pa.Field(nullable=False)
    distinct_id: pl.String = pa.Field(nullable=False)
    timestamp: UTC_TS = pa.Field(nullable=False)
    account_id: pl.String = pa.Field(nullable=False)
    amount_minor: pl.Int64 = pa.Field(nullable=True, ge=0)
    currency: pl.String = pa.Field(nullable=True)
    mrr: pl.Float64 = pa.Field(nullable=True, ge=0)
    previous_mrr: pl.Float64 = pa.Field(nullable=True, ge=0)


class AccountSnapshot(pa.DataFrameModel):
    account_id: pl.String = pa.Field(nullable=False, unique=True)
    plan: pl.String = pa.Field(nullable=False, isin=list(PLANS))
    status: pl.String = pa.Field(nullable=False)
    mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    opening_mrr: pl.Float64 = pa.Field(nullable=True, ge=0)


class CloudCosts(pa.DataFrameModel):
    cost_date: pl.Date = pa.Field(nullable=False)
    service: pl.String = pa.Field(nullable=False)
    team: pl.String = pa.Field(nullable=False)
    cost_usd: pl.Float64 = pa.Field(nullable=False, ge=0)
    daily_budget_usd: pl.Float64 = pa.Field(nullable=False, gt=0)


class RevenueProtectionDaily(pa.DataFrameModel):
    date: pl.Date = pa.Field(nullable=False)
    plan: pl.String = pa.Field(nullable=False, isin=[*PLANS, TOTAL], unique=True)
    opening_mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    closing_mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    net_new_mrr: pl.Float64 = pa.Field(nullable=False)
    churned_mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    plan_transfer_mrr: pl.Float64 = pa.Field(nullable=False)
    mrr_at_risk: pl.Float64 = pa.Field(nullable=False, ge=0)
    accounts_at_risk: pl.Int64 = pa.Field(nullable=False, ge=0)
    payments_failed: pl.Int64 = pa.Field(nullable=False, ge=0)
    payment_attempts: pl.Int64 = pa.Field(nullable=False, ge=0)
    payments_recovered: pl.Int64 = pa.Field(nullable=False, ge=0)
    failed_payments_settled: pl.Int64 = pa.Field(nullable=False, ge=0)
    revenue_recovered: pl.Float64 = pa.Field(nullable=False, ge=0)
    payment_failure_rate: pl.Float64 = pa.Field(
        nullable=True, in_range={"min_value": 0, "max_value": 1}
    )
    payment_recovery_rate: pl.Float64 = pa.Field(
        nullable=True, in_range={"min_value": 0, "max_value": 1}
    )
    events_received: pl.Int64 = pa.Field(nullable=False, ge=0)


class CostOptimizationDaily(pa.DataFrameModel):
    date: pl.Date = pa.Field(nullable=False)
    level: pl.String = pa.Field(nullable=False, isin=["line", "total"])
    service: pl.String = pa.Field(nullable=False)
    cost_usd: pl.Float64 = pa.Field(nullable=False, ge=0)
    daily_budget_usd: pl.Float64 = pa.Field(nullable=False, ge=0)
    budget_variance: pl.Float64 = pa.Field(nullable=True)
    anomalous: pl.Boolean = pa.Field(nullable=False)
    idle_candidate: pl.Boolean = pa.Field(nullable=False)


class OperationalEfficiencyDaily(pa.DataFrameModel):
    date: pl.Date = pa.Field(nullable=False, unique=True)
    incidents_opened: pl.Int64 = pa.Field(nullable=False, ge=0)
    mttr_hours: pl.Float64 = pa.Field(nullable=True, ge=0)
    ticket_backlog: pl.Int64 = pa.Field(nullable=False, ge=0)
    first_response_sla_rate: pl.Float64 = pa.Field(
        nullable=True, in_range={"min_value": 0, "max_value": 1}
    )
    pipeline_success_rate: pl.Float64 = pa.Field(
        nullable=True, in_range={"min_value": 0, "max_value": 1}
    )
    sev12_resolved: pl.Int64 = pa.Field(nullable=False, ge=0)
    sev12_resolution_hours: pl.Float64 = pa.Field(nullable=False, ge=0)
    first_responses: pl.Int64 = pa.Field(nullable=False, ge=0)
    first_responses_within_sla: pl.Int64 = pa.Field(nullable=False, ge=0)
    runs_finished: pl.Int64 = pa.Field(nullable=False, ge=0)
    runs_succeeded: pl.Int64 = pa.Field(nullable=False, ge=0)
    active_accounts: pl.Int64 = pa.Field(nullable=False, ge=0)


class CriticalAlertsDaily(pa.DataFrameModel):
    date: pl.Date = pa.Field(nullable=False)
    rule: pl.String = pa.Field(nullable=False, unique=True)
    metric: pl.String = pa.Field(nullable=False)
    severity: pl.String = pa.Field(nullable=False, isin=["info", "warning", "critical"])


# -- weekly and monthly analytics --------------------------------------------------------------


class KpisPeriod(pa.DataFrameModel):
    period_start: pl.Date = pa.Field(nullable=False)
    period_end: pl.Date = pa.Field(nullable=False)
    metric: pl.String = pa.Field(nullable=False, unique=True)
    value: pl.Float64 = pa.Field(nullable=True)
    status: pl.String = pa.Field(nullable=False, isin=["green", "amber", "red", "grey"])
    status_reason: pl.String = pa.Field(nullable=False)
    days_due: pl.Int64 = pa.Field(nullable=False, ge=1)
    days_counted: pl.Int64 = pa.Field(nullable=False, ge=0)
    complete: pl.Boolean = pa.Field(nullable=False)


class MetricTrendsWeekly(pa.DataFrameModel):
    week_start: pl.Date = pa.Field(nullable=False)
    metric: pl.String = pa.Field(nullable=False, unique=True)
    value: pl.Float64 = pa.Field(nullable=True)
    moving_avg_4w: pl.Float64 = pa.Field(nullable=True)
    slope_p_value: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    significant: pl.Boolean = pa.Field(nullable=False)
    streak: pl.Int64 = pa.Field(nullable=False)
    streak_text: pl.String = pa.Field(nullable=False)


class BusinessScorecardWeekly(pa.DataFrameModel):
    week_start: pl.Date = pa.Field(nullable=False)
    metric: pl.String = pa.Field(nullable=False, unique=True)
    target: pl.Float64 = pa.Field(nullable=False)
    status: pl.String = pa.Field(nullable=False, isin=["green", "amber", "red", "grey"])
    weight: pl.Float64 = pa.Field(nullable=False, gt=0)
    contribution: pl.Float64 = pa.Field(nullable=True, ge=0, le=100)  # None: not scored


class InitiativeProgressWeekly(pa.DataFrameModel):
    initiative_id: pl.String = pa.Field(nullable=False, unique=True)
    name: pl.String = pa.Field(nullable=False)
    owner: pl.String = pa.Field(nullable=False)
    milestones_total: pl.Int64 = pa.Field(nullable=False, ge=0)
    milestones_done: pl.Int64 = pa.Field(nullable=False, ge=0)
    percent_complete: pl.Float64 = pa.Field(nullable=False, ge=0, le=1)
    status: pl.String = pa.Field(
        nullable=False, isin=["done", "done late", "behind", "at risk", "on track"]
    )
    reason: pl.String = pa.Field(nullable=False)


class RoiWeekly(pa.DataFrameModel):
    initiative_id: pl.String = pa.Field(nullable=False, unique=True)
    investment_to_date: pl.Float64 = pa.Field(nullable=False, ge=0)
    realized_benefit_to_date: pl.Float64 = pa.Field(nullable=False, ge=0)
    expected_benefit_to_date: pl.Float64 = pa.Field(nullable=False, ge=0)
    roi: pl.Float64 = pa.Field(nullable=True, ge=-1)
    payback_months: pl.Float64 = pa.Field(nullable=True, ge=0)


class BusinessHistoryMonthly(pa.DataFrameModel):
    date: pl.Date = pa.Field(nullable=False, unique=True)
    mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    paying_accounts: pl.Int64 = pa.Field(nullable=False, ge=0)
    cost_usd: pl.Float64 = pa.Field(nullable=False, ge=0)
    budget_usd: pl.Float64 = pa.Field(nullable=False, ge=0)


class BusinessAnalysisMonthly(pa.DataFrameModel):
    month: pl.Date = pa.Field(nullable=False, unique=True)
    opening_mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    new_mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    reactivation_mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    expansion_mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    contraction_mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    churned_mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    closing_mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    logo_churn_rate: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    gross_revenue_retention: pl.Float64 = pa.Field(nullable=True, ge=0, le=1)
    cost_usd: pl.Float64 = pa.Field(nullable=False, ge=0)


class MarketBenchmarksMonthly(pa.DataFrameModel):
    kpi: pl.String = pa.Field(nullable=False, unique=True)
    value: pl.Float64 = pa.Field(nullable=True)
    percentile: pl.Float64 = pa.Field(nullable=True, ge=0, le=100)
    position: pl.String = pa.Field(nullable=False)
    basis: pl.String = pa.Field(nullable=False)


class ForecastsMonthly(pa.DataFrameModel):
    series: pl.String = pa.Field(nullable=False, isin=["mrr", "cost"])
    month: pl.Date = pa.Field(nullable=False)
    forecast: pl.Float64 = pa.Field(nullable=False)
    lower: pl.Float64 = pa.Field(nullable=False)
    upper: pl.Float64 = pa.Field(nullable=False)
    backtest_mape: pl.Float64 = pa.Field(nullable=False, ge=0)
    baseline_mape: pl.Float64 = pa.Field(nullable=False, ge=0)


class ChurnRiskMonthly(pa.DataFrameModel):
    account_id: pl.String = pa.Field(nullable=False, unique=True)
    mrr: pl.Float64 = pa.Field(nullable=False, ge=0)
    churn_probability: pl.Float64 = pa.Field(nullable=False, ge=0, le=1)
    risk_band: pl.String = pa.Field(nullable=False, isin=["high", "medium", "low"])
    mrr_at_stake: pl.Float64 = pa.Field(nullable=False, ge=0)


class StrategicRecommendationsMonthly(pa.DataFrameModel):
    rank: pl.Int64 = pa.Field(nullable=False, unique=True, ge=1)
    rule: pl.String = pa.Field(nullable=False, unique=True)
    value: pl.Float64 = pa.Field(nullable=False)
    threshold: pl.Float64 = pa.Field(nullable=False)
    estimated_impact_usd: pl.Float64 = pa.Field(nullable=False, ge=0)
    recommendation: pl.String = pa.Field(nullable=False)


class BusinessImpactMonthly(pa.DataFrameModel):
    metric: pl.String = pa.Field(nullable=False, unique=True)
    target: pl.Float64 = pa.Field(nullable=False)
    tolerance: pl.Float64 = pa.Field(nullable=False, ge=0)
    comparison: pl.String = pa.Field(nullable=False, isin=["direct", "vs_baseline"])
    status: pl.String = pa.Field(nullable=False, isin=["green", "amber", "red", "grey"])
    reason: pl.String = pa.Field(nullable=False)
    basis: pl.String = pa.Field(nullable=False)
