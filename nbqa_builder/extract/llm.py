"""The LLM extractor: score, extract, review, each stage with its own model (as in the paper).

Grounded by construction: the model only picks cells by number and writes the words (question,
constraints, format, thoughts) and the answer values; the solution's code and outputs are copied
from the cells it picked. Every answer must be a value the answer cell (the last solution cell)
shows whole, rounded only as the format says (`grounding.task_problem`, the rule `verify` applies
to re-run outputs); thoughts lose any code the model wrote, and may state only numbers the
solution's code and outputs show (`thoughts.invented_number`). Dropped tasks stay on the notebook
with their reason, so they are counted and written to `rejects/tasks.jsonl`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from nbqa_builder.answers import render_answers
from nbqa_builder.extract.concepts import CONCEPTS, SUMMARY, VISUALIZATION, concepts_of
from nbqa_builder.extract.grounding import answer_field, task_problem
from nbqa_builder.extract.thoughts import invented_number, without_code
from nbqa_builder.extract.heuristic import markdown_before, outputs_text, task_files
from nbqa_builder.extract.llm_replies import PROMPTS_DIR, ExtractReply, ReviewReply, ScoreReply, TaskDraft, render_notebook
from nbqa_builder.extract.slicer import cell_names, slice_cells
from nbqa_builder.llm import ChatClient, LLMRequestFailed, LLMSettings, StageModel, llm_dir
from nbqa_builder.llm.prompts import load_prompt, parse_reply, response_format
from nbqa_builder.notebooks.code import call_names, notebook_trees
from nbqa_builder.records import Answer, Notebook, SolutionStep, Task
from nbqa_builder.step import count

BACKEND = "openai"
STEP = "extract"  # the metrics land under stats.json["metrics"]["extract"]
REPAIR = ("Your reply could not be used: {error}\n"
          "Reply again with only the JSON object described in the instructions.")


class LLMExtractor:
    """Runs the three stages on one notebook at a time; safe to call from several threads."""

    def __init__(self, settings: LLMSettings, client: ChatClient, max_tasks: int, max_value_chars: int) -> None:
        self.settings = settings
        self.client = client
        self.max_tasks = max_tasks
        self.max_value_chars = max_value_chars
        self.prompt_version = " ".join(load_prompt(PROMPTS_DIR, name).version for name in settings.stages())

    def extract(self, notebook: Notebook) -> str | None:
        """Attach tasks (kept and dropped) to the notebook; return a drop reason or None.

        Raises LLMRunMustStop when nothing more can be sent (budget, quota, key)."""
        check: dict[str, Any] = notebook.checks.setdefault("extract", {})
        shown = render_notebook(notebook, self.settings.notebook_budget_chars, self.settings.output_budget_chars)
        try:
            if self.settings.score is not None:
                scored = self.ask(notebook, "score", self.settings.score, shown, ScoreReply)
                check["score"], check["score_reason"] = scored.score, scored.reason
                if scored.score < self.settings.score.min_score:
                    return "low_quality_score"
            limit = f"\n\n(Write at most {self.max_tasks} tasks.)"
            drafts = self.ask(notebook, "extract", self.settings.extract, shown + limit, ExtractReply).tasks
            notebook.tasks = [self.build_task(notebook, draft) for draft in drafts]
            # the limit counts the tasks kept: a dropped draft takes no place
            for task in [t for t in notebook.tasks if t.drop_reason is None][self.max_tasks:]:
                task.drop_reason = "over_task_limit"
            kept = [t for t in notebook.tasks if t.drop_reason is None]
            if kept and self.settings.review is not None:
                self.review(notebook, shown, kept)
        except LLMRequestFailed as exc:
            check["error"] = exc.detail
            return exc.reason
        check["tasks"] = sum(1 for t in notebook.tasks if t.drop_reason is None)
        check["tasks_dropped"] = len(notebook.tasks) - check["tasks"]
        return None if check["tasks"] else "no_tasks"

    def ask(self, notebook: Notebook, stage: str, model: StageModel, user: str, reply_model: type[BaseModel]) -> Any:
        """One stage's request, and one repair request when the reply does not validate."""
        messages = [{"role": "system", "content": load_prompt(PROMPTS_DIR, stage).text.replace("{max_tasks}", str(self.max_tasks))},
                    {"role": "user", "content": user}]
        fmt = response_format(self.settings.response_format, reply_model)
        error = ""
        for attempt in range(2):
            completion = self.client.complete(stage, model.model, messages, model.temperature, model.max_tokens, fmt)
            self._count(notebook, stage, completion)
            if completion.refusal:
                raise LLMRequestFailed("llm_refusal", f"{stage}: {completion.refusal[:300]}")
            try:
                return parse_reply(completion.content, reply_model)
            except ValueError as exc:
                error = str(exc)
            if attempt == 0:
                messages = messages + [{"role": "assistant", "content": completion.content or ""},
                                       {"role": "user", "content": REPAIR.format(error=error[:2000])}]
        raise LLMRequestFailed("llm_invalid_json", f"{stage}: after one repair request, {error[:500]}")

    def _count(self, notebook: Notebook, stage: str, completion: Any) -> None:
        # tokens and cost of every reply used, cached or not: the dataset's price, the same after a
        # resume; what was actually sent (and paid) this run is `requests_sent` and the ledger
        count(notebook, STEP, f"{stage}_prompt_tokens", completion.prompt_tokens)
        count(notebook, STEP, f"{stage}_completion_tokens", completion.completion_tokens)
        count(notebook, STEP, f"{stage}_cost_usd", completion.cost)
        count(notebook, STEP, "cost_usd", completion.cost)
        count(notebook, STEP, "cache_hits" if completion.cached else "requests_sent")
        if completion.batch and not completion.cached:
            count(notebook, STEP, "batch_requests")  # of requests_sent, those through the Batch API

    def review(self, notebook: Notebook, shown: str, tasks: list[Task]) -> None:
        listing = "\n\n".join(
            f"Task {i}:\nquestion: {t.task}\nconstraints: {t.constraints}\nformat: {t.format}\n"
            f"label: {t.label or '(a chart)'}\nsolution cells: {t.cells}"
            for i, t in enumerate(tasks)
        )
        reply = self.ask(notebook, "review", self.settings.review, f"{shown}\n\nTasks to review:\n\n{listing}", ReviewReply)
        verdicts = {v.task: v for v in reply.verdicts}
        for i, task in enumerate(tasks):
            verdict = verdicts.get(i)
            if verdict is None:
                task.drop_reason = "review_missing_verdict"
            elif not verdict.keep:
                task.drop_reason = f"review_rejected: {(verdict.reason or 'no reason given')[:200]}"

    # -----------------------------------------------------------------------------------------

    def build_task(self, notebook: Notebook, draft: TaskDraft) -> Task:
        """The draft as a Task, code and outputs copied from its cells; `drop_reason` set when the
        draft is not grounded in the notebook (grounding.task_problem, the rule `verify` applies)
        or when its thoughts state numbers no output shows."""
        picked = [step.cell for step in draft.solution]
        answers = [Answer(a.name.strip(), _unquoted(a.value.strip())) for a in draft.answers]
        reason = "repeated_solution_cell" if len(set(picked)) != len(picked) else self._cell_problem(notebook, picked)
        cells = self._with_needed_cells(notebook, picked) if reason is None else sorted(set(picked))
        thoughts = {step.cell: without_code(step.thought) for step in draft.solution}
        steps = []
        written = {position for position, i in enumerate(cells) if thoughts.get(i)} | {len(cells)}
        for i in cells:
            cell = notebook.cells[i] if 0 <= i < len(notebook.cells) else None
            steps.append(SolutionStep(
                thought=thoughts.get(i) or (markdown_before(notebook, i) if cell else None) or "Prepare what the next steps use.",
                python_code=cell.source if cell else None,
                code_output=outputs_text(cell.outputs) if cell else None,
            ))
        try:
            label = render_answers([(a.name, a.value) for a in answers])
        except ValueError:
            label = " ".join(f"@{a.name}[{a.value}]" for a in answers)
            reason = reason or "invalid_answer_format"
        steps.append(SolutionStep(thought=without_code(draft.final_thought) or "The outputs above give the answer.", label=label))
        refs = [ref for ref in notebook.data_refs if ref.cell in set(cells)]
        file_names, data_files, complete = task_files(refs)
        concepts = self._concepts(notebook, draft, cells)
        task = Task(
            task=draft.question.strip(), file_names=file_names, concepts=concepts, difficulty=draft.difficulty,
            constraints=draft.constraints.strip(), format=draft.format.strip(),
            answer=answer_field(answers), label=label, solution=steps,
            github_repo=notebook.repo, ipynb_name=notebook.path, answers=answers, data_files=data_files,
            deps_complete=complete, is_visualization=draft.is_visualization,
            category=VISUALIZATION if draft.is_visualization else concepts[0],
            source=notebook.notebook_id, commit=notebook.commit, license=notebook.license, url=notebook.url,
            extractor_backend=BACKEND, extractor_model=self.settings.extract.model,
            prompt_version=self.prompt_version, cells=cells, question_kind="open",
        )
        if reason is None and any(len(a.value) > self.max_value_chars for a in answers):
            reason = "answer_too_long"
        task.drop_reason = reason or task_problem(task, notebook) or invented_number(notebook, task, written)
        task.assign_id()
        return task

    @staticmethod
    def _cell_problem(notebook: Notebook, picked: list[int]) -> str | None:
        if any(not 0 <= i < len(notebook.cells) for i in picked):
            return "cell_out_of_range"
        if any(notebook.cells[i].cell_type != "code" for i in picked):
            return "not_a_code_cell"
        return None

    @staticmethod
    def _with_needed_cells(notebook: Notebook, picked: list[int]) -> list[int]:
        """The picked cells and the earlier cells they need (their backward slice): a solution
        that skips the cell loading the data would not run, and verify re-runs it."""
        names = [cell_names(tree) for tree in notebook_trees(notebook)]
        needed = set(picked)
        for i in picked:
            needed.update(slice_cells(names, i))
        return sorted(needed)

    @staticmethod
    def _concepts(notebook: Notebook, draft: TaskDraft, cells: list[int]) -> list[str]:
        known = {c.lower(): c for c in CONCEPTS}
        concepts = list(dict.fromkeys(known[c.strip().lower()] for c in draft.concepts if c.strip().lower() in known))
        if concepts:
            return concepts
        trees = notebook_trees(notebook)
        calls = [call for i in cells if 0 <= i < len(trees) and trees[i] for call in call_names(trees[i])]
        return concepts_of(calls) or [SUMMARY]


def _unquoted(value: str) -> str:
    """`'east'`, as a model may write a text answer, is the value `east`."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def build_extractor(settings: LLMSettings, output: str | None, max_tasks: int, max_value_chars: int) -> LLMExtractor:
    if not output:
        raise ValueError("the openai extractor keeps its cache and spend ledger in the run's output folder; none was given")
    return LLMExtractor(settings, ChatClient(settings, llm_dir(output), ("score", "extract", "review")),
                        max_tasks, max_value_chars)
