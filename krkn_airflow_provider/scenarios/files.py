"""Reading Krkn scenario files (YAML), with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from krkn_airflow_provider.errors import ConfigError


def parse_scenario_text(text: str, *, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from None


def read_scenario_file(path: str | Path) -> Any:
    """Parse one scenario file; ``ConfigError`` names it when it is missing or not YAML."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the scenario file: {error.strerror or error}") from None
    return parse_scenario_text(text, source=str(path))
