"""The conversation of a search node: the messages the policy and the value function see.

A model trained on our exports is searched with the prompt it was trained on, so the turns are
rendered by the turn format (nbqa_builder/turns), as `export sft` renders them: the system turn
and the first user turn from a prompt template (`first_turns`), then per node on the path an
assistant turn (`Thought:` + `Action:` with the code, fenced or raw; or `Thought:` +
`Formatted answer:`) and, for a code node, the `Observation:` turn of its cell.
"""

from __future__ import annotations

from nbqa_builder.search.tree import Node
from nbqa_builder.turns import action_turn, answer_turn, observation_turn


def step_turns(node: Node, action_format: str = "fenced") -> list[dict[str, str]]:
    """A node's own turns: its assistant turn, and the observation of its cell."""
    if node.answer is not None:
        return [answer_turn(node.thought, node.answer)]
    if node.code is None:  # a reply with no action (a parse failure, no code): as it came
        turns = [{"role": "assistant", "content": node.reply}]
        if node.observation is not None:  # infer mode: what was wrong with it
            turns.append(observation_turn(node.observation))
        return turns
    turns = [action_turn(node.thought, node.code, action_format)]
    if node.observation is not None:
        turns.append(observation_turn(node.observation))
    return turns


def conversation(first: list[dict[str, str]], node: Node, action_format: str = "fenced") -> list[dict[str, str]]:
    """The messages from the system turn to `node`, its own turns included."""
    turns = list(first)
    for step in node.path():
        turns += step_turns(step, action_format)
    return turns
