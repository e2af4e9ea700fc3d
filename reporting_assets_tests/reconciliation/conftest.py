"""The reconciliation window, materialized once per session for every module of this folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from reporting_assets_tests.reconciliation import window


@pytest.fixture(scope="session")
def pipeline(demo_company, tmp_path_factory) -> dict:
    """A private REPORTING_HOME over the shared demo company, with `window`'s days and reports
    run through Dagster (its own "today"; the environment is restored afterwards); what stopped
    each run is kept."""
    home = tmp_path_factory.mktemp("reconciliation")
    return window.materialize(home, Path(demo_company["path"]))
