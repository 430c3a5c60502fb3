"""The `github` source: crawl notebooks and data files from GitHub into a local mirror (sources/github/source.py).

What the rest of the project uses: `crawl`, `plan_crawl`, the errors a crawl stops with, and
`read_repository_list`. Importing the package needs no PyGithub; a crawl or a plan does.

The modules, each importing only those listed below it (never this `__init__`):

- source.py: `crawl` (the whole crawl, paused cleanly by SIGTERM) and `plan_crawl`;
- plan.py: `--plan`, the cost of a crawl before it runs;
- urls.py: the data notebooks read by URL, fetched after the crawl;
- git_crawler.py: the crawl with `fetch: git`, built on the REST crawler;
- crawler.py: the crawl with `fetch: api`: discovery, listing, fetching;
- transport.py: git's smart HTTP (a shallow blob-less clone, then the chosen blobs);
- reaper.py: the watchdog that ends git processes with the crawler;
- api.py: REST requests within GitHub's rate limits, with one or several tokens;
- reads.py: the files a repository's notebooks read, found in its tree;
- state.py: the crawl's state in SQLite and the manifest;
- discovery.py: the repository list file and the limits of GitHub's search;
- mirror.py: the mirror on disk, the files chosen from a tree, the provenance file;
- errors.py: the errors every layer raises or catches.
"""

from nbqa_builder.sources.github.discovery import read_repository_list
from nbqa_builder.sources.github.errors import MAX_FAILURES_IN_A_ROW, CrawlError, CrawlPaused
from nbqa_builder.sources.github.source import crawl, plan_crawl

__all__ = [
    "MAX_FAILURES_IN_A_ROW",
    "CrawlError",
    "CrawlPaused",
    "crawl",
    "plan_crawl",
    "read_repository_list",
]
