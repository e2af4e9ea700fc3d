"""Who receives a report: its distribution lists resolved to addresses."""

from __future__ import annotations

from reporting_assets.config.models import Settings


def list_addresses(settings: Settings, names: list[str]) -> tuple[list[str], list[str]]:
    """To and Cc addresses of these distribution lists, each address once (To wins)."""
    lists = [settings.distribution_lists[n] for n in names]
    to = list(dict.fromkeys(a for lst in lists for a in lst.to))
    cc = [a for a in dict.fromkeys(a for lst in lists for a in lst.cc) if a not in to]
    return to, cc


def recipients(settings: Settings, report_key: str) -> tuple[list[str], list[str]]:
    """Primary recipients (To) and stakeholders (Cc) of a report, each address once."""
    return list_addresses(settings, settings.reports[report_key].distribution_lists)
