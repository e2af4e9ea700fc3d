"""Pandera (polars) schemas: the shape and value rules every source and metric table must meet."""

import pandera.polars as pa
import polars as pl

from reporting_assets.metrics.compute import PLANS, TOTAL

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
    mrr_at_risk: pl.Float64 = pa.Field(nullable=False, ge=0)
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
    active_accounts: pl.Int64 = pa.Field(nullable=False, ge=0)


class CriticalAlertsDaily(pa.DataFrameModel):
    date: pl.Date = pa.Field(nullable=False)
    rule: pl.String = pa.Field(nullable=False, unique=True)
    metric: pl.String = pa.Field(nullable=False)
    severity: pl.String = pa.Field(nullable=False, isin=["info", "warning", "critical"])
