"""JSON output: extraction from model text, schema validation, and the retry rule.

Backends decode under the schema where they can (vLLM's structured outputs); the result
is still parsed and validated here. A reply that fails is retried once with the error
shown to the model; a second failure raises :class:`~agentmem.errors.LLMError` carrying
the raw text, which callers record as "no result for this item".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import LLMError

__all__ = ["parse_json", "repair_messages", "validate_schema"]

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def validate_schema(schema: Mapping[str, Any]) -> None:
    """Raise :class:`LLMError` if ``schema`` is not a valid JSON Schema."""
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise LLMError(f"json_schema: not a valid JSON Schema: {exc.message}") from None


def parse_json(text: str, schema: Mapping[str, Any] | None) -> Any:
    """The JSON value in ``text`` (a bare value, or the first fenced block, or the first
    ``{...}``/``[...]`` span), validated against ``schema``. Raises :class:`LLMError`
    with ``raw=text`` when there is none or it does not validate."""
    value = _extract(text)
    if schema is not None:
        import jsonschema

        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise LLMError(f"JSON does not match the schema at {where}: {exc.message}",
                           raw=text) from None
    return value


def _extract(text: str) -> Any:
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    error = "no JSON value found"
    for c in candidates:
        if not c:
            continue
        try:
            return json.loads(c)
        except json.JSONDecodeError as exc:
            error = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    # a whole value followed by more text (a small model that goes on after its JSON):
    # the first value, when it is an object or array
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start >= 0:
        try:
            return json.JSONDecoder().raw_decode(text, start)[0]
        except json.JSONDecodeError:
            pass
    raise LLMError(f"model output is {error}", raw=text)


def repair_messages(messages: list[dict[str, str]], raw: str, error: str,
                    schema: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The conversation for the one retry: the model's reply and what was wrong."""
    wanted = f" matching this JSON Schema: {json.dumps(schema)}" if schema else ""
    return [*messages, {"role": "assistant", "content": raw},
            {"role": "user", "content": f"That reply was not usable: {error}. Reply again "
                                        f"with only a JSON value{wanted}."}]
