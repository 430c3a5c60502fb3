"""Settings of the LLM backend of the extract step (pydantic only: reading a recipe needs no SDK).

The three stages follow the paper: a cheap model scores the notebook 1 to 5, a strong model
extracts tasks, a cheap model reviews them. Each stage names its own model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OPENAI_BASE_URL = "https://api.openai.com/v1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StageModel(_Strict):
    model: str = Field(min_length=1)  # the model's name at the endpoint (gpt-4o-mini, Qwen/Qwen2.5-7B-Instruct ...)
    temperature: float = Field(0.0, ge=0, le=2)  # 0: the same notebook gives the same reply
    max_tokens: int = Field(4096, ge=1)  # replies are JSON of a few tasks; this bounds a runaway


class ScoreStage(StageModel):
    # the paper keeps notebooks the cheap model rates as useful; 3 of 5 is "a real analysis"
    min_score: int = Field(3, ge=1, le=5)
    max_tokens: int = Field(512, ge=1)  # a score and a line of reasons


class ExtractStage(StageModel):
    max_tokens: int = Field(8192, ge=1)  # up to ten tasks with their constraints and thoughts


class ReviewStage(StageModel):
    max_tokens: int = Field(2048, ge=1)  # a verdict and a reason for each task


class Price(_Strict):
    """US dollars per million tokens."""

    input: float = Field(ge=0)  # per million prompt tokens, from the provider's price list
    output: float = Field(ge=0)  # per million completion tokens
    # the Batch API's prices (OpenAI: half the above); a batched reply without them is costed at
    # the synchronous prices, an upper bound
    batch_input: float | None = Field(None, ge=0)  # per million prompt tokens, batched
    batch_output: float | None = Field(None, ge=0)  # per million completion tokens, batched


class BatchSettings(_Strict):
    """`llm:` of a step: how its requests reach the endpoint (never changes a result)."""

    # sync: one request at a time per thread; batch: the Batch API (files + batches), half price
    # at OpenAI, replies within the completion window (usually minutes to hours)
    mode: Literal["sync", "batch"] = "sync"
    # the LLM stages that go through the Batch API in batch mode; None: all of the step's stages
    stages: list[Literal["score", "extract", "review", "solve"]] | None = None
    # first wait between two looks at a batch, doubled after each look up to the longest wait
    poll_interval_s: float = Field(15, gt=0)
    max_poll_interval_s: float = Field(300, gt=0)  # a 24 h window needs no closer watch
    # batches a request may go in: a request that failed (5xx, 429, expired, a failed batch) is
    # sent again in the next batch until this many; then its notebook or task is dropped with the
    # reason. A request the server refused (400-class) is not sent again.
    max_batch_attempts: int = Field(3, ge=1, le=10)
    completion_window: Literal["24h"] = "24h"  # the only window OpenAI offers
    # requests per batch file; OpenAI takes up to 50,000 (and 200 MB)
    max_requests: int = Field(50_000, ge=1, le=50_000)

    @model_validator(mode="after")
    def _waits_in_order(self) -> "BatchSettings":
        if self.poll_interval_s > self.max_poll_interval_s:
            raise ValueError(f"poll_interval_s {self.poll_interval_s} is above max_poll_interval_s {self.max_poll_interval_s}")
        return self

    def batched(self, stage: str) -> bool:
        return self.mode == "batch" and (self.stages is None or stage in self.stages)


class EndpointSettings(_Strict):
    """How a step reaches its OpenAI-compatible endpoint; shared by `extract` and `solve`."""

    # OpenAI, or any OpenAI-compatible server (vLLM, Ollama, llama.cpp: e.g. http://localhost:8000/v1)
    base_url: str = OPENAI_BASE_URL
    # the NAME of the environment variable holding the key; the key itself never goes in a recipe.
    # A local server without a key may leave it unset.
    api_key_env: str = Field("OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # requests in flight at once per worker process; OpenAI tier-1 limits allow about this many
    max_concurrency: int = Field(8, ge=1, le=256)
    timeout_s: float = Field(120, gt=0)  # per request; a long extraction reply takes about a minute
    # attempts per request on 429, 5xx and timeouts (then the notebook is dropped `llm_unavailable`)
    max_attempts: int = Field(6, ge=1, le=20)
    max_wait_s: float = Field(60, gt=0)  # longest pause between attempts, Retry-After included
    # USD per million tokens, per model name; needed for every model when max_cost is set
    prices: dict[str, Price] = {}
    # stop the run cleanly (resumable) once this step's stages have spent this much, in USD; None:
    # no limit. The spend is that of every run into the same output folder (<output>/_llm/),
    # --restart included
    max_cost: float | None = Field(None, gt=0)
    llm: BatchSettings = BatchSettings()  # sync requests, or the Batch API


class LLMSettings(EndpointSettings):
    """The `openai` backend's settings; every default says why."""

    score: ScoreStage | None = None  # None: keep every notebook
    extract: ExtractStage | None = None  # required for backend: openai
    review: ReviewStage | None = None  # None: keep every grounded task
    # json_schema: structured output (OpenAI, vLLM, recent llama.cpp); json_object: JSON mode only
    # (older servers); none: plain text. Replies are validated with pydantic in every case.
    response_format: Literal["json_schema", "json_object", "none"] = "json_schema"
    # how much of a notebook the model sees: the whole text, and each cell's outputs
    notebook_budget_chars: int = Field(60_000, ge=1000)  # about 15 k tokens: fits every model in use
    output_budget_chars: int = Field(1500, ge=100)  # a table head or a printed value, not a dump

    def stages(self) -> dict[str, StageModel]:
        return {name: stage for name, stage in (("score", self.score), ("extract", self.extract), ("review", self.review)) if stage}
