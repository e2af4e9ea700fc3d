"""What every config section shares: unknown keys refused, no secrets in the file, and the
formats of names, colours and addresses."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, model_validator

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey")


class Strict(BaseModel):
    """Base for config sections: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in data:
                lowered = str(key).lower()
                if any(w in lowered for w in SECRET_WORDS) and not lowered.endswith("_env"):
                    raise ValueError(
                        f"'{key}' looks like a secret; secrets come only from environment "
                        f"variables: set '{key}_env' to the variable's name instead"
                    )
        return data


def _bound(x: float | None) -> str:
    return "unbounded" if x is None else f"{x:g}"


def _check_env_name(value: str | None) -> str | None:
    if value is not None and not ENV_NAME.match(value):
        raise ValueError(f"'{value}' is not an environment variable name (A-Z, 0-9, _)")
    return value
