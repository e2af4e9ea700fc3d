"""The shape of the business configuration: what a business owner may tune, and its rules.

Every knob a business owner changes (targets, ranges, alert thresholds, reports, distribution
lists, channels) is declared here and validated when the YAML is loaded. Secrets never appear in
this file: a setting that needs one names the environment variable that holds it (`*_env`).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from reporting_assets.config.base import (
    EMAIL,
    Strict,
    _bound,
)
from reporting_assets.config.business import (
    AlertRule,
    Analytics,
    ImpactTargets,
    Metric,
    Person,
    Quality,
    RecommendationRule,
    Scorecard,
)
from reporting_assets.config.delivery import (
    DECK_SLIDES,
    REPORT_SECTIONS,
    Channels,
    CriticalAlertNotices,
    DeliveryPolicy,
    DistributionList,
    EmailChannel,
    Notifications,
    Report,
    WebhookChannel,
)
from reporting_assets.config.platform import (
    Branding,
    Calendar,
    DemoCompany,
    Intraday,
    Investment,
    PostHogSource,
    Slo,
    Sources,
    Storage,
    WarehouseSource,
    Web,
)

__all__ = [
    "DECK_SLIDES",
    "EMAIL",
    "REPORT_SECTIONS",
    "AlertRule",
    "Analytics",
    "Branding",
    "Calendar",
    "Channels",
    "CriticalAlertNotices",
    "DeliveryPolicy",
    "DemoCompany",
    "DistributionList",
    "EmailChannel",
    "ImpactTargets",
    "Intraday",
    "Investment",
    "Metric",
    "Notifications",
    "PostHogSource",
    "Quality",
    "RecommendationRule",
    "Report",
    "Scorecard",
    "Settings",
    "Slo",
    "Sources",
    "Storage",
    "Strict",
    "WarehouseSource",
    "WebhookChannel",
]


class Settings(Strict):
    """The whole business configuration of one reporting deployment."""

    def _threshold_sane(self, i: int, rule: AlertRule) -> None:
        """A threshold compared with the metric's value must be a value the metric can take."""
        if rule.comparison not in ("above", "below"):
            return
        m = self.metrics[rule.metric]
        low, high = m.valid_range
        if m.unit == "ratio":
            low, high = max(low if low is not None else 0.0, 0.0), min(
                high if high is not None else 1.0, 1.0)  # fmt: skip
        for level in ("warning", "critical"):
            x = getattr(rule, level)
            if (low is not None and x < low) or (high is not None and x > high):
                span = f"valid range {_bound(low)} to {_bound(high)}"
                raise ValueError(
                    f"alert_rules[{i}] ('{rule.name}'): {level} {x:g} can never be reached by "
                    f"{rule.metric} ({m.unit}, {span})"
                )

    branding: Branding
    calendar: Calendar
    storage: Storage = Storage()
    sources: Sources = Sources()
    demo: DemoCompany = DemoCompany()
    metrics: dict[str, Metric]
    alert_rules: list[AlertRule] = Field(default_factory=list)
    quality: Quality = Quality()
    reports: dict[str, Report]
    distribution_lists: dict[str, DistributionList]
    channels: Channels = Channels()
    delivery: DeliveryPolicy = DeliveryPolicy()
    notifications: Notifications = Notifications()
    scorecard: Scorecard
    analytics: Analytics = Analytics()
    recommendations: list[RecommendationRule] = Field(default_factory=list)
    impact: ImpactTargets = ImpactTargets()
    web: Web = Web()
    intraday: Intraday = Intraday()
    slo: Slo = Slo()
    investment: Investment = Investment()
    # Who is who: the display name and role of the addresses reports name (owners of asks).
    people: dict[str, Person] = Field(default_factory=dict)

    def person(self, address: str | None) -> str:
        """How a report names someone: "Dana Ruiz, CFO", else the address itself."""
        if not address:
            return "Unassigned"
        p = self.people.get(address)
        if p is None:
            return address
        return f"{p.name}, {p.role}" if p.role else p.name

    @model_validator(mode="after")
    def _references_exist(self) -> Settings:
        for i, rule in enumerate(self.alert_rules):
            if rule.metric not in self.metrics:
                raise ValueError(
                    f"alert_rules[{i}] ('{rule.name}') uses unknown metric '{rule.metric}'"
                )
        bad = [a for a in self.people if not EMAIL.match(a)]
        if bad:
            raise ValueError(f"people: not email addresses: {', '.join(bad)}")
        names = [r.name for r in self.alert_rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"alert rule names must be unique: {', '.join(dupes)}")
        for key, report in self.reports.items():
            for lst in report.distribution_lists:
                if lst not in self.distribution_lists:
                    raise ValueError(f"reports.{key} uses unknown distribution list '{lst}'")
        for metric in self.scorecard.weights:
            if metric not in self.metrics:
                raise ValueError(f"scorecard.weights uses unknown metric '{metric}'")
            if self.metrics[metric].target is None:
                raise ValueError(f"scorecard.weights: metric '{metric}' has no target to score")
        allowed = [d.lower() for d in self.channels.email.allowed_domains]
        if allowed:
            for name, lst in self.distribution_lists.items():
                for field in ("to", "cc"):
                    outside = [a for a in getattr(lst, field)
                               if a.rsplit("@", 1)[-1].lower() not in allowed]  # fmt: skip
                    if outside:
                        raise ValueError(
                            f"distribution_lists.{name}.{field}: {', '.join(outside)} outside "
                            f"channels.email.allowed_domains ({', '.join(allowed)})")  # fmt: skip
        for i, rule in enumerate(self.alert_rules):
            self._threshold_sane(i, rule)
        n = self.notifications
        for where, lst in (("notifications.data_team", n.data_team),
                           ("notifications.critical_alerts.distribution_list",
                            n.critical_alerts.distribution_list)):  # fmt: skip
            if lst is not None and lst not in self.distribution_lists:
                raise ValueError(f"{where} uses unknown distribution list '{lst}'")
        return self
