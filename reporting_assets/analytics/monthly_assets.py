"""Monthly analytics assets (group `step4_analysis_monthly`, calendar months; the month-end run
covers the month to date): the business history from the warehouse, the business analysis, market
benchmarks, forecasts and churn risk (refitted each month, each against a naive baseline),
strategic recommendations and the business-impact metrics.

The month's operational figures come from `kpis_monthly` (the metric layer at the month's
grain); earlier months and the days a model learns from are declared dependencies. Every asset
has the four families of checks; ERROR ones block what is downstream. The two models add a WARN
check that fails when the model does worse than its naive baseline in backtest.
"""

from reporting_assets.analytics.business_assets import (
    business_analysis_monthly,
    business_history_monthly,
    market_benchmarks_monthly,
)
from reporting_assets.analytics.impact_assets import business_impact_monthly
from reporting_assets.analytics.model_assets import churn_risk_monthly, forecasts_monthly
from reporting_assets.analytics.recommendation_assets import strategic_recommendations_monthly

monthly_analytics_assets = [
    business_history_monthly,
    business_analysis_monthly,
    market_benchmarks_monthly,
    forecasts_monthly,
    churn_risk_monthly,
    strategic_recommendations_monthly,
    business_impact_monthly,
]
