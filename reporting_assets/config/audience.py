"""Who receives a report: its distribution lists resolved to addresses, and what each reader's
copy shows in its To and Cc headers."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Audience:
    """The readers of one report's email. Each reader gets a copy of their own; its To header
    names the reader (or their list's own address, when the list has one), and its Cc names the
    stakeholders only when they are a short list, so nobody sees a long list of colleagues."""

    to: list[str]
    cc: list[str]
    cc_shown: list[str]
    list_address: dict[str, str]  # reader (lower case) → the address of the list they are on

    @property
    def everyone(self) -> list[str]:
        return [*self.to, *self.cc]

    def headers(self, reader: str) -> tuple[str, list[str]]:
        """(To, Cc) of `reader`'s copy."""
        key = reader.lower()
        return self.list_address.get(key, reader), [a for a in self.cc_shown if a.lower() != key]


def audience(settings: Settings, report_key: str) -> Audience:
    names = settings.reports[report_key].distribution_lists
    to, cc = list_addresses(settings, names)
    address: dict[str, str] = {}
    for name in names:
        lst = settings.distribution_lists[name]
        if lst.address:
            for a in [*lst.to, *lst.cc]:
                address.setdefault(a.lower(), lst.address)
    shown = cc if len(cc) <= settings.channels.email.max_cc_shown else []
    return Audience(to, cc, shown, address)


def deck_audiences(settings: Settings, report_key: str) -> dict[str, list[str]]:
    """Per reader (lower case), the audiences whose decks their email carries (config
    `deck_lists`: each audience's deck goes to everyone on its lists)."""
    out: dict[str, list[str]] = {}
    for aud, names in settings.reports[report_key].deck_lists.items():
        to, cc = list_addresses(settings, names)
        for reader in [*to, *cc]:
            out.setdefault(reader.lower(), []).append(aud)
    return out


def data_team(settings: Settings) -> list[str]:
    """The data team's addresses (`notifications.data_team`): told of failed runs, checks and
    sends in doubt, and the owners of the data assets. Nobody when not configured."""
    name = settings.notifications.data_team
    if name is None:
        return []
    lst = settings.distribution_lists[name]
    return list(dict.fromkeys([*lst.to, *lst.cc]))
