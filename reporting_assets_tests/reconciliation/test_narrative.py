"""Narrative audit: every number that appears in a summary sentence, a takeaway or ask of the
decision block, a slide title or a speaker note equals a value the same report shows in its
tables.

For the weekly and monthly reports of the reconciliation window and the daily report of its last
day, every number of every summary sentence (report.json `summary`; the PDF's executive summary
and the workbook's summary must read the same) is parsed by kind - money ($1,301,555, -$5,
$1.3 M), percentages (6.5%, 6.5 %), points (+3.4 pts, 1.3 points), dates (8 March, June 2026,
2026-02-03), day counts (7 days), ordinals (81st), scores (70/100) and plain counts - and looked up
in a ledger built from the report's tables only:

* the KPI table of report.json: value, previous, target and change (value − previous), by unit;
* the alerts table: value and threshold (in the metric's unit), since, and the numbers its
  messages print (the value, the rule's threshold, the days it has lasted);
* every typed cell of every workbook sheet: a `$` format is money, a `%` format a percentage
  (points too), any other format a plain number; date cells are dates;
* what a reader can count in a workbook table: its rows, the filled cells of a column, the rows
  holding each value of a category column (text or yes/no, some value repeating); and the
  quality checks of report.json (all, passed, not passed, and the numbers their details print);
* the report's own period (its key and the day its data runs through) and its length in days.

A number matches a ledger value of its kind when the value, written with as many decimals as the
sentence prints (and in millions or thousands for $1.3 M / $12 K), reads the same. Signs are not
compared (a sentence says "down $865" for a change of -$865). Labels that hold digits and appear in
a table header or first column ("Overall score (0–100)", "MTTR (sev1–2)") are not numbers.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from reporting_assets.config import get_settings
from reporting_assets_tests.reconciliation.window import DAILY_REPORT

pytestmark = pytest.mark.integration  # runs Dagster jobs or processes

REPORTS = [
    ("weekly_business_review", "2026-03-08"),
    ("monthly_board_report", "2026-03-01"),
    DAILY_REPORT,
]
REPORT_IDS = [f"{r}-{k}" for r, k in REPORTS]

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH = "|".join(MONTHS)
_NUM = r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<dec>\d+))?"
_SIGN = r"[+\-−±]?"
_FREE = r"(?<![\w.$/])"  # not inside a word, a decimal, an amount or a fraction
# (kind, pattern), tried in this order; what a pattern matches is taken out of the sentence.
# Not figures of the tables, taken out before the numbers are read: a time of day ("11:59 pm",
# from the data-through line) and an ask's due date ("by Mon 16 Mar": the day after publication
# plus the rule's days to respond).
UNAUDITED = [
    re.compile(r"\b\d{1,2}:\d{2}\s?(?:am|pm)\b"),
    re.compile(
        r"\bby (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} "
        r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"
    ),
]
PATTERNS = [
    ("date", re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b")),
    ("date", re.compile(rf"\b(?P<d>\d{{1,2}}) (?P<month>{_MONTH})(?: (?P<y>\d{{4}}))?\b")),
    ("month", re.compile(rf"\b(?P<month>{_MONTH}) (?P<y>\d{{4}})\b")),
    (
        "usd",
        re.compile(rf"(?<![\w.]){_SIGN}\${_NUM}(?:\s?(?P<scale>M|K|k|bn|million|thousand)\b)?"),
    ),
    ("pct", re.compile(rf"{_FREE}{_SIGN}{_NUM}\s?%")),
    ("pct", re.compile(rf"{_FREE}{_SIGN}{_NUM}\s?(?:pts|pt|percentage points|points)\b")),
    ("plain", re.compile(rf"{_FREE}{_NUM}/\d+\b")),  # a score: 70/100
    ("plain", re.compile(rf"{_FREE}{_NUM}(?:st|nd|rd|th)\b")),  # an ordinal: 81st
    ("days", re.compile(rf"{_FREE}{_NUM} days?\b")),
    ("plain", re.compile(rf"{_FREE}{_SIGN}{_NUM}(?![\w%])")),
]
SCALES = {"M": 1e6, "million": 1e6, "bn": 1e9, "K": 1e3, "k": 1e3, "thousand": 1e3}


@dataclass(frozen=True)
class Token:
    """A number of a sentence: its kind, its digits as printed (no sign, no separators), the
    decimals printed, the scale it is written in, and the text it was read from."""

    kind: str
    digits: str = ""
    decimals: int = 0
    scale: float = 1.0
    text: str = ""
    when: tuple = ()  # dates: (year or None, month or None, day or None)


def tokens(sentence: str, labels: list[str]) -> list[Token]:
    """Every number of the sentence, leaving out the labels that hold digits."""
    text = sentence
    for label in sorted(labels, key=len, reverse=True):
        text = text.replace(label, " " * len(label))
    for pattern in UNAUDITED:
        text = pattern.sub(lambda m: " " * len(m.group()), text)
    found: list[tuple[int, Token]] = []
    for kind, pattern in PATTERNS:
        for m in pattern.finditer(text):
            g = m.groupdict()
            if kind in ("date", "month"):
                month = MONTHS.index(g["month"]) + 1 if g.get("month") else int(g["m"])
                year = int(g["y"]) if g.get("y") else None
                day = int(g["d"]) if g.get("d") else None
                token = Token(kind, text=m.group(), when=(year, month, day))
            else:
                decimals = g["dec"] or ""
                token = Token(
                    kind,
                    digits=g["int"].replace(",", "") + (f".{decimals}" if decimals else ""),
                    decimals=len(decimals),
                    scale=SCALES.get(g.get("scale") or "", 1.0),
                    text=m.group().strip(),
                )
            found.append((m.start(), token))
        text = pattern.sub(lambda m: " " * len(m.group()), text)
    return [t for _, t in sorted(found, key=lambda x: x[0])]


@dataclass
class Ledger:
    """The values a report shows in its tables, by kind, each with where it is shown."""

    values: dict[str, list[tuple[float, str]]] = field(
        default_factory=lambda: {"usd": [], "pct": [], "plain": [], "days": []}
    )
    dates: list[tuple[date, str]] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)

    def add(self, kind: str, value, where: str) -> None:
        if value is None or isinstance(value, bool):
            return
        value = float(value)
        if math.isfinite(value):
            self.values[kind].append((abs(value), where))

    def add_unit(self, unit: str, value, where: str) -> None:
        """A value in a metric unit: usd is money, ratio a percentage, anything else plain."""
        if value is None:
            return
        if unit == "usd":
            self.add("usd", value, where)
        elif unit == "ratio":
            self.add("pct", float(value) * 100, where)
        else:
            self.add("plain", value, where)

    def add_date(self, value, where: str) -> None:
        if isinstance(value, datetime):
            value = value.date()
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        if value is not None:
            self.dates.append((value, where))

    def add_text_numbers(self, text: str, where: str) -> None:
        """The numbers an alert message prints (its value, its threshold, its days)."""
        for t in tokens(text, []):
            if t.kind not in ("date", "month"):  # its dates are the typed `since`
                self.add(t.kind, float(t.digits) * t.scale, f"{where}: “{t.text}”")

    def where(self, token: Token) -> str | None:
        """Where the report's tables show this number, or None."""
        if token.kind in ("date", "month"):
            y, m, d = token.when
            for value, where in self.dates:
                if (
                    (y is None or value.year == y)
                    and value.month == m
                    and (d is None or value.day == d)
                ):
                    return where
            return None
        kinds = {"days": ("days", "plain")}.get(token.kind, (token.kind,))
        for kind in kinds:
            for value, where in self.values[kind]:
                if f"{value / token.scale:.{token.decimals}f}" == token.digits:
                    return where
        return None

    def nearest(self, token: Token, n: int = 3) -> list[str]:
        """The values of the token's kind closest to it, as the tables show them."""
        if token.kind in ("date", "month"):
            return []
        kinds = {"days": ("days", "plain")}.get(token.kind, (token.kind,))
        target = float(token.digits) * token.scale
        near = sorted((v for k in kinds for v in self.values[k]), key=lambda v: abs(v[0] - target))
        shown = {"usd": "${:,.2f}", "pct": "{:.3f}%"}.get(token.kind, "{:,.4g}")
        return [f"{shown.format(v)} ({w})" for v, w in near[:n]]


def _period_days(content: dict, workbook) -> int:
    """How many days the report covers: the rows of its day-by-day table (one for a day)."""
    if "Day by day" in workbook.sheetnames:
        rows = list(workbook["Day by day"].iter_rows(min_row=2, values_only=True))
        return sum(1 for r in rows if isinstance(r[0], datetime | date))
    return 1


def _tables(ws) -> list[tuple[str, list, list[tuple]]]:
    """(title, header, rows) of each table of a sheet: a header row of two or more texts, then
    the rows below it up to the first that starts empty or holds a single value (a sentence)."""
    rows = list(ws.iter_rows())
    out, i = [], 0
    while i < len(rows):
        values = [c.value for c in rows[i]]
        filled = [v for v in values if v is not None]
        if len(filled) >= 2 and all(isinstance(v, str) for v in filled):
            body = []
            for r in rows[i + 1 :]:
                cells = [c.value for c in r]
                if cells[0] is None or sum(v is not None for v in cells) < 2:
                    break
                body.append(r)
            if body:
                out.append((ws.title, values, body))
                i += len(body) + 1
                continue
        i += 1
    return out


def ledger_of(version: Path, report: str, key: str) -> Ledger:
    """Everything the report's tables show (see the module's docstring)."""
    s = get_settings()
    content = json.loads((version / "report.json").read_text())
    wb = openpyxl.load_workbook(version / f"{report}_{key}.xlsx")
    ledger = Ledger()
    for k in content["kpis"]:
        where = f"KPI table, {k['label']}"
        ledger.add_unit(k["unit"], k["value"], f"{where}, value")
        ledger.add_unit(k["unit"], k["previous"], f"{where}, previous")
        ledger.add_unit(k["unit"], k["target"], f"{where}, target")
        if k["value"] is not None and k["previous"] is not None:
            ledger.add_unit(k["unit"], k["value"] - k["previous"], f"{where}, change")
    for a in content["alerts"]:
        where = f"alerts table, {a['rule']}"
        unit = s.metrics[a["metric"]].unit if a["metric"] in s.metrics else "count"
        ledger.add_unit(unit, a["value"], f"{where}, value")
        ledger.add_unit(unit, a["threshold"], f"{where}, threshold")
        ledger.add_date(a["since"], f"{where}, since")
        ledger.add_text_numbers(a["message"], f"{where}, message")
    checks = content.get("checks", [])
    for c in checks:  # the Quality table's details: what each check measured
        ledger.add_text_numbers(c["description"], f"quality table, {c['asset']}:{c['check']}")
    passed = sum(1 for c in checks if c["passed"])
    ledger.add("plain", len(checks), "quality checks: all")
    ledger.add("plain", passed, "quality checks: passed")
    ledger.add("plain", len(checks) - passed, "quality checks: not passed")
    warned = sum(1 for c in checks if not c["passed"] and c["severity"] == "WARN")
    ledger.add("plain", warned, "quality checks: warnings")
    ledger.add("plain", len(checks) - passed - warned, "quality checks: failed")
    # The report's own period: its first day, the day its data runs through, its length.
    ledger.add_date(content["period"], "the report's period (key)")
    through = re.search(rf"(\d{{1,2}}) ({_MONTH}) (\d{{4}})", content["data_through"])
    if through:
        d, m, y = through.groups()
        ledger.add_date(date(int(y), MONTHS.index(m) + 1, int(d)), "the report's data through")
    ledger.add("days", _period_days(content, wb), "days in the period")
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                where = f"{ws.title}!{c.coordinate}"
                if isinstance(c.value, datetime | date):
                    ledger.add_date(c.value, where)
                elif isinstance(c.value, int | float) and not isinstance(c.value, bool):
                    fmt = c.number_format or ""
                    if "$" in fmt:
                        ledger.add("usd", c.value, where)
                    elif "%" in fmt:
                        ledger.add("pct", c.value * 100, where)
                    else:
                        ledger.add("plain", c.value, where)
        for title, header, body in _tables(ws):
            named = [*header, *(r[0].value for r in body)]
            ledger.labels.update(x for x in named if isinstance(x, str) and re.search(r"\d", x))
            ledger.add("plain", len(body), f"{title}: rows")
            for j, name in enumerate(header):
                column = [r[j].value for r in body if j < len(r)]
                if name == "Days missing":  # the coverage table lists the days in words
                    for v in column:
                        for t in tokens(str(v or ""), []):
                            if t.kind == "date" and all(t.when):
                                ledger.add_date(date(*t.when), f"{title}: {name}")
                ledger.add("plain", sum(v is not None for v in column), f"{title}: {name} filled")
                counts: dict[str, int] = {}
                for v in column:
                    if isinstance(v, str | bool):
                        counts[str(v).lower()] = counts.get(str(v).lower(), 0) + 1
                if len(counts) < sum(counts.values()):  # a category (some value repeats)
                    for value, n in counts.items():
                        ledger.add("plain", n, f"{title}: {name} = {value!r} rows")
    return ledger


def _pdf_summary(path: Path) -> list[str]:
    """The bullets of the PDF's executive summary, each joined over its lines."""
    lines = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Executive summary")
    bullets: list[str] = []
    previous_blank = True
    for line in lines[start + 1 :]:
        text = line.strip()
        if text.startswith("•"):
            bullets.append(text[1:].strip())
        elif text and bullets and not previous_blank:
            bullets[-1] += " " + text
        elif text and bullets:
            break  # the next block after the summary
        previous_blank = not text
    return bullets


def _workbook_summary(path: Path) -> list[str]:
    """The sentences under the "Summary" heading of the workbook's Summary sheet."""
    ws = openpyxl.load_workbook(path, read_only=True)["Summary"]
    rows = [r[0] for r in ws.iter_rows(values_only=True)]
    start = max(i for i, v in enumerate(rows) if v == "Summary")
    return [v for v in rows[start + 1 :] if isinstance(v, str)]


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _version(pipeline, report: str, key: str) -> Path:
    version = pipeline["store"].latest(report, key)
    if version is None:
        reasons = "; ".join(pipeline["reports"].get((report, key), [])[:3])
        pytest.fail(f"{report} {key} was not published ({reasons or 'no failure recorded'})")
    return version


def test_every_kind_of_number_is_read():
    """The parser itself, on a made-up sentence holding every kind (no report needed)."""
    sentence = (
        "MRR moved from $1,301,555 to -$1.3 M (+3.4 pts, 1.3 points, 6.5 %, -3.9%); "
        "Scorecard 70/100; 81st percentile; since 8 March 2026, by June 2026 (2026-02-03); "
        "over the 7 days, 3 of 12 rules; MTTR (sev1–2) in acct_00073 and the 4-week average."
    )
    got = [(t.kind, t.digits or t.when) for t in tokens(sentence, ["MTTR (sev1–2)", "4-week"])]
    assert got == [
        ("usd", "1301555"),
        ("usd", "1.3"),
        ("pct", "3.4"),
        ("pct", "1.3"),
        ("pct", "6.5"),
        ("pct", "3.9"),
        ("plain", "70"),
        ("plain", "81"),
        ("date", (2026, 3, 8)),
        ("month", (2026, 6, None)),
        ("date", (2026, 2, 3)),
        ("days", "7"),
        ("plain", "3"),
        ("plain", "12"),
    ]
    assert tokens("$1.3 M", [])[0].scale == 1e6


@pytest.mark.parametrize(("report", "key"), REPORTS, ids=REPORT_IDS)
def test_the_summary_reads_the_same_in_every_format(report, key, pipeline):
    """report.json, the PDF's executive summary and the workbook's summary hold the same
    sentences, in the same order (so auditing report.json audits all three)."""
    version = _version(pipeline, report, key)
    summary = json.loads((version / "report.json").read_text())["summary"]
    assert summary, "the report has no summary"
    pdf = _pdf_summary(version / f"{report}_{key}.pdf")
    workbook = _workbook_summary(version / f"{report}_{key}.xlsx")
    differ = []
    for where, sentences in (("PDF", pdf), ("workbook", workbook)):
        if [_squeeze(x) for x in sentences] != [_squeeze(x) for x in summary]:
            differ.append(f"{where}:\n" + "\n".join(f"    {x}" for x in sentences))
    assert not differ, (
        "report.json summary:\n"
        + "\n".join(f"    {x}" for x in summary)
        + ("\n  " + "\n  ".join(differ))
    )


def _audit(ledger: Ledger, sources) -> tuple[list[str], int]:
    """Each number of each (source, sentences) looked up in the ledger: what is missing (with
    the nearest values of its kind), and how many numbers were read."""
    missing, audited = [], 0
    for source, sentences in sources:
        for sentence in sentences:
            for token in tokens(sentence, sorted(ledger.labels)):
                audited += 1
                if ledger.where(token) is None:
                    near = ledger.nearest(token)
                    missing.append(
                        f"  {token.text!r} ({token.kind}) in {source}: “{sentence}”"
                        + (f"\n      nearest in the tables: {'; '.join(near)}" if near else "")
                    )
    return missing, audited


@pytest.mark.parametrize(("report", "key"), REPORTS, ids=REPORT_IDS)
def test_every_takeaway_and_ask_number_is_in_the_reports_tables(report, key, pipeline):
    """The decision block's figures (takeaways, each ask's evidence and its dollars at stake)
    are figures of the report's tables, as printed there. (An ask's due date is the day after
    publication plus its rule's days, not a table figure.)"""
    version = _version(pipeline, report, key)
    ledger = ledger_of(version, report, key)
    decisions = json.loads((version / "report.json").read_text())["decisions"]
    assert decisions["takeaways"], "the report has no takeaways"
    asks = decisions["asks"]
    missing, audited = _audit(ledger, (
        ("takeaways", decisions["takeaways"]),
        ("asks", [a["why"] for a in asks]),
        ("stakes", [a["stake_text"] for a in asks if a["at_stake"] is not None]),
    ))  # fmt: skip
    assert audited, "no number found in the decision block"
    assert not missing, (
        f"{report} {key}: {len(missing)} of {audited} decision-block number(s) are in none of "
        "the report's tables:\n" + "\n".join(missing)
    )


@pytest.mark.parametrize(("report", "key"), REPORTS, ids=REPORT_IDS)
def test_every_summary_number_is_in_the_reports_tables(report, key, pipeline):
    version = _version(pipeline, report, key)
    ledger = ledger_of(version, report, key)
    summary = json.loads((version / "report.json").read_text())["summary"]
    # A PDF bullet that is not one of report.json's sentences is audited too.
    known = {_squeeze(x) for x in summary}
    extra = [x for x in _pdf_summary(version / f"{report}_{key}.pdf") if _squeeze(x) not in known]
    missing, audited = _audit(ledger, (("report.json", summary), ("PDF", extra)))
    assert audited, "no number found in the summary"
    assert not missing, (
        f"{report} {key}: {len(missing)} of {audited} summary number(s) are in none of the "
        "report's tables:\n" + "\n".join(missing)
    )


DECK_REPORTS = [r for r in REPORTS if r[0] != "daily_executive"]  # the daily report has no deck


def _decks(version: Path, report: str, key: str) -> dict[str, list]:
    """Each audience's deck of the version: {audience: slides}."""
    from pptx import Presentation

    prefix = f"{report}_{key}_"
    return {p.stem.removeprefix(prefix): list(Presentation(p).slides)
            for p in sorted(version.glob(f"{prefix}*.pptx"))}  # fmt: skip


def _title(slide) -> str:
    texts = [s.text_frame.text for s in slide.shapes if s.has_text_frame and s.text_frame.text]
    return texts[0] if texts else ""


@pytest.mark.parametrize(("report", "key"), DECK_REPORTS, ids=[f"{r}-{k}" for r, k in DECK_REPORTS])
def test_each_audience_gets_a_deck_of_its_own(report, key, pipeline):
    """Every audience's deck differs from the others (slides only it has), no slide repeats
    another, slide 2 is the decision block, and the board deck carries the analysis."""
    decks = _decks(_version(pipeline, report, key), report, key)
    assert len(decks) == 2, sorted(decks)
    titles = {aud: [_title(s) for s in slides] for aud, slides in decks.items()}
    for aud, names in titles.items():
        assert names[1] == "What changed, and what we ask", (aud, names[:3])
        assert len(names) == len(set(names)), (aud, names)  # no slide twice
        notes = [s.notes_slide.notes_text_frame.text for s in decks[aud]]
        assert len(notes) == len(set(notes)), aud  # no two slides say the same
        others = set().union(*(set(t) for a, t in titles.items() if a != aud))
        assert set(names) - others, f"{aud}'s deck has no slide of its own: {names}"
    if "board" in titles:
        assert {
            "Business analysis",
            "Market benchmarks",
            "Forecasts",
            "Accounts at risk of churn",
            "Appendix: data quality",
        } <= set(titles["board"])


@pytest.mark.parametrize(("report", "key"), DECK_REPORTS, ids=[f"{r}-{k}" for r, k in DECK_REPORTS])
def test_every_number_in_a_slide_title_or_speaker_note_is_in_the_reports_tables(
    report, key, pipeline
):
    version = _version(pipeline, report, key)
    ledger = ledger_of(version, report, key)
    sources = []
    for aud, slides in _decks(version, report, key).items():
        for n, slide in enumerate(slides, start=1):
            lines = [ln for ln in slide.notes_slide.notes_text_frame.text.splitlines() if ln]
            sources.append((f"{aud} slide {n}", [_title(slide), *lines]))
    missing, audited = _audit(ledger, sources)
    assert audited, "no number found in the decks"
    assert not missing, (
        f"{report} {key}: {len(missing)} of {audited} deck number(s) are in none of the "
        "report's tables:\n" + "\n".join(missing[:40])
    )


def _sheet(wb, title: str) -> tuple[list, list[list]]:
    [(_, header, body)] = _tables(wb[title])[:1]
    return header, [[c.value for c in r] for r in body]


def test_sentences_and_tables_agree_on_counts_statuses_and_labels(pipeline):
    """Contradictions a reader would catch: the churn section's count of high-risk accounts is
    the table's (which leads with them); the forecast names each series as its table does; an
    initiative with every milestone reached is never "behind"; an alert's breach begins on its
    table's "since"."""
    report, key = "monthly_board_report", "2026-03-01"
    version = _version(pipeline, report, key)
    wb = openpyxl.load_workbook(version / f"{report}_{key}.xlsx")
    content = json.loads((version / "report.json").read_text())
    # Churn: "N accounts are high risk" and the table's high-risk rows.
    header, rows = _sheet(wb, "Accounts at risk of churn")
    risk = [r[header.index("Risk")] for r in rows]
    pdf = " ".join(
        subprocess.run(
            ["pdftotext", str(version / f"{report}_{key}.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    )
    said = re.search(r"(\d+) accounts? (?:are|is) high risk(?: \((\d+) shown\))?", pdf)
    assert said, "the churn section does not count its high-risk accounts"
    intro = said[0]
    shown = int(said[2] or said[1])
    assert risk[:shown] == ["High"] * shown and risk.count("High") == shown, (intro, risk)
    # Forecast: each series named as the table names it, MRR's model sentence about MRR.
    header, rows = _sheet(wb, "Forecasts")
    series = {r[header.index("Series")] for r in rows}
    assert series == {"MRR", "Cloud spend"}, series
    # Alerts: the day each message says the breach began is the alerts table's "since".
    assert content["alerts"], "the window's month has alerts"
    for a in content["alerts"]:
        since = date.fromisoformat(a["since"])
        assert f"in breach since {since.day} {since:%B}" in a["message"], a
    # Initiatives (weekly): all milestones reached is never behind.
    weekly = _version(pipeline, "weekly_business_review", "2026-03-08")
    wb = openpyxl.load_workbook(weekly / "weekly_business_review_2026-03-08.xlsx")
    header, rows = _sheet(wb, "Strategic initiatives")
    for r in rows:
        done, total = r[header.index("Milestones")].split(" of ")
        if done == total:
            assert r[header.index("Status")] in ("Done", "Done late"), r
