"""The quarterly enhancement plan: a ranked backlog of changes to the reports, each proposed from
the quarter's own records with the evidence behind it — sections to drop or merge, what readers
ask for in their comments, pipeline stages that fail or run over their target, charts few people
open, and deliveries that keep failing for the same cause.

Every item has a score, so the ranking can be followed by hand: the score is a weight times the
people, runs or deliveries its evidence counts (`WEIGHTS`):

- a delivery refused for good (a bounce, a webhook that is gone): 3 each, and one still pending
  after a temporary failure: 1 each — someone did not get a report;
- a failed run of a job: 3 each — a report late or missing for everyone;
- a reader asking for something in a comment: 2 each (distinct readers);
- a low rating (1 or 2 of 5) of a section: 2 each;
- a run over its cadence's generation target: 1 each;
- a reader of a report who never opened one of its sections this quarter: 1 each.

Highest score first; ties by category (reliability before content), then by the proposal.
Plain functions over rows (no Dagster); `history.quarter_records` reads them from the app
database."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping
from datetime import date

import polars as pl

from reporting_assets.lib.formatting import display_name, plural
from reporting_assets.platform.causes import failure_cause
from reporting_assets.platform.figures import RunTiming, job_cadence
from reporting_assets.records.delivery_rows import FAILED_PERMANENT, PENDING

WEIGHTS = {
    "refused_delivery": 3,
    "pending_delivery": 1,
    "failed_run": 3,
    "asking_reader": 2,
    "low_rating": 2,
    "slow_run": 1,
    "skipping_reader": 1,
}
LOW_RATING = 2  # a rating of 1 or 2 of 5
POOR_MEAN_RATING = 3.0  # a section rated below 3 of 5 on average is rated low
FEW_READERS_SHARE = 0.5  # opened by fewer than half of the report's readers: rarely opened

FIX_DELIVERY, FIX_STAGE, SPEED_UP = "Fix delivery", "Fix a failing stage", "Speed up a stage"
ADD, DROP, REWORK_CHART, REWORK = "Add", "Drop or merge", "Rework a chart", "Rework a section"
CATEGORY_ORDER = [FIX_DELIVERY, FIX_STAGE, ADD, DROP, REWORK, REWORK_CHART, SPEED_UP]

BACKLOG_SCHEMA = {
    "rank": pl.Int64,
    "category": pl.String,
    "proposal": pl.String,
    "report": pl.String,
    "evidence": pl.String,
    "score": pl.Int64,
    "basis": pl.String,
}

# What a reader writes when asking for something: "add …", "please add …", "would like …",
# "I'd like to see …", "missing …", "please show …", "can we have / get / see …", "wish …",
# "need …". What follows the cue is what is asked for.
_CUES = re.compile(
    r"(?:^|[.!?;]\s*|\b(?:and|but|also|please|pls|could you|can you)\s+)"
    r"(?:please\s+|pls\s+|also\s+)?"
    r"(?:add(?:ing)?|include|show(?:ing)?|would (?:like|love)|i'?d (?:like|love)|"
    r"(?:it )?(?:is |'s )?missing|wish(?: there (?:was|were))?|"
    r"(?:we |i )?need|can (?:we|i|you) (?:have|get|see|add)|could (?:we|i) (?:have|get|see))"
    r"[:\s]+(?P<what>[^.!?;]+)",
    re.IGNORECASE,
)
_LEADING = re.compile(
    r"^(?:to (?:see|have|get)\s+|(?:a|an|the|some|more)\s+|(?:see|have|get)\s+)+", re.IGNORECASE
)
_TRAILING = re.compile(r"\s+(?:please|pls|thanks|thank you|too|as well)$", re.IGNORECASE)


def requested_item(comment: str | None) -> str | None:
    """What a comment asks to be added or shown, in lower case ("churn by cohort"), or None when
    it asks for nothing (praise, a complaint, a question)."""
    if not comment:
        return None
    match = _CUES.search(comment.strip())
    if match is None:
        return None
    what = match.group("what").strip().strip("\"'“”").lower()
    what = _TRAILING.sub("", _LEADING.sub("", what)).strip(" ,")
    return what or None


def content_requests(rows: Iterable[Mapping], titles: Mapping[str, str]) -> list[dict]:
    """Backlog items for what readers ask for: feedback rows {reader, report, section, comment}
    grouped by report and the thing asked for, scored by the distinct readers asking."""
    asks: dict[tuple[str, str], list[Mapping]] = {}
    for r in rows:
        what = requested_item(r.get("comment"))
        if what:
            asks.setdefault((r["report"], what), []).append(r)
    items = []
    for (report, what), said in asks.items():
        readers = len({r["reader"] for r in said})
        quote = said[0]["comment"].strip()
        items.append(
            _item(
                ADD,
                f"Add to the {titles.get(report, display_name(report))}: {what}",
                report,
                f"asked by {plural(readers, 'reader')} in {plural(len(said), 'comment')}, e.g. "
                f"“{quote[:120]}”",
                [("asking_reader", readers)],
            )
        )
    return items


def section_items(
    relevance: pl.DataFrame,
    readers: Mapping[str, int],
    low_ratings: Mapping[tuple[str, str], int],
    chart_sections: Mapping[tuple[str, str], list[str]],
    titles: Mapping[str, str],
    quarter: str,
) -> list[dict]:
    """Backlog items for sections, from `relevance` (opens, readers, mean rating per report and
    section in the quarter, as `records.engagement.section_relevance` gives it), the readers of
    each report in the app, the low ratings of each section, and the sections that carry charts.

    A section of a report read in the app is proposed to drop or merge when nobody opened it, or
    when fewer than half the report's readers opened it and it is rated below 3 of 5; a chart
    section that fewer than half of them opened, to rework; a section read but rated below 3,
    to rework."""
    items = []
    for r in relevance.iter_rows(named=True):
        report, section, total = r["report"], r["section"], readers.get(r["report"], 0)
        if not total:  # nobody read the report in the app: its sections' use is not measured
            continue
        skipped = max(total - r["readers"], 0)
        low = low_ratings.get((report, section), 0)
        rating = r["mean_rating"]
        rated_low = rating is not None and rating < POOR_MEAN_RATING
        rare = r["readers"] < FEW_READERS_SHARE * total
        charts = chart_sections.get((report, section), [])
        name = f"{display_name(section)} in the {titles.get(report, display_name(report))}"
        opened = (
            f"opened by {r['readers']} of {plural(total, 'reader')} of the report "
            f"({plural(r['opens'], 'open')}) in {quarter}"
        )
        rated = (
            f"rated {rating:.1f} of 5 on average ({plural(low, 'rating')} of 1–2)"
            if rating is not None
            else "not rated"
        )
        chart = (
            f"; it carries {plural(len(charts), 'chart')} ({', '.join(charts)})" if charts else ""
        )
        if r["opens"] == 0:
            items.append(
                _item(
                    DROP,
                    f"Drop or merge {name}",
                    report,
                    f"nobody opened it in {quarter} while {plural(total, 'reader')} "
                    f"read the report{chart}",
                    [("skipping_reader", skipped), ("low_rating", low)],
                )
            )
        elif rare and rated_low:
            items.append(
                _item(
                    DROP,
                    f"Drop or merge {name}",
                    report,
                    f"{opened}; {rated}{chart}",
                    [("skipping_reader", skipped), ("low_rating", low)],
                )
            )
        elif rare and charts:
            items.append(
                _item(
                    REWORK_CHART,
                    f"Rework or drop the chart of {name}",
                    report,
                    f"{opened}{chart}",
                    [("skipping_reader", skipped)],
                )
            )
        elif rated_low:
            items.append(
                _item(REWORK, f"Rework {name}", report, f"{opened}; {rated}", [("low_rating", low)])
            )
    return items


def stage_items(
    runs: Iterable[RunTiming],
    report_cadences: Mapping[str, str],
    targets: Mapping[str, float],
    quarter: str,
) -> list[dict]:
    """Backlog items for jobs that failed, and for jobs whose runs took longer than their
    cadence's generation target (`slo.generation_minutes`), over the quarter's finished runs."""
    by_job: dict[str, list[RunTiming]] = {}
    for run in runs:
        by_job.setdefault(run.job, []).append(run)
    items = []
    for job, mine in sorted(by_job.items()):
        failed = [r for r in mine if r.status == "FAILURE"]
        if failed:
            last = max((r.end or r.start) for r in failed if r.end or r.start)
            keys = sorted({r.partition for r in failed})
            which = ", ".join(keys[:3]) + (", …" if len(keys) > 3 else "")
            evidence = (
                f"{plural(len(failed), 'failed run')} of {len(mine)} in {quarter} (the last on "
                f"{last:%-d %B}; partitions {which})"
            )
            items.append(
                _item(FIX_STAGE, f"Fix {job}", None, evidence, [("failed_run", len(failed))])
            )
        cadence = job_cadence(job, report_cadences)
        if cadence is None:
            continue
        minutes = [(r.end - r.start).total_seconds() / 60 for r in mine if r.start and r.end]
        target = targets[cadence]
        slow = [m for m in minutes if m > target]
        if slow:
            evidence = (
                f"{plural(len(slow), 'run')} of {len(minutes)} over its {target:g}-minute target "
                f"in {quarter} (slowest {max(slow):.1f} min, median "
                f"{statistics.median(minutes):.1f} min)"
            )
            proposal = f"Automate or speed up {job}"
            items.append(_item(SPEED_UP, proposal, None, evidence, [("slow_run", len(slow))]))
    return items


def delivery_items(rows: Iterable[Mapping], titles: Mapping[str, str], quarter: str) -> list[dict]:
    """Backlog items for delivery problems by cause: ledger rows refused for good, or still
    pending after a failure, grouped by channel and cause (from what the channel answered)."""
    groups: dict[tuple[str, str, str], list[Mapping]] = {}
    for r in rows:
        if r["status"] == FAILED_PERMANENT or (r["status"] == PENDING and r["last_error"]):
            kind, cause = failure_cause(
                " ".join(filter(None, (r["last_error"], r["provider_response"])))
            )
            groups.setdefault((r["channel"], kind, cause), []).append(r)
    items = []
    for (channel, kind, cause), mine in sorted(groups.items()):
        refused = sum(r["status"] == FAILED_PERMANENT for r in mine)
        pending = len(mine) - refused
        targets = sorted({r["target"] for r in mine})
        reports = sorted({titles.get(r["report"], r["report"]) for r in mine})
        said = ", ".join(
            x
            for x in (
                f"{refused} refused for good" if refused else "",
                f"{pending} still pending" if pending else "",
            )
            if x
        )
        items.append(
            _item(
                FIX_DELIVERY,
                f"Fix {display_name(channel)} delivery: {cause}",
                mine[0]["report"] if len({r["report"] for r in mine}) == 1 else None,
                f"{plural(len(mine), 'delivery', 'deliveries')} in {quarter} ({said}, {kind}) to "
                f"{plural(len(targets), 'recipient')} ({', '.join(targets[:3])}"
                f"{', …' if len(targets) > 3 else ''}) of {', '.join(reports)}",
                [("refused_delivery", refused), ("pending_delivery", pending)],
            )
        )
    return items


def _item(
    category: str, proposal: str, report: str | None, evidence: str, counts: list[tuple[str, int]]
) -> dict:
    counted = [(k, n) for k, n in counts if n]
    return {
        "category": category,
        "proposal": proposal,
        "report": report,
        "evidence": evidence,
        "score": sum(WEIGHTS[k] * n for k, n in counted),
        "basis": " + ".join(f"{WEIGHTS[k]} × {n} {k.replace('_', ' ')}" for k, n in counted)
        or "nothing counted",
    }


def ranked(items: Iterable[dict]) -> pl.DataFrame:
    """The backlog, highest score first (ties: category order, then the proposal), ranked 1…n.
    Items whose evidence counts nothing are left out."""
    kept = sorted(
        (i for i in items if i["score"] > 0),
        key=lambda i: (-i["score"], CATEGORY_ORDER.index(i["category"]), i["proposal"]),
    )
    return pl.DataFrame([{"rank": n, **i} for n, i in enumerate(kept, 1)], schema=BACKLOG_SCHEMA)


def month_coverage(months: list[date], measured_days: set[str], due: date) -> list[dict]:
    """For each month of the period: whether its data is complete — the month has ended by the
    last day with data (`due`), and the daily platform checks were evaluated on each of its days
    (`measured_days`, day keys) — and, when not, why in words."""
    out = []
    for first in months:
        last = _month_last(first)
        days = [
            date.fromordinal(d).isoformat() for d in range(first.toordinal(), last.toordinal() + 1)
        ]
        measured = sum(d in measured_days for d in days)
        if due < last:
            why = f"not over: data through {due:%-d %B}" if due >= first else "not started"
        elif measured < len(days):
            why = f"platform measured on {measured} of {len(days)} days"
        else:
            why = ""
        out.append({"month": first, "complete": not why, "why": why})
    return out


def _month_last(first: date) -> date:
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)
