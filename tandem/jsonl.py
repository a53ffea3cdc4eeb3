"""Reading JSONL input for the offline tools: one JSON object a line, errors that name the line."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tandem.cli import CliError

M = TypeVar("M", bound=BaseModel)


def json_object(text: str, where: str) -> dict[str, Any]:
    """The line's JSON object, or a CliError starting with `where` (e.g. "line 7")."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise CliError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data


def validated(model: type[M], data: dict[str, Any], where: str) -> M:
    """`model` from `data`, or a CliError naming the first bad field (and how many more there are)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        field = ".".join(str(part) for part in errors[0]["loc"]) or "line"
        message = str(errors[0]["msg"]).removeprefix("Value error, ")
        on_line = " on this line" if where.split()[-2:-1] == ["line"] else ""  # a JSONL line, or a whole file
        more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''}{on_line})" if len(errors) > 1 else ""
        raise CliError(f"{where}: {field}: {message}{more}") from None
