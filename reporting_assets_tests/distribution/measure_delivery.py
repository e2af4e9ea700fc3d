"""Deliver the daily report of a `big_list` home once, in this process, and print what it took
as JSON: the delivery step's peak memory (resident set), the seconds to the first message
accepted and to the end, and the delivery's counts.

    python -m reporting_assets_tests.distribution.measure_delivery   # REPORTING_HOME, _CONFIG set
"""

from __future__ import annotations

import json
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from reporting_assets.config import get_settings, resolve
from reporting_assets.distribution.assets import deliver_by_email
from reporting_assets.records.ledger import DeliveryLedger, deliveries
from reporting_assets.resources import build_resources
from reporting_assets.resources.artifacts import ArtifactStore
from reporting_assets_tests.distribution.big_list import DAY, REPORT


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    settings = get_settings()
    ledger = DeliveryLedger(build_resources(settings)["app_db"].engine)
    version = ArtifactStore(resolve(settings.storage.artifact_root)).latest(REPORT, DAY)
    # Reset the peak to what is resident now (Linux: clear_refs 5), so the peak below is the
    # delivery step's own, not the imports'.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kb("VmRSS")
    wall, t0 = datetime.now(UTC), time.perf_counter()
    counts = deliver_by_email(REPORT, DAY, version, settings, ledger,
                              link_base="https://reports.northwind.example/r")  # fmt: skip
    total = time.perf_counter() - t0
    with ledger.engine.connect() as conn:
        first = conn.execute(sa.select(sa.func.min(deliveries.c.sent_at))).scalar()
    if first is not None and first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    print(json.dumps({
        "rss_before_kb": before, "peak_kb": _status_kb("VmHWM"),
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "first_message_s": (first - wall).total_seconds() if first else None,
        "total_s": total, **counts,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
