"""What a reader needs to know about the data quality checks behind a report: how many ran, how
many did not pass, and those first. The same counts and sentence in the summary, on the PDF's
cover and quality page, and on the deck's appendix slide; the workbook lists every check."""

from __future__ import annotations

from dataclasses import dataclass

from reporting_assets.reports.model import CheckRow


@dataclass(frozen=True)
class QualityCount:
    total: int
    passed: int
    warned: int
    failed: int
    exceptions: list[CheckRow]  # the checks that did not pass: failures first, then warnings

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and not self.exceptions


def is_warning(severity: str) -> bool:
    return severity.upper().startswith("WARN")


def count_checks(checks: list[CheckRow]) -> QualityCount:
    failed = [c for c in checks if not c.passed and not is_warning(c.severity)]
    warned = [c for c in checks if not c.passed and is_warning(c.severity)]
    return QualityCount(len(checks), len(checks) - len(failed) - len(warned), len(warned),
                        len(failed), [*failed, *warned])  # fmt: skip


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def quality_sentence(q: QualityCount, where: str | None = "Data quality") -> str:
    """One sentence: all passed, or how many did not and where they are listed (`where`, None
    when the sentence heads that list itself)."""
    if q.total == 0:
        return "No data quality checks were recorded for this period."
    if not q.exceptions:
        return f"All {q.total} data quality checks passed."
    parts = []
    if q.failed:
        parts.append(f"{q.failed} failed")
    if q.warned:
        parts.append(_count(q.warned, "raised a warning", "raised warnings"))
    see = f" (see {where})" if where else ""
    return f"{q.passed} of {q.total} data quality checks passed; {' and '.join(parts)}{see}."


def check_words(check: CheckRow) -> str:
    """A check's name in words: "consistent with history"."""
    return check.check.replace("_", " ")
