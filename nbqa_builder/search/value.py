"""Value functions: an estimate in [-1, 1] of how likely a partial notebook leads to a right answer.

- `none`: 0 for every state (JUPITER's collection runs, which learn values from rewards instead);
- `http://...`: a scorer served over HTTP: POST `{"conversations": [[{"role", "content"}...]...]}`,
  answered `{"scores": [float, ...]}`;
- `model:PATH`: a value head trained by `train-value` (nbqa_builder.training), loaded locally.

A conversation is the node's messages from the system turn on, in the turn format of `export sft`
(search/conversation.py). A scorer that fails gives the neutral 0 for that batch, counted, as JUPITER does.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Protocol

Conversation = list[dict[str, str]]


class ValueFunction(Protocol):
    def score(self, conversations: list[Conversation]) -> list[float]: ...


class ZeroValue:
    """No value model: every state is worth 0."""

    failures = 0

    def score(self, conversations: list[Conversation]) -> list[float]:
        return [0.0] * len(conversations)


class HttpValue:
    """A value model behind an HTTP endpoint (see the module doc)."""

    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        self.url, self.timeout_s = url, timeout_s
        self.failures = 0

    def score(self, conversations: list[Conversation]) -> list[float]:
        request = urllib.request.Request(self.url, data=json.dumps({"conversations": conversations}).encode(),
                                         headers={"content-type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                scores = json.loads(response.read())["scores"]
            if len(scores) != len(conversations):
                raise ValueError(f"{len(scores)} scores for {len(conversations)} conversations")
            return [max(-1.0, min(1.0, float(score))) for score in scores]
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
            self.failures += 1
            return [0.0] * len(conversations)


def load_value(spec: str | None) -> ValueFunction:
    """`none`, `http(s)://...` or `model:PATH` (see the module doc)."""
    if spec in (None, "", "none"):
        return ZeroValue()
    if spec.startswith(("http://", "https://")):
        return HttpValue(spec)
    if spec.startswith("model:"):
        try:
            from nbqa_builder.training.value import load_scorer  # the [train] extra
        except ImportError as exc:
            raise ValueError(f"--value {spec}: a local value model needs the training module and its extra "
                             f"(pip install 'nbqa_builder[train]'): {exc}") from None
        return load_scorer(spec.removeprefix("model:"))
    raise ValueError(f"--value {spec!r}: give none, an http(s):// scorer URL, or model:PATH")
