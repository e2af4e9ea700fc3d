"""What the monthly analytics assets share: the month of a run, the report time zone, the
warehouse history, tolerances, and the check outcome helper."""

from datetime import date
from zoneinfo import ZoneInfo

import dagster as dg

from reporting_assets.analytics import recommend
from reporting_assets.config import ConfigError, config_path, get_settings
from reporting_assets.partitions import REPORT_TZ, period_days
from reporting_assets.quality import checks
from reporting_assets.resources.sources import WarehouseResource

TOL = 0.01
PAST_MONTHS = 6
# A rule naming a finding the month does not measure would never fire: refuse the config now,
# when Dagster loads the code, not at the month-end run.
if _problems := recommend.rule_problems(get_settings().recommendations):
    raise ConfigError("\n".join(f"{config_path()}: {p}" for p in _problems))
BRIDGE_PARTS = ("new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr")
# How far back the business-impact baseline may lie (months before the one computed).
IMPACT_LOOKBACK_MONTHS = 36


def outcome(problems: list[str], ok: str, severity="ERROR", **meta) -> checks.CheckOutcome:
    return checks.problems_outcome(problems, ok, severity, **meta)


def month_of(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The month's first day and its last day with data due (yesterday while it runs)."""
    start, _, due = period_days(context.partition_time_window)
    if due < start:
        raise dg.Failure(f"{start:%B %Y} has no day due yet")
    return start, due


def report_tz() -> ZoneInfo:
    return ZoneInfo(REPORT_TZ)


def warehouse_history(warehouse: WarehouseResource, end: date):
    client = warehouse.client()
    accounts = client.read("v_account_history", "valid_from <= :day", {"day": end})
    costs = client.read("v_daily_cloud_cost", "cost_date <= :day", {"day": end})
    return accounts, costs
