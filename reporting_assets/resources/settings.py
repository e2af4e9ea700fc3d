"""The business settings as a Dagster resource: what assets and sensors read the config through."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from reporting_assets.config import Settings, config_path, settings_at


class SettingsResource(dg.ConfigurableResource):
    """The business configuration (metrics, thresholds, reports, lists) of this deployment.

    Read once when a run or sensor tick starts, from `config_file` (unset: REPORTING_CONFIG, else
    the bundled demo config), through the same cache the definitions were built from: the
    severities that decided which checks block and the thresholds the run applies are one read
    of one file."""

    config_file: str | None = None
    _settings: Settings | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._settings = settings_at(self.config_file or config_path())

    def get(self) -> Settings:
        """The settings this run started with."""
        if self._settings is None:  # used outside a run (a plain function call in a test)
            self._settings = settings_at(self.config_file or config_path())
        return self._settings
