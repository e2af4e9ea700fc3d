"""The demo's generated use of the web app: written once, the way the web app writes it, and
telling the story the performance review is built to find (popular sections first, a few never
opened)."""

from datetime import date, datetime, timedelta

from reporting_assets.cli.demo_usage import generate_usage
from reporting_assets.records.engagement import cobwebs, section_relevance
from reporting_assets.records.usage import usage_rows
from reporting_assets.reports.performance import report_sections
from reporting_assets.resources.app_db import AppDatabase

TODAY = date(2026, 11, 30)


def test_generated_once_and_what_the_review_finds_in_it(tmp_path, config_with):
    settings = config_with(lambda c: None)
    engine = AppDatabase(sqlite_path=str(tmp_path / "app.db")).engine
    used = generate_usage(settings, engine, TODAY, seed=7)
    rows = usage_rows(engine)
    assert used.written and used.views == sum(1 for r in rows if r["kind"] == "view") > 50
    assert used.sections == sum(1 for r in rows if r["kind"] == "section_open")
    assert generate_usage(settings, engine, TODAY, seed=7).written is False  # once
    assert len(usage_rows(engine)) == len(rows)
    first = min(r["at"] for r in rows).date()
    assert TODAY - timedelta(days=90) <= first and max(r["at"] for r in rows).date() < TODAY
    until = datetime(2026, 11, 30, 5)  # midnight in New York
    ranked = section_relevance(engine, report_sections(settings), until - timedelta(days=90),
                               until).to_dicts()  # fmt: skip
    assert ranked[0]["opens"] > ranked[len(ranked) // 2]["opens"] > 0
    unused = {(r["report"], r["section"]) for r in cobwebs(engine, report_sections(settings),
                                                           until).to_dicts()}  # fmt: skip
    assert ("weekly_business_review", "roi") in unused and all(s in ("roi", "quality")
                                                                for _, s in unused)  # fmt: skip
