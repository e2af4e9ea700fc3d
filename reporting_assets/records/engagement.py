"""How the reports are used, from the web app's records, for the monthly performance review:
who reads what and for how long, which sections are opened and rated (and which nobody opens),
what readers say, and how soon a delivered report is opened and acknowledged, per channel.

Plain functions over the app database; each returns a small Polars table the review renders.
Times are UTC `[since, until)` windows."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime, timedelta

import polars as pl
import sqlalchemy as sa

from reporting_assets.lib.formatting import display_name
from reporting_assets.records.acks import acknowledgements
from reporting_assets.records.delivery_rows import FAILED_PERMANENT, SENT, deliveries
from reporting_assets.records.usage import feedback, usage_events
from reporting_assets.resources.app_db import as_utc, check_results

COBWEB_DAYS = 90


def _events(engine: sa.Engine, since: datetime, until: datetime) -> list[dict]:
    query = sa.select(usage_events).where(
        usage_events.c.at >= as_utc(since), usage_events.c.at < as_utc(until)
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def reading_by_person(engine: sa.Engine, since: datetime, until: datetime) -> pl.DataFrame:
    """Per reader and report: views, downloads, minutes on the report and distinct sections
    opened in the window, most minutes first."""
    rows: dict[tuple[str, str], dict] = {}
    for e in _events(engine, since, until):
        if not e["report"]:
            continue
        row = rows.setdefault((e["reader"], e["report"]), {
            "reader": e["reader"], "report": e["report"], "views": 0, "downloads": 0,
            "minutes": 0.0, "sections": set()})  # fmt: skip
        if e["kind"] == "view":
            row["views"] += 1
        elif e["kind"] == "download":
            row["downloads"] += 1
        elif e["kind"] == "time_on_report":
            row["minutes"] += (e["seconds"] or 0) / 60
        elif e["kind"] == "section_open" and e["section"]:
            row["sections"].add(e["section"])
    out = [{**r, "sections": len(r["sections"])} for r in rows.values()]
    schema = {"reader": pl.String, "report": pl.String, "views": pl.Int64,
              "downloads": pl.Int64, "minutes": pl.Float64, "sections": pl.Int64}  # fmt: skip
    return pl.DataFrame(out, schema=schema).sort(["minutes", "reader"], descending=[True, False])


def section_relevance(
    engine: sa.Engine,
    sections: dict[str, Iterable[str]],
    since: datetime,
    until: datetime,
) -> pl.DataFrame:
    """Every section of every report (`sections`: report → its section keys), with how often it
    was opened, by how many readers, its mean rating and the share who found it useful in the
    window; ranked by opens, then rating (the least used last)."""
    opened: dict[tuple[str, str], list[str]] = {}
    for e in _events(engine, since, until):
        if e["kind"] == "section_open" and e["report"] and e["section"]:
            opened.setdefault((e["report"], e["section"]), []).append(e["reader"])
    with engine.connect() as conn:
        said = conn.execute(sa.select(feedback).where(
            feedback.c.created_at >= as_utc(since), feedback.c.created_at < as_utc(until),
            feedback.c.section.is_not(None))).mappings().all()  # fmt: skip
    ratings: dict[tuple[str, str], list[int]] = {}
    useful: dict[tuple[str, str], list[bool]] = {}
    for f in said:
        key = (f["report"], f["section"])
        if f["rating"] is not None:
            ratings.setdefault(key, []).append(f["rating"])
        if f["useful"] is not None:
            useful.setdefault(key, []).append(bool(f["useful"]))
    out = []
    for report, keys in sections.items():
        for section in keys:
            key = (report, section)
            readers = opened.get(key, [])
            out.append({
                "report": report, "section": section, "opens": len(readers),
                "readers": len(set(readers)),
                "mean_rating": statistics.fmean(ratings[key]) if key in ratings else None,
                "useful_share": sum(useful[key]) / len(useful[key]) if key in useful else None,
            })  # fmt: skip
    schema = {"report": pl.String, "section": pl.String, "opens": pl.Int64, "readers": pl.Int64,
              "mean_rating": pl.Float64, "useful_share": pl.Float64}  # fmt: skip
    return pl.DataFrame(out, schema=schema).sort(
        ["opens", "mean_rating", "report", "section"],
        descending=[True, True, False, False],
        nulls_last=True,
    )


def cobwebs(
    engine: sa.Engine, sections: dict[str, Iterable[str]], as_of: datetime,
    days: int = COBWEB_DAYS,
) -> pl.DataFrame:  # fmt: skip
    """The sections nobody opened in the `days` before `as_of`: candidates to drop or merge."""
    used = section_relevance(engine, sections, as_of - timedelta(days=days), as_of)
    return used.filter(pl.col("opens") == 0).select("report", "section")


def feedback_summary(engine: sa.Engine, since: datetime, until: datetime) -> pl.DataFrame:
    """Per report: how many gave feedback, how many rated it and the mean rating, the share who
    found it useful, and the comments (newest first) in the window."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(feedback).where(
            feedback.c.created_at >= as_utc(since), feedback.c.created_at < as_utc(until))
            .order_by(feedback.c.created_at.desc())).mappings().all()  # fmt: skip
    by_report: dict[str, list] = {}
    for r in rows:
        by_report.setdefault(r["report"], []).append(r)
    out = []
    for report, items in sorted(by_report.items()):
        rated = [i["rating"] for i in items if i["rating"] is not None]
        judged = [bool(i["useful"]) for i in items if i["useful"] is not None]
        out.append({
            "report": report, "responses": len(items), "readers": len({i["reader"] for i in items}),
            "ratings": len(rated), "mean_rating": statistics.fmean(rated) if rated else None,
            "useful_share": sum(judged) / len(judged) if judged else None,
            "comments": [i["comment"] for i in items if i["comment"]],
        })  # fmt: skip
    schema = {"report": pl.String, "responses": pl.Int64, "readers": pl.Int64,
              "ratings": pl.Int64, "mean_rating": pl.Float64, "useful_share": pl.Float64,
              "comments": pl.List(pl.String)}  # fmt: skip
    return pl.DataFrame(out, schema=schema)


def delivery_effectiveness(engine: sa.Engine, first: str, last: str) -> pl.DataFrame:
    """Per channel, for the deliveries of report periods `first` to `last` (period keys, e.g.
    the month's days): how many, and the median hours from each delivery to the first view in
    the web app and to the first acknowledgement (by the addressed reader for email; by anyone
    for a shared channel), with how many were never opened."""
    with engine.connect() as conn:
        sent = conn.execute(
            sa.select(deliveries.c.report, deliveries.c.period, deliveries.c.channel,
                      deliveries.c.target, sa.func.min(deliveries.c.sent_at).label("sent_at"))
            .where(deliveries.c.status == SENT, deliveries.c.period >= first,
                   deliveries.c.period <= last, ~deliveries.c.report.startswith("notice:"))
            .group_by(deliveries.c.report, deliveries.c.period, deliveries.c.channel,
                      deliveries.c.target)).mappings().all()  # fmt: skip
        views = conn.execute(
            sa.select(usage_events.c.reader, usage_events.c.report, usage_events.c.period,
                      usage_events.c.at).where(usage_events.c.kind == "view")
        ).mappings().all()  # fmt: skip
        acked = conn.execute(
            sa.select(acknowledgements.c.acknowledged_by, acknowledgements.c.key,
                      acknowledgements.c.period, acknowledgements.c.acknowledged_at)
            .where(acknowledgements.c.subject == "report")).mappings().all()  # fmt: skip
    viewed: dict[tuple[str, str, str], list[datetime]] = {}
    for v in views:
        viewed.setdefault((v["reader"], v["report"], v["period"]), []).append(as_utc(v["at"]))
    acks_of: dict[tuple[str, str, str], list[datetime]] = {}
    for a in acked:
        acks_of.setdefault((a["acknowledged_by"], a["key"], a["period"]), []).append(
            as_utc(a["acknowledged_at"])
        )

    def earliest(found: dict, target: str, report: str, period: str, email: bool, after):
        """The first time at or after `after`: the addressed reader's for an email, anyone's
        for a shared channel."""
        times = (
            found.get((target.lower(), report, period), [])
            if email
            else [t for (_, r, p), ts in found.items() if r == report and p == period for t in ts]
        )
        later = [t for t in times if t >= after]
        return min(later) if later else None

    per_channel: dict[str, dict[str, list]] = {}
    for d in sent:
        at = as_utc(d["sent_at"])
        if at is None:
            continue
        email = d["channel"] == "email"
        figures = per_channel.setdefault(d["channel"], {"open": [], "ack": [], "n": [],
                                                         "unopened": []})  # fmt: skip
        figures["n"].append(1)
        opened = earliest(viewed, d["target"], d["report"], d["period"], email, at)
        acknowledged = earliest(acks_of, d["target"], d["report"], d["period"], email, at)
        if opened is not None:
            figures["open"].append((opened - at).total_seconds() / 3600)
        else:
            figures["unopened"].append(1)
        if acknowledged is not None:
            figures["ack"].append((acknowledged - at).total_seconds() / 3600)
    out = [{"channel": channel, "deliveries": len(f["n"]), "unopened": len(f["unopened"]),
            "median_hours_to_open": statistics.median(f["open"]) if f["open"] else None,
            "median_hours_to_ack": statistics.median(f["ack"]) if f["ack"] else None}
           for channel, f in sorted(per_channel.items())]  # fmt: skip
    schema = {"channel": pl.String, "deliveries": pl.Int64, "unopened": pl.Int64,
              "median_hours_to_open": pl.Float64, "median_hours_to_ack": pl.Float64}  # fmt: skip
    return pl.DataFrame(out, schema=schema)


def delivery_success(engine: sa.Engine, first: str, last: str) -> float | None:
    """Delivered of the decided report deliveries (delivered, or refused for good) of report
    periods `first` to `last`; None when none was decided. Notices are not reports."""
    with engine.connect() as conn:
        counts = dict(conn.execute(
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.status.in_([SENT, FAILED_PERMANENT]),
                   deliveries.c.period >= first, deliveries.c.period <= last,
                   ~deliveries.c.report.startswith("notice:"))
            .group_by(deliveries.c.status)).all())  # fmt: skip
    sent, failed = counts.get(SENT, 0), counts.get(FAILED_PERMANENT, 0)
    return sent / (sent + failed) if sent + failed else None


def service_level_month(
    engine: sa.Engine, assets: Iterable[str], days: Iterable[str]
) -> list[dict]:
    """Each service-level check of `assets` over the month's `days` (partition keys): met when
    every day it was evaluated passed. {"measure", "target", "actual", "met", "why"}: why is the
    check's own words on the last day it was missed."""
    assets, days = list(assets), list(days)
    if not assets or not days:
        return []
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(check_results).where(check_results.c.asset.in_(assets),
                                           check_results.c.partition_key.in_(days))
            .order_by(check_results.c.evaluated_at)).mappings().all()  # fmt: skip
    latest: dict[tuple[str, str, str], dict] = {}
    for r in rows:  # a day evaluated twice counts as its last evaluation
        latest[(r["asset"], r["check_name"], r["partition_key"])] = r
    out: dict[tuple[str, str], dict] = {}
    for (asset, check, _), r in sorted(latest.items()):
        entry = out.setdefault((asset, check), {"evaluated": 0, "missed": 0, "last": r})
        entry["evaluated"] += 1
        entry["missed"] += 0 if r["passed"] else 1
        entry["last"] = r
        if not r["passed"]:
            entry["last_missed"] = r
    return [{"measure": display_name(asset.removeprefix("slo_")),
             "target": "met every day",
             "actual": f"met on {e['evaluated'] - e['missed']} of {e['evaluated']} days",
             "met": e["missed"] == 0,
             "why": "" if e["missed"] == 0 else e["last_missed"]["description"]}
            for (asset, check), e in out.items()]  # fmt: skip
