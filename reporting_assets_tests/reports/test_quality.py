"""The quality summary every format shares: counts, the sentence, failures before warnings."""

from reporting_assets.reports.model import CheckRow
from reporting_assets.reports.quality import count_checks, quality_sentence


def _row(name: str, passed: bool, severity: str = "ERROR") -> CheckRow:
    return CheckRow("revenue_protection_daily", name, passed, severity, f"{name} details")


def test_all_passed():
    q = count_checks([_row("a", True), _row("b", True, "WARN")])
    assert (q.total, q.passed, q.warned, q.failed, q.all_passed) == (2, 2, 0, 0, True)
    assert quality_sentence(q) == "All 2 data quality checks passed."


def test_failures_come_before_warnings_and_the_sentence_counts_both():
    checks = [_row("w1", False, "WARN"), _row("ok", True), _row("f1", False), _row("w2", False,
              "WARN")]  # fmt: skip
    q = count_checks(checks)
    assert [c.check for c in q.exceptions] == ["f1", "w1", "w2"]
    assert quality_sentence(q) == (
        "1 of 4 data quality checks passed; 1 failed and 2 raised warnings (see Data quality)."
    )
    assert quality_sentence(count_checks(checks[:2]), where=None) == (
        "1 of 2 data quality checks passed; 1 raised a warning."
    )


def test_no_checks_is_said_plainly():
    assert quality_sentence(count_checks([])) == (
        "No data quality checks were recorded for this period."
    )
