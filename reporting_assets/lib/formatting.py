"""How numbers are written for people: one place, so a PDF, a workbook and an email agree."""

from __future__ import annotations

from datetime import date

# Each unit in words, as a table's "Unit" column reads (the same in the PDF, workbook and README).
UNIT_WORDS = {
    "usd": "US dollars",
    "ratio": "Percent",
    "count": "Count",
    "hours": "Hours",
    "minutes": "Minutes",
    "per_100_accounts": "Per 100 accounts",
    "usd_per_k": "US dollars per 1,000",
}


def unit_words(unit: str) -> str:
    return UNIT_WORDS.get(unit, unit)


def format_value(value: float | None, unit: str) -> str:
    """A number as an executive reads it: $1,234,567 · 4.2% · 12 · 3.5 h; a negative one with
    the true minus sign (−$1,200), the same sign `format_delta` writes."""
    if value is None:
        return "–"
    value = value + 0.0  # no "-0" for a negative zero
    if value < 0:
        shown = format_value(-value, unit)
        return shown if shown.strip("$0.,% hmin") == "" else f"−{shown}"
    if unit == "usd":
        return f"${value:,.0f}"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "hours":
        return f"{value:,.1f} h"
    if unit == "minutes":
        return f"{value:,.0f} min"
    if unit in ("per_100_accounts", "usd_per_k"):
        return f"{value:,.2f}"
    return str(value)


def format_delta(delta: float | None, unit: str) -> str:
    """A change with its sign: +$1,200 · −0.8 pts · +3."""
    if delta is None:
        return "–"
    sign = "+" if delta > 0 else "−" if delta < 0 else "±"
    magnitude = abs(delta)
    if unit == "ratio":
        return f"{sign}{magnitude * 100:.1f} pts"
    body = format_value(magnitude, unit)
    return f"{sign}{body}"


def signed(value: float, decimals: int = 1) -> str:
    """A plain change with its sign and one minus sign everywhere: +3.4 · −27.3 · ±0.0."""
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return f"{sign}{abs(value):,.{decimals}f}"


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def in_sentence(label: str) -> str:
    """A label inside a sentence: "First response within SLA" → "first response within SLA"
    (only the first letter is lowered, and not at all for an acronym such as "MRR")."""
    if len(label) > 1 and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]


# Words an identifier spells in capitals when it becomes a name.
ACRONYMS = {"cdn": "CDN", "api": "API", "ci": "CI", "crm": "CRM", "sso": "SSO", "ml": "ML",
            "etl": "ETL", "mrr": "MRR", "sla": "SLA", "aws": "AWS", "gcp": "GCP",
            "roi": "ROI", "slo": "SLO"}  # fmt: skip


def month_name(day) -> str:
    """A month as people write it: "February 2027"."""
    return f"{day:%B %Y}"


def display_name(identifier: str) -> str:
    """An identifier as people write it: "data_warehouse" → "Data warehouse", "cdn" → "CDN"."""
    words = [ACRONYMS.get(w, w) for w in identifier.replace("-", "_").split("_") if w]
    if not words:
        return identifier
    first = words[0]
    return " ".join([first if first.isupper() else first.capitalize(), *words[1:]])


def plural(n: int, word: str, many: str | None = None) -> str:
    """A count with its noun: "1 problem", "3 problems", "2 days" (`many` for irregular ones)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


# Units whose values are numbers (right-aligned in tables).
NUMERIC = {"usd", "ratio", "count", "hours", "minutes", "per_100_accounts", "usd_per_k"}


def cell_text(value, unit: str) -> str:
    """A table cell as every report shows it: numbers in their unit, months by name,
    identifiers as names, a dash for no value."""
    if value is None:
        return "–"
    if unit == "bool":
        return "yes" if value else ""
    if unit == "month" and isinstance(value, date):
        return month_name(value)
    if unit == "date" and isinstance(value, date):
        return value.isoformat()
    if unit == "name" and isinstance(value, str):
        return display_name(value)
    if unit in NUMERIC and isinstance(value, int | float):
        return format_value(float(value), unit)
    return str(value)
