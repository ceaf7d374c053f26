"""Reading the YAML files users write (sources.yaml, build specs, policies) into pydantic models.

Every problem becomes one :class:`ConfigError` line naming the file, the line or the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from corpus_registry.errors import ConfigError
from corpus_registry.terminal import one_line

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path, *, what: str) -> Any:
    """Parse a YAML file; ``what`` names it in errors ("build spec", "policy file"...)."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: {what} not found", file=str(path)) from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what} ({e.strerror})", file=str(path)) from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: the {what} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})",
                          file=str(path), hint="save the file as UTF-8") from e
    except RecursionError as e:
        raise ConfigError(f"{path}: the {what} is nested too deeply", file=str(path)) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}{where}: malformed YAML: {problem}", file=str(path),
                          hint="fix the YAML syntax at that line") from e


def field_path(loc: tuple[int | str, ...], data: Any) -> str:
    """A pydantic error location as a dotted path; list items named by their ``slug`` when they have one."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            slug = node[item].get("slug") if isinstance(node, list) and isinstance(node[item], dict) else None
            label = f"[{slug or item}]"
            if parts:
                parts[-1] += label
            else:
                parts.append(label)
        elif item == "[key]" and parts:  # pydantic's marker for a mapping's key
            parts[-1] += " (the key)"
            continue
        else:
            parts.append(str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts) or "(top level)"


def validate(model: type[M], data: Any, *, origin: str, expected: str) -> M:
    """Validate ``data`` as ``model``; ``expected`` describes the mapping for a non-mapping input."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected {expected}", file=origin)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = field_path(tuple(err["loc"]), data)
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(one_line(f"{origin}: {field}: {msg}{more}"), file=origin, field=field) from e


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """An integer setting from the environment (``default`` when unset or empty); anything else
    than a whole number ≥ ``minimum`` is a ConfigError naming the variable, before any work."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise ConfigError(f"environment variable {name}={shown!r} is not a whole number ≥ {minimum}",
                          field=name, hint=f"unset {name} or set it to a number such as {default or 1}")
    return value
