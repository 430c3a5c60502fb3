"""Recipes: YAML files read into typed models.

An unknown key or a bad value is a `RecipeError` whose message names the file, the line and the
key, e.g. `recipes/x.yaml:7: steps[1].filter.min_data_rowz: unknown key (did you mean
min_data_rows?)`; every problem of the recipe is reported, one a line. The CLI prints them and
exits with code 2.

Paths in a recipe (`source.path`, `source.repositories_file`, `output`) are relative to the
recipe's own folder, as most tools read them; `Recipe.as_written()` gives them as the file spells them.

Steps are named in `STEP_CLASSES`; each step class carries its own pydantic `Config`, so adding a
step means adding one line here and one module.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from nbqa_builder.step import GlobalStep, Step

# name -> "module:Class". Imported lazily so a recipe check does not pull heavy dependencies.
STEP_CLASSES: dict[str, str] = {
    "validate": "nbqa_builder.notebooks.validate:ValidateStep",
    "deps": "nbqa_builder.deps.step:DepsStep",
    "filter": "nbqa_builder.filters.step:FilterStep",
    "dedup": "nbqa_builder.dedup.step:DedupStep",
    "extract": "nbqa_builder.extract.step:ExtractStep",
    "execute": "nbqa_builder.sandbox.step:ExecuteStep",
    "verify": "nbqa_builder.sandbox.step:VerifyStep",
    "redact": "nbqa_builder.redact.step:RedactStep",
    "solve": "nbqa_builder.solve.step:SolveStep",
}


# a GitHub "owner/name": owners are alphanumeric with dashes, names also allow "." and "_"
REPO_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}"


class RecipeError(ValueError):
    """A recipe that cannot be used; the message is meant for the user as it is."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocalSource(Strict):
    kind: Literal["local"]  # notebooks already on this machine (a folder, a clone, a crawl's mirror)
    path: str  # a folder of repositories, or one repository
    # glob patterns of notebooks to read, relative to each repository
    include: list[str] = ["**/*.ipynb"]
    # auto: one repository if the folder is a git checkout (or a crawl mirror's repository),
    # else each subfolder is one; single / folders force either reading
    layout: Literal["auto", "single", "folders"] = "auto"
    # a notebook larger than this is not read at all (recorded as dropped "too_large")
    max_notebook_bytes: int = 50_000_000
    # read only this many notebooks (null: all): a quick trial of a large folder (`run --limit N`)
    limit: int | None = Field(None, ge=1)
    # with `limit`: draw the notebooks at random instead of taking the first ones in path order
    # (`run --sample N`)
    sample: bool = False
    seed: int = 0  # the draw of `sample`: the same seed, the same notebooks, so a trial can be repeated


class CodeSearch(Strict):
    """Discovery by code search: `<terms> extension:ipynb size:lo..hi`, sliced by file size."""

    # the legacy code-search API wants a search term besides qualifiers; analysis notebooks
    # almost all import pandas
    terms: str = Field("pandas", min_length=1)
    # GitHub's code index holds only files under 384 KB, so larger sizes find nothing
    min_size: int = Field(0, ge=0)
    max_size: int = Field(384_000, ge=1)  # (the index's limit: larger files are never found)
    # GitHub returns at most 1,000 results per search query; a slice whose count comes near it is halved
    result_cap: int = Field(1000, ge=1)

    @model_validator(mode="after")
    def _sizes_in_order(self) -> "CodeSearch":
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} is above max_size {self.max_size}")
        return self


class FetchUrls(Strict):
    """Data that notebooks read by URL, fetched at crawl time into the mirror (sources/github/urls.py)."""

    # files that another public GitHub repository serves at a raw, blob or gist URL, fetched through
    # the crawl's own REST client and token; a notebook whose reads are all fetched can re-run offline.
    # The holding repository's license must be one of `licenses` (a gist has none: only `licenses: null`)
    github: bool = True
    # other hosts (exact names, e.g. "data.example.org") whose files may be fetched, by plain GET,
    # without credentials, redirects only among these hosts. Empty: off, since a stranger's server
    # may serve anything and every host allowed is a host the crawl trusts
    hosts: list[str] = []
    # a larger file is not fetched (recorded `over_cap`); the same cap as the data files of a repository
    max_bytes: int = Field(50_000_000, ge=1)
    # per request to a host of `hosts`; a server slower than this is recorded as `timeout`
    timeout_s: float = Field(30, gt=0)

    @model_validator(mode="after")
    def _hosts_are_names(self) -> "FetchUrls":
        for host in self.hosts:
            if not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?", host):
                raise ValueError(f"hosts: {host!r} is not a host name (give it without scheme or path, e.g. data.example.org)")
        self.hosts = [host.lower() for host in self.hosts]
        return self


class GithubSource(Strict):
    """Crawl GitHub (sources/github/). The token comes from GITHUB_TOKEN or GITHUB_TOKENS, never from here."""

    kind: Literal["github"]  # crawl GitHub: repositories found by the discovery keys below, into a local mirror
    # Crawled notebooks are strangers' code: they run in the `bwrap` sandbox. `trusted: true` says
    # you trust them anyway (e.g. your organisation's repositories), and only then may the
    # execute and verify steps use `sandbox: process`, which isolates nothing.
    trusted: bool = False  # only then may execute and verify use `sandbox: process`
    # the REST API root; a GitHub Enterprise server has its own (https://HOST/api/v3)
    api_url: str = Field("https://api.github.com", pattern=r"^https?://[^\s/]+")
    # discovery, any combination of the four; at least one is needed
    repositories: list[str] = []  # "owner/name" entries
    repositories_file: str | None = None  # one "owner/name" or GitHub URL a line; "#" starts a comment
    repo_search: str | None = None  # a repository search query, e.g. "language:jupyter-notebook stars:>=5"
    code_search: CodeSearch | None = None  # notebooks found by GitHub's code search (below)
    # forks mostly repeat their parent's notebooks
    include_forks: bool = False
    # archived repositories are frozen and often abandoned; skipped unless asked for
    include_archived: bool = False
    # SPDX ids the API reports; the dataset ships data files, so only licences that allow
    # redistribution are kept by default. null keeps every repository, with or without a licence.
    licenses: list[str] | None = [
        "MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Unlicense", "0BSD",
        "CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0", "MPL-2.0", "Zlib", "BSL-1.0",
    ]  # fmt: skip
    # file choice: by extension (lower case, with the dot) and size from the tree listing
    notebook_extensions: list[str] = [".ipynb"]
    # the formats analysis notebooks read with pandas/numpy; images and models are not data here
    data_extensions: list[str] = [
        ".csv", ".tsv", ".txt", ".dat", ".data", ".json", ".jsonl", ".xlsx", ".xls", ".parquet",
        ".feather", ".pkl", ".pickle", ".h5", ".hdf5", ".npy", ".npz", ".zip", ".gz", ".sqlite", ".db",
    ]  # fmt: skip
    # the local source reads notebooks up to 50 MB; a larger one would be fetched for nothing
    max_notebook_bytes: int = Field(50_000_000, ge=1)
    # the git blob API serves up to 100 MB; bigger data rarely suits a sandboxed task
    max_data_file_bytes: int = Field(50_000_000, ge=1)
    # longest rate-limit wait to sit through; a longer one stops the crawl cleanly (run again to resume).
    # An hour covers GitHub's primary window.
    max_wait_s: float = Field(3600, ge=0)
    # wait after a secondary-limit reply that gives no Retry-After; GitHub asks for at least a minute
    secondary_wait_s: float = Field(60, ge=0)
    # per request; GitHub answers in well under a second, a blob of 50 MB in a few
    timeout_s: int = Field(60, ge=1)
    # tries for a request failing with 5xx, a dropped connection, a timeout or a garbled reply
    retries: int = Field(6, ge=1)
    # first backoff between those tries, doubled each time (with jitter)
    retry_backoff_s: float = Field(2.0, ge=0)
    # pause between requests of one token; GitHub asks integrators to avoid bursts
    request_interval_s: float = Field(0.25, ge=0)
    # how files are downloaded. `git`: a shallow, blob-less clone of the default branch, then one
    # fetch of exactly the chosen blobs; GitHub does not count git traffic against the REST rate
    # limit, which is left for search, metadata and the tree (2 requests a repository, not one a
    # file: the paper's 47 k repositories in under a day with one token). `api`: one REST request a file.
    fetch: Literal["git", "api"] = "git"
    # git fetches at once (each waits on the network, not on this machine)
    git_workers: int = Field(4, ge=1)
    # a blob-less clone (commit and trees, no file content) past this size is stopped and the
    # repository recorded as `skipped:clone_too_large`; the trees of large repositories weigh a few MB
    max_clone_bytes: int = Field(200_000_000, ge=1)
    # longest one git command may run (a clone, or one repository's batch of blobs); a stalled
    # transfer is cut sooner: under 1 KB/s for timeout_s
    git_timeout_s: int = Field(1800, ge=1)
    # data that notebooks read by URL (another repository, a gist, an allowed host), fetched once
    # at crawl time, never by the sandbox (below)
    fetch_urls: FetchUrls = Field(default_factory=FetchUrls)

    @model_validator(mode="after")
    def _has_discovery(self) -> "GithubSource":
        if not (self.repositories or self.repositories_file or self.repo_search or self.code_search):
            raise ValueError("give at least one of repositories, repositories_file, repo_search, code_search")
        for name in self.repositories:
            if not re.fullmatch(REPO_NAME, name):
                raise ValueError(f"repositories: {name!r} is not an owner/name")
        return self


class RayResources(Strict):
    """What one Ray task of a step asks the cluster for (executors/ray.py gives each step's default)."""

    num_cpus: float | None = Field(None, gt=0)  # CPUs a task holds while it runs (a fraction packs tasks closer)
    memory_mb: int | None = Field(None, ge=0)  # Ray schedules by it; the sandbox enforces its own limit
    max_in_flight: int | None = Field(None, ge=1)  # parts of the stage running at once, cluster-wide


class ExecutorConfig(Strict):
    # local: a process pool on this machine; ray: Ray tasks over the same parts (executors/ray.py)
    kind: Literal["local", "ray"] = "local"
    workers: int = Field(2, ge=1)  # processes; the default fits a 2-core laptop (ray, address local: CPUs)
    # ray: the cluster. local: start one in this process; auto: the one `ray start` began on this
    # machine; host:port or ray://host:10001: a remote head
    address: str = "local"
    # ray: where `_work/` lives, when `<output>/_work` is not on a file system every node reads:
    # s3://bucket/prefix, gs://bucket/prefix, file:///shared/path (pyarrow.fs; other schemes through fsspec)
    storage: str | None = None
    # ray: per step name, the resources of its tasks (defaults: executors/ray.py, STEP_DEFAULTS)
    resources: dict[str, RayResources] = {}
    # ray: shards of the global steps' reduce; 0 picks max(CPUs, notebooks / 50,000)
    reduce_shards: int = Field(0, ge=0)
    part_size: int = Field(200, ge=1)  # notebooks per part: the unit of resume
    # ...and at most this many bytes of notebooks per part: a worker holds one part's notebooks,
    # parsed (several times their size), so this bounds its memory whatever the notebooks weigh
    part_max_bytes: int = Field(64_000_000, ge=1)
    # notebooks that go through a stage's steps together; a dropped one is let go of at the end
    # of its chunk, so a worker's memory is one chunk parsed plus the part's kept notebooks
    chunk_size: int = Field(16, ge=1)


class PublishConfig(Strict):
    hub: str | None = None  # "org/name" to push to, None to stay local
    private: bool = False  # a new Hub repository is private: a company's own notebooks stay its own


class Recipe(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # the run's name: the card's title, in stats and logs
    # where the notebooks come from: `kind: local` or `kind: github` (their keys below)
    source: LocalSource | GithubSource = Field(discriminator="kind")
    # the steps in order, each `- name: {settings}` (their keys below); the first is `validate`
    steps: list[dict[str, Any]]
    output: str  # the run's folder: dataset/, stats.json, rejects/, and _work/ (the parts, for resume)
    # the tiers the dataset holds (NBQA.md, "The two tiers"). `sft` keeps the notebooks that cannot
    # re-run offline (a network read, a missing file or module, a removed API, a failed re-run):
    # their tasks are grounded in the stored outputs, as the paper's 31,790 SFT tasks are; one whose
    # own solution re-runs with its files alone is interactive all the same. [interactive] drops
    # those notebooks before extraction and writes only the tasks that re-ran and verified (fewer
    # interactive tasks than the two-tier run).
    tiers: list[Literal["interactive", "sft"]] = Field(["interactive", "sft"], min_length=1)
    executor: ExecutorConfig = ExecutorConfig()  # how the work is spread over processes (below)
    publish: PublishConfig = PublishConfig()  # where the dataset goes after the run (below)
    # where the recipe came from; relative paths in it are relative to its folder
    path: str | None = None
    # the paths as the file spells them, before they were made relative to the recipe's folder
    _written: dict[str, str] = PrivateAttr(default_factory=dict)

    def resolve_paths(self, base: Path) -> None:
        """Make the recipe's relative paths relative to `base` (the recipe's folder)."""
        source = self.source
        for owner, field in ((self, "output"), (source, "path"), (source, "repositories_file")):
            value = getattr(owner, field, None)
            if value is not None and not os.path.isabs(os.path.expanduser(value)):
                self._written[f"{'source.' if owner is source else ''}{field}"] = value
                setattr(owner, field, os.path.normpath(base / value))

    def written_as(self, key: str) -> str | None:
        """How the file spelled a path it gave relative (`source.path`, `output`), if it did."""
        return self._written.get(key)

    def as_written(self) -> dict[str, Any]:
        """The recipe as a mapping, paths as the file spells them (what a card shows)."""
        data = self.model_dump(exclude={"path"}, exclude_none=True)
        for key, value in self._written.items():
            owner, _, field = key.rpartition(".")
            if field in (data[owner] if owner else data):
                (data[owner] if owner else data)[field] = value
        return data

    def build_steps(self, **context: Any) -> list[Step]:
        context.setdefault("tiers", tuple(self.tiers))
        return [step_class(name)(config, label=label, **context)
                for (name, config), label in zip(self.step_configs(), self.step_labels())]

    def step_labels(self) -> list[str]:
        """Each step's name; a step that appears again is `name#2`, `name#3`... in stats and rejects."""
        seen: dict[str, int] = {}
        labels = []
        for entry in self.steps:
            name = next(iter(entry))
            seen[name] = seen.get(name, 0) + 1
            labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
        return labels

    def step_configs(self) -> list[tuple[str, Any]]:
        configs = []
        for entry in self.steps:
            ((name, settings),) = entry.items()
            configs.append((name, step_class(name).Config.model_validate(settings or {})))
        return configs


def untrusted_process_sandboxes(recipe: Recipe) -> list[str]:
    """One message per step that would run untrusted crawled notebooks in the `process` sandbox
    (`validate` warns, `run` refuses)."""
    if recipe.source.kind != "github" or recipe.source.trusted:
        return []
    return [
        f"steps[{index}].{name}: sandbox: process runs crawled GitHub notebooks without isolation; "
        "use sandbox: bwrap, or set `trusted: true` in the source if you trust its code"
        for index, (name, config) in enumerate(recipe.step_configs())
        if getattr(config, "sandbox", None) == "process"
    ]


def step_class(name: str) -> type[Step]:
    module_name, class_name = STEP_CLASSES[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe file. Raises RecipeError naming file, line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read recipe: {exc}") from None
    return parse_recipe(text, str(path))


def parse_recipe(text: str, filename: str = "<recipe>") -> Recipe:
    """Check a recipe; its relative paths are taken from the folder of `filename` (from the
    current folder for a recipe without a file). Every problem is reported in one RecipeError."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark else filename
        raise RecipeError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{filename}: a recipe is a mapping with name, source, steps and output")
    problems: list[str] = []
    recipe = None
    try:
        recipe = Recipe.model_validate({**data, "path": filename})
    except ValidationError as exc:
        problems += [_problem(error, node, filename, (), _field_names(Recipe)) for error in exc.errors()]
    steps = data.get("steps") if isinstance(data.get("steps"), list) else []
    problems += _step_problems(steps, node, filename)
    if problems:  # in the order of the file's lines
        ordered = sorted(dict.fromkeys(problems), key=lambda line: int(m.group(1)) if (
            m := re.match(rf"{re.escape(filename)}:(\d+):", line)) else 0)
        raise RecipeError("\n".join(ordered))
    assert recipe is not None
    recipe.resolve_paths(Path(filename).parent if filename != "<recipe>" else Path.cwd())
    return recipe


def _step_problems(steps: list[Any], node: Any, filename: str) -> list[str]:
    problems = []
    names = [next(iter(entry)) if isinstance(entry, dict) and len(entry) == 1 else None for entry in steps]
    for index, entry in enumerate(steps):
        loc: tuple[Any, ...] = ("steps", index)
        if names[index] is None:
            problems.append(f"{_where(node, filename, loc)}: steps[{index}]: each step is one `name: {{settings}}` mapping")
            continue
        ((name, settings),) = entry.items()
        if name not in STEP_CLASSES:
            known = ", ".join(sorted(STEP_CLASSES))
            problems.append(f"{_where(node, filename, loc + (name,))}: steps[{index}].{name}: unknown step"
                            f"{_did_you_mean(str(name), STEP_CLASSES)} (known: {known})")
            continue
        if index == 0 and name != "validate":
            problems.append(f"{_where(node, filename, loc)}: steps[0]: the first step must be `validate` (it parses the notebooks)")
        if settings is not None and not isinstance(settings, dict):
            problems.append(f"{_where(node, filename, loc + (name,))}: steps[{index}].{name}: settings must be a mapping")
            continue
        config_class = step_class(name).Config
        try:
            config = config_class.model_validate(settings or {})
        except ValidationError as exc:
            problems += [_problem(error, node, filename, loc + (name,), _field_names(config_class))
                         for error in exc.errors()]
            continue
        for needed in step_class(name).required_steps(config):
            if needed not in names[:index]:
                hint = REQUIRED_HINTS.get(needed, "")
                problems.append(f"{_where(node, filename, loc)}: steps[{index}].{name}: needs the `{needed}` step before it{hint}")
        earlier_global = [e for e in names[:index] if e in STEP_CLASSES and issubclass(step_class(e), GlobalStep)]
        if name == "redact" and earlier_global:
            problems.append(f"{_where(node, filename, loc)}: steps[{index}].redact: must come before "
                            f"{', '.join(earlier_global)}: a global step ends a stage, whose part files would hold "
                            "the text redaction removes")
    return problems


# what to add, for the steps a recipe most often forgets
REQUIRED_HINTS = {
    "redact": " (add `- redact: {}` after the filters: nothing runs or is stored before credentials are redacted)",
}


def _problem(error: dict[str, Any], root: Any, filename: str, prefix: tuple[Any, ...], fields: set[str]) -> str:
    # pydantic puts the discriminator's tag into the location; it is not a key of the file
    loc = prefix + tuple(part for part in error["loc"] if part not in ("local", "github"))
    key = _dotted(loc)
    if error["type"] == "extra_forbidden":
        message = "unknown key" + _did_you_mean(str(loc[-1]), fields)
    else:
        message = error["msg"]
        if error["type"] != "missing":
            message += f" (got {error.get('input')!r})"
    return f"{_where(root, filename, loc)}: {key}: {message}"


def _did_you_mean(word: str, known: typing.Iterable[str]) -> str:
    known = set(known)
    if word in known:  # spelled right, in the wrong place (`trusted` of a local source)
        return f" ({word} is a key of another part of a recipe, not of this one: see docs/recipe.md)"
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


def _field_names(model: type[BaseModel]) -> set[str]:
    """The keys a model and the models inside it take (the candidates of "did you mean")."""
    names: set[str] = set()
    pending, seen = [model], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, field in current.model_fields.items():
            names.add(name)
            annotation = field.annotation
            for inner in (annotation, *typing.get_args(annotation)):
                for candidate in (inner, *typing.get_args(inner)):
                    if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                        pending.append(candidate)
    return names


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _where(root: Any, filename: str, loc: tuple[Any, ...]) -> str:
    """`file:line` of the deepest YAML node on the path `loc`."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    child, line = value_node, key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return f"{filename}:{line}" if line else filename
