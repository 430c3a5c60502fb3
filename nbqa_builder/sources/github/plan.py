"""`--plan`: what a crawl will cost, in requests and hours, in both fetch modes, before it runs.

It reads the rate limits (free), the search results when they are few (a few search requests), and
the crawl state an earlier run left; it downloads nothing. GitHub that cannot be reached is an
error at once, not an estimate of nothing. A repository found by several discovery keys counts
once; one whose tree an earlier run listed counts its own files left, the others the paper's
average; requests that fit in what is left of the rate-limit window cost their round trips, not a
share of the hour.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests
from github import GithubException

from nbqa_builder.recipe import GithubSource
from nbqa_builder.sources.github.api import CODE_SEARCH, CORE, SEARCH, GithubApi, tokens_from_environment
from nbqa_builder.sources.github.discovery import NEAR_CAP, SEARCH_PAGE, read_repository_list
from nbqa_builder.sources.github.errors import CrawlError, PermanentError, TransientExhausted
from nbqa_builder.sources.github.state import CrawlState

# the paper: about 1.6 M notebooks and 3.2 M data files from about 47 k repositories
PAPER_FILES_PER_REPO = (1_600_000 + 3_200_000) / 47_000
PAPER_NOTEBOOKS_PER_REPO = 1_600_000 / 47_000
# the plan's requests wait this long for a reply: "cannot be reached" must come in seconds
PROBE_TIMEOUT_S = 5
# a search with up to this many results is read whole, so its repositories are known by name
READ_ALL_RESULTS = 300
# one REST request's round trip to api.github.com: 159 requests took 44 s in a measured crawl
# (0.28 s each, with request_interval_s 0.25)
REST_REPLY_S = 0.28
API_REST_PER_REPO = 3  # fetch: api lists a repository with its metadata, branch and tree
GIT_REST_PER_REPO = 2  # fetch: git asks REST for the metadata and the tree (git trees hold no sizes)
# a shallow clone (capabilities, ls-refs, fetch) and one fetch of the blobs (capabilities, fetch)
GIT_REQUESTS_PER_REPO = 5
# the git work of a repository (two fetches: round trips and GitHub packing): an assumption,
# git_workers of them run at once
GIT_SECONDS_PER_REPO = 3.0


@dataclass
class Work:
    """What is left to crawl."""

    names: set[str] = field(default_factory=set)  # repositories known by name (lower case)
    unnamed: float = 0.0  # more repositories estimated from search counts not read whole
    known_to_list: int = 0  # of `names`: still to list, from the crawl state
    listed: int = 0  # listed by an earlier run, with files left
    files_known: int = 0  # those files
    search_requests: float = 0.0
    code_search_requests: float = 0.0


def plan_crawl(settings: GithubSource, output_dir: Path | None = None) -> str:
    """The plan as text to print. Raises CrawlError when GitHub cannot be reached or rejects every token."""
    tokens = tokens_from_environment()
    quick = settings.model_copy(update={"timeout_s": min(settings.timeout_s, PROBE_TIMEOUT_S)})
    api = GithubApi(quick, tokens)
    lines = [f"GitHub crawl plan ({settings.api_url}, {len(tokens) or 'no'} token{'s' if len(tokens) != 1 else ''})"]
    try:
        limits, origin = _limits(api, settings, tokens)
        work = _work_left(api, settings, output_dir, lines)
    finally:
        api.close()
    to_list = work.known_to_list + work.unnamed
    files = to_list * PAPER_FILES_PER_REPO + work.files_known
    lines.append(f"files to fetch: about {files:,.0f}" + (
        f" ({work.files_known:,} known from the trees already listed, {PAPER_FILES_PER_REPO:.0f} a repository "
        "for the others, the paper's average)" if work.files_known else
        f" ({PAPER_FILES_PER_REPO:.0f} a repository, the paper's average)" if to_list else ""))
    core_limit, core_left = limits[CORE]
    lines.append(f"limits ({origin}): {core_limit:,}/hour core ({core_left:,} left now), {limits[SEARCH][0]}/minute search, "
                 f"{limits[CODE_SEARCH][0]}/minute code search, over all tokens")
    search_hours = work.search_requests / max(limits[SEARCH][0], 1) / 60
    search_hours += work.code_search_requests / max(limits[CODE_SEARCH][0], 1) / 60
    if work.search_requests or work.code_search_requests:
        lines.append(f"search requests: about {work.search_requests + work.code_search_requests:,.0f}")
    rest_hours = lambda n: _rest_hours(n, core_limit, core_left, len(api.tokens), settings.request_interval_s)  # noqa: E731

    api_rest = to_list * (API_REST_PER_REPO + PAPER_FILES_PER_REPO) + work.files_known
    git_rest = to_list * GIT_REST_PER_REPO
    git_repos = to_list + work.listed
    git_hours = git_repos * GIT_SECONDS_PER_REPO / settings.git_workers / 3600
    hours = {
        "git": search_hours + max(rest_hours(git_rest), git_hours),
        "api": search_hours + rest_hours(api_rest),
    }
    used = settings.fetch
    lines.append(
        f"fetch: git{' (this recipe)' if used == 'git' else ''}: about {git_rest:,.0f} REST requests "
        f"({GIT_REST_PER_REPO} a repository: metadata, tree) and {git_repos * GIT_REQUESTS_PER_REPO:,.0f} git requests "
        f"(not counted by the REST limit; about {GIT_SECONDS_PER_REPO:g} s a repository, {settings.git_workers} at once): "
        f"about {_duration(hours['git'])}"
    )
    lines.append(
        f"fetch: api{' (this recipe)' if used == 'api' else ''}: about {api_rest:,.0f} REST requests "
        f"({API_REST_PER_REPO} a repository to list it, plus one a file): about {_duration(hours['api'])}"
    )
    recipe_rest = git_rest if used == "git" else api_rest
    if 0 < recipe_rest <= core_left:
        lines.append(f"  the {recipe_rest:,.0f} REST requests of fetch: {used} fit in what is left of this hour's limit: no wait")
    lines.append(f"time: about {_duration(hours[used])} with fetch: {used}, as this recipe says (more tokens share the REST work)")
    return "\n".join(lines)


def _limits(api: GithubApi, settings: GithubSource, tokens: list[str]) -> tuple[dict[str, tuple[int, int]], str]:
    """resource -> (per window, left now) over the tokens, and where they come from."""
    try:
        return api.limits(), "read from /rate_limit"
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise CrawlError(
            f"GitHub cannot be reached at {settings.api_url} ({_network_reason(exc)}); "
            "check the network connection (or the source's api_url) and plan again"
        ) from None
    except GithubException as exc:
        # a GitHub Enterprise server with rate limiting off has no /rate_limit: GitHub's documented limits
        per = len(api.tokens) if tokens else 1
        core, search = (5000 * per, 30 * per) if tokens else (60, 10)
        limits = {CORE: (core, core), SEARCH: (search, search), CODE_SEARCH: (10 * per, 10 * per)}
        return limits, f"GitHub's documented limits; /rate_limit answered {exc.status}"


def _network_reason(exc: Exception) -> str:
    text = str(exc)
    found = re.findall(r"\[Errno -?\d+\] [^'\")]+|timed out|Name or service not known|Connection refused", text)
    return found[-1].strip() if found else type(exc).__name__


def _work_left(api: GithubApi, settings: GithubSource, output_dir: Path | None, lines: list[str]) -> Work:
    work = Work()
    state_file = Path(output_dir) / "_work" / "crawl" / "state.sqlite" if output_dir is not None else None
    state = CrawlState(state_file) if state_file is not None and state_file.is_file() else None
    try:
        facts = state.plan_facts() if state is not None else {"names": set(), "to_list": 0, "listed": 0, "files": 0}
        work.known_to_list, work.listed, work.files_known = facts["to_list"], facts["listed"], facts["files"]
        listed = {n.lower() for n in settings.repositories}
        if settings.repositories_file:
            listed |= {n.lower() for n in read_repository_list(settings.repositories_file)}
        work.names = set(listed)
        counted = [f"listed {len(listed):,}"] if listed else []
        if settings.repo_search and not (state and state.get_meta(f"repo_search_done:{settings.repo_search}")):
            query = settings.repo_search
            total, names = _search(api, SEARCH, lambda gh: gh.search_repositories(query), READ_ALL_RESULTS, lines, "repository search")
            work.search_requests += math.ceil(min(total, 1000) / SEARCH_PAGE)
            counted.append(_found("repository search", total, names, "results"))
            if total > 1000:
                lines.append(f"  note: only the first 1,000 of {total:,} repository search results can be read; narrow the query")
            work.names |= names if names is not None else set()
            work.unnamed += min(total, 1000) if names is None else 0
        cs = settings.code_search
        if cs is not None and not (state and state.code_search_done(cs.terms)):
            query = f"{cs.terms} extension:ipynb size:{cs.min_size}..{cs.max_size}"
            # one query serves at most result_cap results: more are read slice by slice, by the crawl
            read_up_to = min(READ_ALL_RESULTS, cs.result_cap)
            total, names = _search(api, CODE_SEARCH, lambda gh: gh.search_code(query), read_up_to, lines, "code search")
            slices = max(1, math.ceil(total / (cs.result_cap * NEAR_CAP)))
            work.code_search_requests += 2 * slices + math.ceil(total / SEARCH_PAGE)  # halving visits ~2 slices per leaf
            counted.append(_found("code search", total, names, "notebooks"))
            work.names |= names if names is not None else set()
            work.unnamed += total / PAPER_NOTEBOOKS_PER_REPO if names is None else 0
        if state is None:
            work.known_to_list = len(work.names)
        else:
            new = work.names - facts["names"]
            work.known_to_list += len(new)
            counted.append(f"{len(facts['names']):,} discovered by the crawl so far")
            work.names = facts["names"] | work.names
        repos = len(work.names) + work.unnamed
        lines.append(f"repositories: about {repos:,.0f} ({'; '.join(counted) or 'none'}; each counted once"
                     + (", but those of searches too large to read are estimated and may overlap)" if work.unnamed else ")"))
        if state is not None:
            lines.append(f"left by the crawl so far: {work.known_to_list + work.unnamed:,.0f} repositories to list, "
                         f"{work.listed:,} listed with {work.files_known:,} files to fetch")
    finally:
        if state is not None:
            state.close()
    return work


def _search(api: GithubApi, resource: str, search: Callable[[Any], Any], read_up_to: int, lines: list[str],
            what: str) -> tuple[int, set[str] | None]:
    """(the result count, the repositories of every result when there are at most `read_up_to`, else None)."""
    def page(number: int) -> Callable[[Any], tuple[int, list[str]]]:
        def read(gh: Any) -> tuple[int, list[str]]:
            results = search(gh)
            items = results.get_page(number)
            return int(results.totalCount), [(getattr(item, "repository", None) or item).full_name.lower() for item in items]
        return read

    try:
        total, names = api.call(resource, page(0), what)
        if total > read_up_to:
            return total, None
        found = set(names)
        for number in range(1, math.ceil(total / SEARCH_PAGE)):
            found |= set(api.call(resource, page(number), what)[1])
    except (PermanentError, TransientExhausted) as exc:
        lines.append(f"{what}: could not count results ({exc}); counted as 0")
        return 0, set()
    return total, found


def _found(what: str, total: int, names: set[str] | None, unit: str) -> str:
    if names is None:
        return f"{what}: {total:,} {unit}, too many to read here"
    return f"{what}: {total:,} {unit} in {len(names):,} repositories"


def _rest_hours(requests_: float, limit: int, left: int, tokens: int, interval_s: float) -> float:
    """Hours for this many core requests: their round trips, or the windows they need, whichever is longer."""
    # each token keeps request_interval_s between its own requests; one crawler thread makes them in turn
    paced = requests_ * max(REST_REPLY_S, interval_s / max(tokens, 1)) / 3600
    windows = 0.0 if requests_ <= left else (requests_ - left) / max(limit, 1)
    return max(paced, windows)


def _duration(hours: float) -> str:
    if hours * 60 < 1:
        return f"{hours * 3600:.0f} seconds"
    if hours < 1:
        return f"{hours * 60:.0f} minutes"
    if hours < 48:
        return f"{hours:.1f} hours"
    return f"{hours:,.0f} hours ({hours / 24:.1f} days)"
