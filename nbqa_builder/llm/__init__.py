"""Every model call goes through here: extraction (extract/llm.py), the blind solver (solve/) and
the search's policy (search/policy.py) share one client, with its reply cache, spend ledger,
retries and budget.

- client.py: `ChatClient`, one OpenAI-compatible endpoint: cached, retried, counted, budgeted,
  sent one by one or through the Batch API; `run_in_rounds` for batch mode.
- batch.py: the Batch API (request files, batches, polling, joining the replies back).
- store.py: what is kept between runs in `<output>/_llm/`: the reply cache and the spend ledger.
- replies.py: the fields kept of a reply, and the errors a request ends in.
- config.py: the recipe's settings of an endpoint and of extraction's stages (pydantic only).
- prompts.py: prompt files with their version; a reply validated with its pydantic model.

Importing the package needs neither the SDK nor tenacity: the client imports them when it sends.
Nothing here imports a step: the steps and the search import this package.
"""

from nbqa_builder.llm.client import ChatClient, request_key, run_in_rounds
from nbqa_builder.llm.config import OPENAI_BASE_URL, BatchSettings, EndpointSettings, LLMSettings, Price, StageModel
from nbqa_builder.llm.replies import Completion, LLMRequestFailed, LLMRunMustStop, NeedsReply
from nbqa_builder.llm.store import ReplyCache, SpendLedger, llm_dir, spend_summary

__all__ = ["OPENAI_BASE_URL", "BatchSettings", "ChatClient", "Completion", "EndpointSettings", "LLMRequestFailed",
           "LLMRunMustStop", "LLMSettings", "NeedsReply", "Price", "ReplyCache", "SpendLedger", "StageModel", "llm_dir",
           "request_key", "run_in_rounds", "spend_summary"]
