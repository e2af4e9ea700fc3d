"""Dagster resources for the data sources: PostHog events and the warehouse views.

Each wraps a plain client chosen by config: PostHog through the Query API, batch-export files or
the demo company; the warehouse on the embedded DuckDB file or PostgreSQL. Secrets (API keys,
database URLs) come from environment variables through `dg.EnvVar`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from reporting_assets.config import resolve
from reporting_assets.lib.engine import EngineLimits
from reporting_assets.lib.event_files import StagedDay, stage_export, stage_pages
from reporting_assets.lib.events import read_batch_export
from reporting_assets.lib.warehouse import Warehouse
from reporting_assets.resources.posthog_api import PostHogAuthError, PostHogQueryClient


class PostHogEventsResource(dg.ConfigurableResource):
    """Raw PostHog events for a time window, from the configured back-end."""

    backend: Literal["demo", "batch_export", "query_api"] = "demo"
    export_path: str = "var/demo/posthog/events"
    host: str = "https://us.posthog.com"
    project_id: str | None = None
    api_key: str | None = Field(default=None, description="Personal API key (from POSTHOG_API_KEY)")
    page_size: int = 50_000
    pushdown: bool = Field(
        default=True,
        description="query_api only: PostHog computes the metrics' event aggregates (HogQL)",
    )

    def aggregates_in_posthog(self) -> bool:
        """Whether the metrics' event aggregates are computed by PostHog (only they travel)
        rather than from the stored day's events."""
        return self.backend == "query_api" and self.pushdown

    def query_client(self) -> PostHogQueryClient:
        """A Query API client for this project (query_api back-end)."""
        if not self.api_key:
            raise PostHogAuthError(
                "PostHog API key is not set: export POSTHOG_API_KEY with a personal API key "
                "that has the query:read scope"
            )
        return PostHogQueryClient(
            self.host, self.project_id or "", self.api_key, page_size=self.page_size
        )

    def events_between(
        self, start_utc: datetime, end_utc: datetime, problems: list[str] | None = None
    ) -> pl.DataFrame:
        """Events with start_utc <= timestamp < end_utc, in memory (a small window): uuid,
        event, distinct_id, timestamp, properties (raw JSON). Problems found in export files are
        appended to `problems`."""
        if self.backend == "query_api":
            return self.query_client().fetch_events(start_utc, end_utc)
        return read_batch_export(str(resolve(self.export_path)), start_utc, end_utc, problems)

    def stage_day(
        self, start_utc: datetime, end_utc: datetime, dest: Path, limits: EngineLimits
    ) -> StagedDay:
        """The events with start_utc <= timestamp < end_utc, typed, written to `dest` without
        the day ever in memory (export files streamed by DuckDB; API pages spooled one by
        one), with the problems found reading them."""
        if self.backend == "query_api":
            pages = self.query_client().event_pages(start_utc, end_utc)
            return stage_pages(pages, start_utc, end_utc, dest, limits)
        return stage_export(str(resolve(self.export_path)), start_utc, end_utc, dest, limits)


class WarehouseResource(dg.ConfigurableResource):
    """Read-only access to the warehouse views (cost, incidents, tickets, deploys, …)."""

    backend: Literal["duckdb", "postgres"] = "duckdb"
    duckdb_path: str = "var/demo/warehouse.duckdb"
    postgres_url: str | None = Field(default=None, description="From WAREHOUSE_POSTGRES_URL")
    postgres_schema: str = "public"

    def client(self) -> Warehouse:
        return Warehouse(
            self.backend,
            duckdb_path=resolve(self.duckdb_path),
            postgres_url=self.postgres_url,
            postgres_schema=self.postgres_schema,
        )
