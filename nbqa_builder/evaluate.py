"""Score `@name[value]` responses against labels: ABQ, PSAQ, UASQ and their breakdowns.

The metrics are InfiAgent-DABench's:
- ABQ (accuracy by question): a question is right when every one of its sub-answers is right;
- PSAQ (proportional by sub-answer): the mean over questions of the fraction of sub-answers right;
- UASQ (uniform by sub-answer): sub-answers right over all sub-answers.
Each is also given per concept, per level and per number of concepts of the question.

Which questions are scored: every question that has a label. A question with no response, a
response that is empty or not a string is *unanswered*: left out of every denominator
(`unanswered="skip"`, the official script) or scored with every sub-answer wrong
(`unanswered="wrong"`, the JUPITER fork). Everything else is answered, even a response with no
`@name[value]` in it (all its sub-answers are then wrong), as in the official script.

Inputs are DABench JSONL files (questions, labels, responses) or our own task shards. Problems in
them are `EvaluationInputError`s that name the file and line; none is a crash.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nbqa_builder.answers import MODES, STRICT, parse_answers, score_response

SKIP, WRONG = "skip", "wrong"
UNANSWERED_POLICIES = (SKIP, WRONG)
METRICS = ("ABQ", "PSAQ", "UASQ")


class EvaluationInputError(ValueError):
    """A problem in an input file, with the file (and line) it is in."""


@dataclass
class Question:
    """A question to score: its label and what the breakdowns group it by."""

    id: Any  # as written in the input (DABench ids are ints, ours are strings)
    answers: list[tuple[str, str]]
    concepts: list[str] = field(default_factory=list)
    level: str | None = None

    @property
    def key(self) -> str:
        return id_key(self.id)


@dataclass
class QuestionResult:
    question: Question
    answered: bool
    sub: dict[str, bool]

    @property
    def correct(self) -> bool:
        return self.answered and all(self.sub.values())


def id_key(value: Any) -> str:
    """Ids are matched as text, so a response id 3 finds the label id "3" and the other way round."""
    return str(value)


def _valid_id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# Reading inputs


def read_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; anything but a JSON object is an error."""
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise EvaluationInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        line_no = 0
        try:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise EvaluationInputError(f"{path}:{line_no}: not valid JSON: {exc.msg}") from None
                if not isinstance(obj, dict):
                    raise EvaluationInputError(
                        f"{path}:{line_no}: expected a JSON object, got {type(obj).__name__}"
                    )
                yield line_no, obj
        except UnicodeDecodeError:
            raise EvaluationInputError(f"{path}:{line_no + 1}: not UTF-8 text") from None


def _require_id(path: str, line_no: int, obj: dict[str, Any]) -> Any:
    if "id" not in obj:
        raise EvaluationInputError(f"{path}:{line_no}: missing \"id\"")
    if not _valid_id(obj["id"]):
        raise EvaluationInputError(f"{path}:{line_no}: \"id\" must be a string or an integer, got {obj['id']!r}")
    return obj["id"]


def load_labels(path: str) -> dict[str, tuple[Any, list[tuple[str, str]]]]:
    """id key -> (id, [(name, value), ...]) from a DABench labels file."""
    labels: dict[str, tuple[Any, list[tuple[str, str]]]] = {}
    for line_no, obj in read_jsonl(path):
        qid = _require_id(path, line_no, obj)
        common = obj.get("common_answers")
        if not isinstance(common, list) or not common:
            raise EvaluationInputError(
                f"{path}:{line_no}: \"common_answers\" must be a non-empty list of [name, value]"
            )
        answers = []
        for entry in common:
            if not (isinstance(entry, list) and len(entry) == 2):
                raise EvaluationInputError(f"{path}:{line_no}: answer {entry!r} is not a [name, value] pair")
            name, value = entry
            if not isinstance(name, str) or not isinstance(value, str):
                raise EvaluationInputError(
                    f"{path}:{line_no}: answer {entry!r}: name and value must be strings "
                    f"(got {type(name).__name__}, {type(value).__name__})"
                )
            answers.append((name, value))
        if id_key(qid) in labels:
            raise EvaluationInputError(f"{path}:{line_no}: id {qid!r} appears twice")
        labels[id_key(qid)] = (qid, answers)
    return labels


def load_dabench_questions(questions_path: str, labels_path: str) -> tuple[list[Question], Counter]:
    """The labelled questions, with concepts and level from the questions file, and notes.

    A label whose id is not in the questions file is still scored (without concepts or level); a
    question without a label is not scored. Both are counted in the notes.
    """
    details: dict[str, dict[str, Any]] = {}
    for line_no, obj in read_jsonl(questions_path):
        qid = _require_id(questions_path, line_no, obj)
        concepts = obj.get("concepts", [])
        if not isinstance(concepts, list) or not all(isinstance(c, str) for c in concepts):
            raise EvaluationInputError(f"{questions_path}:{line_no}: \"concepts\" must be a list of strings")
        level = obj.get("level")
        if level is not None and not isinstance(level, str):
            raise EvaluationInputError(f"{questions_path}:{line_no}: \"level\" must be a string")
        details[id_key(qid)] = {"concepts": concepts, "level": level}
    labels = load_labels(labels_path)
    notes: Counter = Counter()
    questions = []
    for key, (qid, answers) in labels.items():
        if key not in details:
            notes["labels without a question (no concepts or level)"] += 1
        info = details.get(key, {})
        questions.append(Question(qid, answers, info.get("concepts", []), info.get("level")))
    notes["questions without a label (not scored)"] += len(details.keys() - labels.keys())
    return questions, +notes


def load_responses(path: str) -> tuple[dict[str, str], Counter]:
    """id key -> response text, and notes on the lines that answer nothing.

    As in the official script, the first line with an id and a non-empty response is the one
    scored; a line with no, an empty or a non-string "response" answers nothing (counted in the
    notes). A line that is not a JSON object or has no usable id is an error.
    """
    responses: dict[str, str] = {}
    notes: Counter = Counter()
    for line_no, obj in read_jsonl(path):
        key = id_key(_require_id(path, line_no, obj))
        text = obj.get("response")
        if "response" not in obj or text is None:
            notes["responses with no \"response\""] += 1
        elif not isinstance(text, str):
            notes["responses that are not a string"] += 1
        elif not text:
            notes["empty responses"] += 1
        elif key in responses:
            notes["repeated responses (the first is scored)"] += 1
        else:
            responses[key] = text
    return responses, notes


TASK_COLUMNS = ("id", "answers", "label", "concepts", "difficulty")


def task_shard_paths(dataset_dir: str, config: str) -> list[str]:
    """The Parquet shards of one config; `all` is `interactive` + `sft` (the card's globs)."""
    from nbqa_builder.publish.load import DatasetReadError, config_shard_paths

    try:
        return config_shard_paths(dataset_dir, config)
    except DatasetReadError as exc:
        raise EvaluationInputError(str(exc)) from None


def read_task_rows(paths: Iterable[str], columns: Iterable[str]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(shard, row number, row) with the columns asked for that the shards have."""
    from nbqa_builder.publish.load import DatasetReadError, read_shard_rows

    try:
        for path, row_no, row in read_shard_rows(paths, columns):
            if "id" not in row:
                raise EvaluationInputError(f"{path}: no \"id\" column; is this a task shard?")
            yield path, row_no, row
    except DatasetReadError as exc:
        raise EvaluationInputError(str(exc)) from None


def load_task_questions(dataset_dir: str, config: str = "all") -> tuple[list[Question], Counter]:
    """Our task shards as questions: `answers` is the label (or, if empty, the items of `label`)."""
    questions: dict[str, Question] = {}
    notes: Counter = Counter()
    for path, row_no, row in read_task_rows(task_shard_paths(dataset_dir, config), TASK_COLUMNS):
        qid = row.get("id")
        if not _valid_id(qid) or qid == "":
            raise EvaluationInputError(f"{path}: row {row_no}: task has no id")
        answers = [(a["name"], a["value"]) for a in row.get("answers") or []]
        if not answers and row.get("label"):
            answers = parse_answers(row["label"], STRICT)
        if not answers:
            notes["tasks without answers (not scored)"] += 1
            continue
        if id_key(qid) in questions:
            raise EvaluationInputError(f"{path}: row {row_no}: task id {qid!r} appears twice")
        questions[id_key(qid)] = Question(qid, answers, list(row.get("concepts") or []), row.get("difficulty"))
    return list(questions.values()), notes


# ---------------------------------------------------------------------------------------------
# Scoring and metrics


def score_questions(questions: Iterable[Question], responses: dict[str, str], mode: str = STRICT) -> list[QuestionResult]:
    """One result per question; unanswered ones have `answered=False` and every sub-answer False."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    results = []
    for question in questions:
        text = responses.get(question.key)
        if text is None:
            results.append(QuestionResult(question, False, {name: False for name, _ in question.answers}))
        else:
            results.append(QuestionResult(question, True, score_response(text, question.answers, mode)))
    return results


def scored_results(results: Iterable[QuestionResult], unanswered: str = SKIP) -> list[QuestionResult]:
    """The results that count: all of them, or only the answered ones (`unanswered="skip"`)."""
    if unanswered not in UNANSWERED_POLICIES:
        raise ValueError(f"unknown unanswered policy {unanswered!r}; expected one of {', '.join(UNANSWERED_POLICIES)}")
    return [r for r in results if r.answered or unanswered == WRONG]


def metrics(results: list[QuestionResult]) -> dict[str, Any]:
    """ABQ, PSAQ, UASQ over these results (None when there are none) and how many there are."""
    if not results:
        return {"n": 0, "ABQ": None, "PSAQ": None, "UASQ": None}
    sub_right = sum(sum(r.sub.values()) for r in results)
    sub_total = sum(len(r.sub) for r in results)
    return {
        "n": len(results),
        "ABQ": sum(r.correct for r in results) / len(results),
        "PSAQ": sum(sum(r.sub.values()) / len(r.sub) for r in results) / len(results),
        "UASQ": sub_right / sub_total,
    }


def _grouped(results: list[QuestionResult], keys_of) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[QuestionResult]] = {}
    for result in results:
        for key in keys_of(result.question):
            groups.setdefault(key, []).append(result)
    return {key: metrics(group) for key, group in sorted(groups.items())}


def summarize(results: list[QuestionResult], mode: str = STRICT, unanswered: str = SKIP) -> dict[str, Any]:
    """The whole report: overall metrics and the breakdowns, over the results that count."""
    counted = scored_results(results, unanswered)
    n_answered = sum(r.answered for r in results)
    by_count = _grouped(counted, lambda q: [str(len(q.concepts))] if q.concepts else [])
    two_or_more = [r for r in counted if len(r.question.concepts) >= 2]
    if two_or_more:
        by_count[">=2"] = metrics(two_or_more)
    overall = metrics(counted)
    return {
        "mode": mode,
        "unanswered_policy": unanswered,
        "questions": len(results),
        "answered": n_answered,
        "unanswered": len(results) - n_answered,
        "scored": overall["n"],
        **{m: overall[m] for m in METRICS},
        "by_concept": _grouped(counted, lambda q: q.concepts),
        "by_level": _grouped(counted, lambda q: [q.level] if q.level else []),
        "by_concept_count": by_count,
    }


def per_question_rows(results: list[QuestionResult], unanswered: str = SKIP) -> Iterator[dict[str, Any]]:
    """`{"id", "correct", "sub"}` for each result that counts."""
    for result in scored_results(results, unanswered):
        yield {"id": result.question.id, "correct": result.correct, "sub": result.sub}


def format_table(summary: dict[str, Any], notes: Counter | None = None) -> str:
    """A plain-text report of `summarize`'s output, percentages with two decimals."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.2f}%"

    def rows(title: str, groups: dict[str, dict[str, Any]]) -> list[str]:
        if not groups:
            return []
        width = max(len(title), *(len(k) for k in groups))
        out = ["", f"{title:<{width}}  {'n':>5}  " + "  ".join(f"{m:>8}" for m in METRICS)]
        for key, m in groups.items():
            out.append(f"{key:<{width}}  {m['n']:>5}  " + "  ".join(f"{pct(m[x]):>8}" for x in METRICS))
        return out

    lines = [
        f"mode: {summary['mode']}   unanswered: {summary['unanswered_policy']}",
        f"questions: {summary['questions']}   answered: {summary['answered']}   "
        f"unanswered: {summary['unanswered']}   scored: {summary['scored']}",
    ]
    lines += rows("overall", {"all": {"n": summary["scored"], **{m: summary[m] for m in METRICS}}})
    lines += rows("concept", summary["by_concept"])
    lines += rows("level", summary["by_level"])
    lines += rows("concepts", summary["by_concept_count"])
    for note, count in sorted((notes or {}).items()):
        lines.append(f"note: {count} {note}")
    return "\n".join(lines)
