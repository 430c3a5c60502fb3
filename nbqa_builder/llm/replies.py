"""What a request to the endpoint ends in: the fields kept of its reply, or an error saying why
there is none. The client (llm/client.py) and the Batch API runner (llm/batch.py) both use these;
this module imports neither, so they do not import each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class LLMRequestFailed(Exception):
    """A request that will not succeed; `reason` is the notebook's drop reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class LLMRunMustStop(Exception):
    """Nothing more can be sent (quota, key, budget); the step turns this into StopRun."""


class NeedsReply(Exception):
    """A batched stage's request that has no reply yet: `run_in_rounds` gathers them, has them
    answered by a batch, and runs the work again."""

    def __init__(self, key: str, stage: str, model: str, payload: dict[str, Any]) -> None:
        super().__init__(f"{stage}: request {key[:12]} waits for a batch")
        self.key, self.stage, self.model, self.payload = key, stage, model, payload


@dataclass
class Completion:
    content: str | None
    refusal: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool  # served from the cache: nothing was sent, nothing spent (in this process)
    cost: float
    batch: bool = False  # answered through the Batch API (and costed at its price)


def reply_fields(response: Any) -> dict[str, Any]:
    """What is kept of a completion: the first choice's text or refusal, and the usage."""
    choices = getattr(response, "choices", None) or []
    if not choices:
        raise LLMRequestFailed("llm_bad_response", "the reply has no choices")
    message = choices[0].message
    usage = getattr(response, "usage", None)
    return {
        "content": getattr(message, "content", None),
        "refusal": getattr(message, "refusal", None),
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
    }


def reply_fields_from_json(body: Any) -> dict[str, Any]:
    """`reply_fields` of a completion as JSON (a line of a batch's output file)."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise LLMRequestFailed("llm_bad_response", "the reply has no choices")
    message = choices[0].get("message") or {}
    usage = body.get("usage") or {}
    try:
        return {"content": message.get("content"), "refusal": message.get("refusal"),
                "prompt_tokens": int(usage.get("prompt_tokens") or 0),
                "completion_tokens": int(usage.get("completion_tokens") or 0)}
    except (AttributeError, TypeError, ValueError):
        raise LLMRequestFailed("llm_bad_response", f"a reply of an unexpected shape: {json.dumps(body)[:200]}") from None
