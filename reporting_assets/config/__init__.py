"""Loading the business configuration (YAML) into validated settings, with clear errors."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from reporting_assets.config.models import Settings

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")
CONFIG_ENV = "REPORTING_CONFIG"
HOME_ENV = "REPORTING_HOME"


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid; the message says where and why."""


def _key_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def config_path() -> Path:
    """The config file this deployment reads (REPORTING_CONFIG, else the bundled demo config)."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read and validate a config file; one ConfigError names the file, key path and problem."""
    file = Path(path) if path else config_path()
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{file}: file not found") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{file}: {where}invalid YAML: {problem}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: (top level): expected a mapping of sections, got {raw!r}")
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check its spelling)"
            problems.append(f"{file}: {_key_path(err['loc'])}: {msg}")
        raise ConfigError("\n".join(problems)) from None


@lru_cache(maxsize=8)
def _cached(path: str) -> Settings:
    return load_settings(path)


def settings_at(path: str | os.PathLike) -> Settings:
    """The settings in a config file, read once per process and file."""
    return _cached(str(path))


def get_settings() -> Settings:
    """The settings of this deployment (REPORTING_CONFIG, else the bundled demo config), cached:
    what the definitions are built from at load time. Assets and sensors read them through the
    `settings` resource; the CLI reads them once per command."""
    return settings_at(config_path())


def home() -> Path:
    """The directory relative config paths are resolved against (REPORTING_HOME, else the cwd)."""
    return Path(os.environ.get(HOME_ENV) or Path.cwd())


def resolve(path: str | os.PathLike) -> Path:
    """An absolute path for a config path: absolute paths stay, relative ones go under home()."""
    p = Path(path)
    return p if p.is_absolute() else home() / p


__all__ = [
    "ConfigError",
    "Settings",
    "config_path",
    "get_settings",
    "home",
    "load_settings",
    "resolve",
    "settings_at",
]
