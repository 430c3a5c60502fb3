"""Prompts and replies of any LLM stage: a prompt file with its version, the request's
`response_format` for a reply model, and the reply validated with that model (structured output or
not). The prompts and reply models themselves belong to their stage (extraction's:
extract/llm_replies.py and extract/prompts/)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

_VERSION_LINE = re.compile(r"^<!--\s*version:\s*(\S+)\s*-->\s*\n")


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str  # recorded on every task (`prompt_version`); change it when the text changes
    text: str


@functools.cache
def load_prompt(folder: Path, name: str) -> Prompt:
    """`<folder>/<name>.md`, whose first line names its version: `<!-- version: ... -->`."""
    raw = (folder / f"{name}.md").read_text(encoding="utf-8")
    match = _VERSION_LINE.match(raw)
    if not match:
        raise ValueError(f"prompt {name}.md must start with a `<!-- version: ... -->` line")
    return Prompt(name, match.group(1), raw[match.end():].strip())


def response_format(kind: str, reply_model: type[BaseModel]) -> dict[str, Any] | None:
    """The request's `response_format` for the recipe's switch."""
    if kind == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": reply_model.__name__, "schema": reply_model.model_json_schema(), "strict": False}}
    if kind == "json_object":
        return {"type": "json_object"}
    return None


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.DOTALL)


def parse_reply(content: str | None, reply_model: type[BaseModel]) -> BaseModel:
    """The reply validated; raises ValueError with a message fit to send back for a repair."""
    if not content or not content.strip():
        raise ValueError("the reply was empty")
    fenced = _FENCE.match(content)  # servers without JSON mode often wrap the object in a fence
    text = fenced.group(1) if fenced else content
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the reply is not valid JSON ({exc})") from None
    try:
        return reply_model.model_validate(data)
    except Exception as exc:  # pydantic.ValidationError, with every field error listed
        raise ValueError(f"the JSON does not match the expected shape: {exc}") from None
