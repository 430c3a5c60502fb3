"""The prompt template: the text of a chat's first two turns (the system turn, the first user turn).

A template is a text file whose body is the first user turn, with placeholders {question}
{constraints} {format} {files} {action_rule} (JUPITER's names {raw_question} {output_format}
{file_name} {file_names} work too), and an optional YAML front matter between `---` lines whose
`system` key is the system turn. Our default is `task.md`, beside this module; `export sft
--template FILE` and `search --template FILE` replace it with the user's file.

- `load_template(path=None) -> PromptTemplate`: a template file, or our default (None).
- `parse_template(text, source)`: the same from text; `TemplateError` names the file and the problem.
- `PromptTemplate.render(question, constraints, format, files, action_format)`: the first user turn.
- `default_instructions(action_format)`, `INSTRUCTIONS`: our default's instructions, before `### Task`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

SYSTEM_PROMPT = "You are a helpful assistant."
ACTION_FORMATS = ("fenced", "raw")

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
    text = resources.files("nbqa_builder.turns").joinpath("task.md").read_text(encoding="utf-8")
    return parse_template(text, "nbqa_builder/turns/task.md")


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


DEFAULT_TEMPLATE = load_template()  # task.md, beside this module
# the default template's instructions, for callers of the constant that came before templates
INSTRUCTIONS = default_instructions()
