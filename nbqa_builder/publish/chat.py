"""Tasks as chats: the turn format shared by the SFT exports, the value targets and the search.

The chat follows JUPITER's turn format (NBQA.md, "SFT format"): a system turn; a user turn with the
instructions and Question / Constraints / Format / Available Local Files; per solution step an
assistant turn `Thought: ...` then `Action:` with the code, answered by a user turn
`Observation:` with what the code showed; a last assistant turn `Thought: ...` and
`Formatted answer: <label>`.

A model trained on these chats must be searched with the same text, so the search renders its
turns with the functions below rather than its own:

    template = load_template(path=None)                      # our default, or the user's file
    turns = first_turns(task_row, template, file_naming="path", action_format="fenced")
    turns.append(action_turn(thought, code, action_format="fenced"))
    turns.append(observation_turn(outputs_as_text(cell_run.outputs)))   # notebooks/parse.py
    turns.append(answer_turn(thought, "@mean[5.0]"))

- `load_template(path=None) -> PromptTemplate`: the first turns' text. A template is a text file
  whose body is the first user turn, with placeholders {question} {constraints} {format} {files}
  {action_rule} (JUPITER's names {raw_question} {output_format} {file_name} {file_names} work
  too), and an optional YAML front matter between `---` lines whose `system` key is the system
  turn. Our default is `publish/prompts/task.md`.
- `task_files(row, file_naming) -> list[str]`: the files as the consumer serves them: `path`, as
  the solution's code reads them (`../data/sales.csv`, our sandbox and search); `name`, bare names
  in one folder (`sales.csv`, JUPITER's SandboxFusion uploads and DABench tables).
- `first_turns(row, template=None, file_naming="path", action_format="fenced")`: system + user.
- `action_turn(thought, code, action_format)`: `fenced` puts the code in a ```python block (what
  JUPITER's inference parses), `raw` writes it after `Action: ` as JUPITER's process_sft.py does.
- `observation_turn(text)`, `answer_turn(thought, answer)`.
- `chat_turns(row, ...)`: a whole solved task; `messages_row`, `alpaca_row`, `jupiter_row`: rows
  of the export formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

SYSTEM_PROMPT = "You are a helpful assistant."
ACTION_FORMATS = ("fenced", "raw")
FILE_NAMINGS = ("path", "name")
FINAL_EXPRESSIONS = ("print", "keep")  # a step's final bare expression: printed, or kept (publish/steps.py)

# how the default template says to write an Action, per action format
ACTION_RULES = {
    "fenced": "the code to run, in one block fenced with ```python and ```.",
    "raw": "the code to run, as plain Python after `Action: `.",
}
# placeholder -> the task field it stands for; JUPITER's instruction builders use the second names
PLACEHOLDERS = {
    "question": "question", "raw_question": "question",
    "constraints": "constraints",
    "format": "format", "output_format": "format",
    "files": "files", "file_name": "files", "file_names": "files",
    "action_rule": "action_rule",
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

NBQA_FIELDS = ("task", "file_names", "concepts", "difficulty", "constraints", "format", "answer", "label",
               "solution", "github_repo", "ipynb_name")


class NotTrainable(ValueError):
    """A task that cannot become a training row (the reason is the message)."""


class TemplateError(ValueError):
    """A prompt template that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class PromptTemplate:
    system: str
    user: str
    source: str  # the file it was read from, for messages

    def render(self, question: str, constraints: str, format: str, files: list[str],
               action_format: str = "fenced") -> str:
        """The first user turn of one task."""
        if action_format not in ACTION_FORMATS:
            raise ValueError(f"action_format must be one of {ACTION_FORMATS}, not {action_format!r}")
        values = {"question": question, "constraints": constraints or "none", "format": format or "none",
                  "files": ", ".join(files) or "none", "action_rule": ACTION_RULES[action_format]}
        return _PLACEHOLDER.sub(lambda m: values[PLACEHOLDERS[m.group(1)]], self.user)


def load_template(path: str | Path | None = None) -> PromptTemplate:
    """A prompt template file (see the module docstring); None: our default."""
    if path is None:
        return _default_template()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read the prompt template: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TemplateError(f"{path}: the prompt template is not UTF-8 text") from None
    return parse_template(text, str(path))


@lru_cache(maxsize=1)
def _default_template() -> PromptTemplate:
    text = resources.files("nbqa_builder.publish").joinpath("prompts/task.md").read_text(encoding="utf-8")
    return parse_template(text, "nbqa_builder/publish/prompts/task.md")


def default_instructions(action_format: str = "fenced") -> str:
    """The instructions of our default template: its user turn before `### Task`."""
    head = _default_template().user.partition("### Task")[0]
    return head.replace("{action_rule}", ACTION_RULES[action_format]).rstrip("\n") + "\n"


def parse_template(text: str, source: str = "<template>") -> PromptTemplate:
    system = SYSTEM_PROMPT
    if text.startswith("---\n"):
        end = text.find("\n---\n", 3)
        if end < 0:
            raise TemplateError(f"{source}: the front matter opened by '---' is not closed by a '---' line")
        import yaml

        try:
            header = yaml.safe_load(text[4:end]) or {}
        except yaml.YAMLError as exc:
            raise TemplateError(f"{source}: the front matter is not YAML: {exc}") from None
        if not isinstance(header, dict) or set(header) - {"system"}:
            raise TemplateError(f"{source}: the front matter may only set `system` (the system turn)")
        system = str(header.get("system", SYSTEM_PROMPT))
        text = text[end + len("\n---\n"):]
    names = set(_PLACEHOLDER.findall(text))
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        raise TemplateError(f"{source}: unknown placeholder {{{unknown[0]}}}; known: "
                            + " ".join(f"{{{name}}}" for name in PLACEHOLDERS))
    if not names & {"question", "raw_question"}:
        raise TemplateError(f"{source}: the template has no {{question}}: the task would not be in the prompt")
    return PromptTemplate(system, text, source)


def task_files(row: dict[str, Any], file_naming: str = "path") -> list[str]:
    """The task's files as the consumer serves them: `path` as the solution's code reads them
    (`data_files` paths, else the NbQA `file_names`); `name` by bare name."""
    if file_naming not in FILE_NAMINGS:
        raise ValueError(f"file_naming must be one of {FILE_NAMINGS}, not {file_naming!r}")
    paths = [f["path"] for f in row.get("data_files") or []] or list(row.get("file_names") or [])
    if file_naming == "name":
        return [bare_name(p) for p in paths]
    return paths


def bare_name(path: str) -> str:
    """The last part of a path as written (POSIX or Windows separators)."""
    return PurePosixPath(path.replace("\\", "/")).name or path


def first_turns(row: dict[str, Any], template: PromptTemplate | None = None, file_naming: str = "path",
                action_format: str = "fenced") -> list[dict[str, str]]:
    """The system turn and the first user turn of a task."""
    template = template or load_template()
    user = template.render(row.get("task") or "", row.get("constraints") or "", row.get("format") or "",
                           task_files(row, file_naming), action_format)
    return [{"role": "system", "content": template.system}, {"role": "user", "content": user}]


def action_turn(thought: str | None, code: str, action_format: str = "fenced") -> dict[str, str]:
    """An assistant turn that runs code."""
    if action_format == "fenced":
        return {"role": "assistant", "content": f"Thought: {thought or ''}\nAction:\n```python\n{code.rstrip()}\n```"}
    if action_format == "raw":
        return {"role": "assistant", "content": f"Thought: {thought or ''}\nAction: {code}"}
    raise ValueError(f"action_format must be one of {ACTION_FORMATS}, not {action_format!r}")


def observation_turn(observation: str | None) -> dict[str, str]:
    """The user turn that answers an action with what its code showed."""
    return {"role": "user", "content": f"Observation:\n{observation or ''}"}


def answer_turn(thought: str | None, answer: str) -> dict[str, str]:
    """The last assistant turn."""
    return {"role": "assistant", "content": f"Thought: {thought or ''}\nFormatted answer: {answer}"}


def solution_parts(row: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """(code steps, final step, label) of a task that can become a chat; NotTrainable otherwise."""
    steps = row.get("solution") or []
    code_steps = [s for s in steps if s.get("python_code")]
    final = steps[-1] if steps else {}
    label = final.get("label") or row.get("label")
    if not code_steps:
        raise NotTrainable("no code steps")
    if not label:
        raise NotTrainable("no label")
    return code_steps, final, label


def chat_turns(row: dict[str, Any], template: PromptTemplate | None = None, file_naming: str = "path",
               action_format: str = "fenced") -> list[dict[str, str]]:
    """The whole conversation as `{"role", "content"}` turns, system turn first."""
    code_steps, final, label = solution_parts(row)
    turns = first_turns(row, template, file_naming, action_format)
    for step in code_steps:
        turns.append(action_turn(step.get("thought"), step["python_code"], action_format))
        turns.append(observation_turn(step.get("code_output")))
    turns.append(answer_turn(final.get("thought"), label))
    return turns


def messages_row(row: dict[str, Any], **render: Any) -> dict[str, Any]:
    """OpenAI-style chat: `{"id", "messages": [...]}`; `render`: chat_turns' options."""
    return {"id": row.get("id"), "messages": chat_turns(row, **render)}


def alpaca_row(row: dict[str, Any], **render: Any) -> dict[str, Any]:
    """LLaMA-Factory alpaca with history: earlier (user, assistant) pairs in `history`, the last
    pair as `instruction` and `output`."""
    turns = chat_turns(row, **render)
    pairs = [(turns[i]["content"], turns[i + 1]["content"]) for i in range(1, len(turns) - 1, 2)]
    (instruction, output), history = pairs[-1], [list(pair) for pair in pairs[:-1]]
    return {"id": row.get("id"), "system": turns[0]["content"], "instruction": instruction, "input": "",
            "output": output, "history": history}


def jupiter_row(row: dict[str, Any], data_files: list[str]) -> dict[str, Any]:
    """A row as JUPITER's scripts read `train_sft_data.jsonl`: the NbQA fields; the solution as
    its code steps, each with `thought`, `python_code` and `code_output`, then the last step with
    `thought` and `label` (process_sft.py reads `solution[-2]` as the last code step and joins the
    thoughts as strings); and `data_files`, the task's files relative to a storage folder."""
    code_steps, final, label = solution_parts(row)
    out = {name: row.get(name) for name in NBQA_FIELDS}
    out["solution"] = [{"thought": s.get("thought") or "", "python_code": s["python_code"],
                        "code_output": s.get("code_output") or ""} for s in code_steps]
    out["solution"].append({"thought": final.get("thought") or "", "label": label})
    out["label"] = label
    out["data_files"] = data_files
    out["id"] = row.get("id")
    return out


# the default template's instructions, for callers of the constant that came before templates
INSTRUCTIONS = default_instructions()


def llamafactory_entry(file_name: str, chat_format: str) -> dict[str, Any]:
    """The `dataset_info.json` entry that LLaMA-Factory needs to read an export: `messages` rows
    as sharegpt with OpenAI-style role/content tags, `alpaca` rows with their history column."""
    if chat_format == "messages":
        return {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "messages"},
                "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                         "assistant_tag": "assistant", "system_tag": "system"}}
    return {"file_name": file_name, "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
                        "history": "history"}}
