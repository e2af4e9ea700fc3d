"""Resources, built from the business configuration and environment variables."""

from __future__ import annotations

import os

import dagster as dg

from reporting_assets.config import Settings
from reporting_assets.resources.app_db import AppDatabase
from reporting_assets.resources.artifacts import ArtifactStoreResource
from reporting_assets.resources.settings import SettingsResource
from reporting_assets.resources.sources import PostHogEventsResource, WarehouseResource
from reporting_assets.resources.storage import AssetHistory, PartitionedParquetIOManager


def _optional_env(name: str | None) -> dg.EnvVar | None:
    """An EnvVar when the variable is set, so a missing secret never breaks loading the code."""
    return dg.EnvVar(name) if name and os.environ.get(name) else None


def build_resources(settings: Settings) -> dict[str, object]:
    """The resources of this deployment, secrets from the environment only."""
    ph = settings.sources.posthog
    wh = settings.sources.warehouse
    export_path = ph.export_path
    if ph.backend == "demo":
        export_path = f"{settings.demo.output_dir}/posthog/events"
    assets_root = f"{settings.storage.data_root}/assets"
    return {
        "io_manager": PartitionedParquetIOManager(root=assets_root),
        "asset_history": AssetHistory(root=assets_root),
        "posthog": PostHogEventsResource(
            backend=ph.backend,
            export_path=export_path,
            host=ph.host,
            project_id=ph.project_id,
            api_key=_optional_env(ph.api_key_env),
            page_size=ph.page_size,
            pushdown=ph.pushdown,
        ),
        "warehouse": WarehouseResource(
            backend=wh.backend,
            duckdb_path=wh.duckdb_path,
            postgres_url=_optional_env(wh.postgres_url_env),
        ),
        "artifacts": ArtifactStoreResource(
            root=settings.storage.artifact_root, report_base_url=settings.web.base_url
        ),
        "app_db": AppDatabase(
            url=settings.storage.app_database_url
            or _optional_env(settings.storage.app_database_url_env),
            sqlite_path=f"{settings.storage.data_root}/app.db",
        ),
        "business": SettingsResource(),
    }


__all__ = [
    "AppDatabase",
    "AssetHistory",
    "PartitionedParquetIOManager",
    "PostHogEventsResource",
    "SettingsResource",
    "WarehouseResource",
    "build_resources",
]
