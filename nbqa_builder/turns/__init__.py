"""The agent's turn format: the one text that `export sft` trains on and the search, the blind
solver and the value model read back.

A solved task is a chat in JUPITER's turn format (NBQA.md, "SFT format"):

    system     You are a helpful assistant.                       <- the prompt template (task.md)
    user       instructions; Question / Constraints / Format / Available Local Files
    assistant  Thought: ...  Action: ```python <code> ```         <- one per code step
    user       Observation: <what the code showed>
    ...
    assistant  Thought: ...  Formatted answer: @name[value]

A model trained on these chats must be searched with the same text, so every consumer renders and
reads turns with this package, never with its own:

- template.py: the first turns' text. `load_template(path=None)` reads a template file (our
  default is task.md, beside it; `DEFAULT_TEMPLATE`), `parse_template`, `PromptTemplate.render`,
  `TemplateError`, `default_instructions` / `INSTRUCTIONS`.
- render.py: a task as turns. `first_turns(row, template, file_naming, action_format)`,
  `action_turn`, `observation_turn`, `answer_turn`, `cut_observation`; `chat_turns(row)` and
  `solution_parts(row)` for a whole solved task (`NotTrainable` when it cannot be one);
  `task_files`, `bare_name`: the files as the consumer serves them.
- reply.py: a model's reply read back. `parse_reply(text, action_format) -> Step`,
  `corrective_observation(kind)`: what the policy is told about a failed step.
- printing.py: a step's final bare expression as `print(...)` (`print_final_expression`) and what
  it prints (`printed_text`), the code and the observations a model learns and sees.

    from nbqa_builder.turns import first_turns, action_turn, observation_turn, parse_reply

    turns = first_turns(task_row)                          # system + first user turn
    turns.append(action_turn("Load it.", "df = pd.read_csv('sales.csv')"))
    turns.append(observation_turn(""))
    step = parse_reply(model_reply)                        # Step(thought, code, answer, problem)

The export row layouts (messages, alpaca, JUPITER) are in publish/chat.py; the conversation of a
search node in search/conversation.py. This package imports only notebooks/code.py (to read code).
"""

from nbqa_builder.turns.printing import FINAL_EXPRESSIONS, print_final_expression, printed_text
from nbqa_builder.turns.render import (FILE_NAMINGS, MAX_OBSERVATION_CHARS, NotTrainable, action_turn, answer_turn,
                                       bare_name, chat_turns, cut_observation, first_turns, observation_turn,
                                       solution_parts, task_files)
from nbqa_builder.turns.reply import Step, corrective_observation, parse_reply
from nbqa_builder.turns.template import (ACTION_FORMATS, ACTION_RULES, DEFAULT_TEMPLATE, INSTRUCTIONS, PLACEHOLDERS,
                                         SYSTEM_PROMPT, PromptTemplate, TemplateError, default_instructions,
                                         load_template, parse_template)

__all__ = [
    "ACTION_FORMATS", "ACTION_RULES", "DEFAULT_TEMPLATE", "FILE_NAMINGS", "FINAL_EXPRESSIONS", "INSTRUCTIONS",
    "MAX_OBSERVATION_CHARS", "NotTrainable", "PLACEHOLDERS", "PromptTemplate", "SYSTEM_PROMPT", "Step",
    "TemplateError", "action_turn", "answer_turn", "bare_name", "chat_turns", "corrective_observation",
    "cut_observation", "default_instructions", "first_turns", "load_template", "observation_turn", "parse_reply",
    "parse_template", "print_final_expression", "printed_text", "solution_parts", "task_files",
]
