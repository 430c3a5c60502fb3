"""resolve_data_refs: data refs matched to the files of the notebook's repository."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import nbqa_builder.deps.resolve as resolve_module
from nbqa_builder.deps.resolve import RepoFiles, resolve_data_refs
from nbqa_builder.deps.step import DepsStep
from nbqa_builder.records import AMBIGUOUS, DYNAMIC, FOUND, MISSING, URL, Cell, DataRef, Notebook

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

FILES: dict[str, bytes] = {
    "nb/analysis.ipynb": b"{}",
    "nb/data/local.csv": b"a,b\n1,2\n",
    "nb/data/both.csv": b"from the notebook folder\n",
    "data/both.csv": b"from the root\n",
    "data/root.csv": b"x\n1\n2\n3",  # no final newline: still 4 rows
    "deep/x/unique.csv": b"u\n",
    "a/dup.csv": b"1\n",
    "b/dup.csv": b"2\n",
    "etc/passwd": b"not the real one\n",
    "bin/blob.dat": b"PK\x03\x04\x00\x00binary\n\n",
    "latin.csv": "name\nJosé\nRenée\n".encode("latin-1"),
    "mac.csv": b"a\rb\rc\r",
    "empty.csv": b"",
    "0 Data & Co/file one.csv": b"q\n",
    ".git/config": b"[core]\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name, content in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    (tmp_path / "secret.csv").write_bytes(b"outside the repository\n")
    return root


def notebook_in(repo: Path, path: str = "nb/analysis.ipynb", name: str = "Owner/Name") -> Notebook:
    return Notebook(notebook_id="test", repo=name, path=path, repo_dir=str(repo))


def resolve_one(repo: Path, as_written: str, status: str = MISSING, **notebook: str) -> DataRef:
    ref = DataRef(as_written=as_written, cell=0, call="pd.read_csv", status=status)
    resolve_data_refs(notebook_in(repo, **notebook), [ref], RepoFiles(repo))
    return ref


@pytest.mark.parametrize(
    "as_written, resolved",
    [
        ("data/local.csv", "nb/data/local.csv"),  # relative to the notebook's folder
        ("data/root.csv", "data/root.csv"),  # relative to the repository root
        ("data/both.csv", "nb/data/both.csv"),  # the notebook's folder comes first
        ("../data/root.csv", "data/root.csv"),
        ("./data/../data/local.csv", "nb/data/local.csv"),
        ("data\\local.csv", "nb/data/local.csv"),  # written on Windows
        ("somewhere/else/unique.csv", "deep/x/unique.csv"),  # by unique file name
        ("C:\\Users\\me\\Downloads\\unique.csv", "deep/x/unique.csv"),
        ("/home/me/project/a/dup.csv", "a/dup.csv"),  # two dup.csv: the matching folder decides
        ("~/Desktop/unique.csv", "deep/x/unique.csv"),
        ("../0 Data & Co/file one.csv", "0 Data & Co/file one.csv"),
    ],
)
def test_local_paths_resolve_in_order(repo: Path, as_written: str, resolved: str) -> None:
    ref = resolve_one(repo, as_written)
    assert (ref.status, ref.resolved) == (FOUND, resolved)
    content = FILES[resolved]
    assert ref.sha256 == hashlib.sha256(content).hexdigest()
    assert ref.size == len(content)


@pytest.mark.parametrize(
    "as_written, status",
    [
        ("dup.csv", AMBIGUOUS),
        ("C:\\data\\dup.csv", AMBIGUOUS),
        ("data/nope.csv", MISSING),
        ("data/", MISSING),  # a folder, not a file
        ("config", MISSING),  # only inside .git
        ("../../secret.csv", MISSING),  # outside the repository
        ("../../etc/passwd", MISSING),  # climbs out: not matched by name either
        ("../../../../../../etc/passwd", MISSING),
    ],
)
def test_unresolvable_paths(repo: Path, as_written: str, status: str) -> None:
    ref = resolve_one(repo, as_written)
    assert (ref.status, ref.resolved, ref.sha256) == (status, None, None)


@pytest.mark.parametrize(
    "path, rows",
    [
        ("nb/data/local.csv", 2),
        ("data/root.csv", 4),
        ("latin.csv", 3),  # not UTF-8: still text
        ("mac.csv", 3),  # lines end with "\r"
        ("empty.csv", 0),
        ("bin/blob.dat", None),  # a NUL byte: binary, lines not counted
    ],
)
def test_rows_count_lines_of_text_files_only(repo: Path, path: str, rows: int | None) -> None:
    ref = resolve_one(repo, path, path="top.ipynb")
    assert (ref.status, ref.rows) == (FOUND, rows)


@pytest.mark.parametrize(
    "url",
    [
        "https://raw.githubusercontent.com/Owner/Name/master/data/root.csv",
        "https://raw.githubusercontent.com/owner/name/refs/heads/main/data/root.csv",
        "https://github.com/OWNER/name/blob/main/data/root.csv?raw=true",
        "https://github.com/owner/name/raw/v1.0/data/root.csv",
    ],
)
def test_urls_of_the_same_repository_resolve_to_the_local_file(repo: Path, url: str) -> None:
    ref = resolve_one(repo, url, status=URL)
    assert (ref.status, ref.resolved, ref.rows) == (FOUND, "data/root.csv", 4)


def test_url_path_is_percent_decoded(repo: Path) -> None:
    url = "https://raw.githubusercontent.com/owner/name/master/0%20Data%20%26%20Co/file%20one.csv"
    assert resolve_one(repo, url, status=URL).resolved == "0 Data & Co/file one.csv"


def test_a_local_folder_named_owner__name_counts_as_that_repository(repo: Path) -> None:
    url = "https://raw.githubusercontent.com/owner/name/master/data/root.csv"
    assert resolve_one(repo, url, status=URL, name="owner__name").status == FOUND


@pytest.mark.parametrize(
    "url",
    [
        "https://raw.githubusercontent.com/someone/else/master/data/root.csv",  # another repo
        "https://raw.githubusercontent.com/owner/name/master/data/absent.csv",  # not in the snapshot
        "https://example.org/data/root.csv",
        "https://github.com/owner/name/tree/main/data/root.csv",  # a folder page, not a file
    ],
)
def test_other_urls_stay_urls(repo: Path, url: str) -> None:
    ref = resolve_one(repo, url, status=URL)
    assert (ref.status, ref.resolved) == (URL, None)


def test_dynamic_refs_are_left_alone(repo: Path) -> None:
    ref = resolve_one(repo, "unique.csv", status=DYNAMIC)  # the source text, not a path
    assert (ref.status, ref.resolved) == (DYNAMIC, None)


def test_symlinks_out_of_the_repository_are_not_followed(repo: Path) -> None:
    outside = repo.parent / "outside"
    outside.mkdir()
    (outside / "leak.csv").write_bytes(b"secret\n")
    os.symlink(repo.parent / "secret.csv", repo / "data" / "link_out.csv")
    os.symlink(outside, repo / "linked_dir")
    os.symlink(repo / "data" / "root.csv", repo / "data" / "link_in.csv")
    assert resolve_one(repo, "data/link_out.csv").status == MISSING
    assert resolve_one(repo, "linked_dir/leak.csv").status == MISSING
    ref = resolve_one(repo, "data/link_in.csv")
    assert (ref.status, ref.rows) == (FOUND, 4)


def test_unreadable_file_is_missing_not_a_crash(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("denied")

    monkeypatch.setattr(resolve_module, "open", refuse, raising=False)
    ref = resolve_one(repo, "data/root.csv")
    assert (ref.status, ref.resolved, ref.sha256) == (MISSING, None, None)


def test_each_file_is_read_once_per_index(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []

    def counting_open(path: str, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        opened.append(path)
        return open(path, *args, **kwargs)  # noqa: SIM115

    monkeypatch.setattr(resolve_module, "open", counting_open, raising=False)
    files = RepoFiles(repo)
    for path in ("a.ipynb", "nb/b.ipynb", "c.ipynb"):
        ref = DataRef(as_written="data/root.csv", cell=0, call="open")
        resolve_data_refs(notebook_in(repo, path=path), [ref], files)
        assert ref.status == FOUND
    assert len(opened) == 1


def test_files_above_max_hash_bytes_get_their_size_only(repo: Path) -> None:
    ref = DataRef(as_written="data/root.csv", cell=0, call="open")
    resolve_data_refs(notebook_in(repo), [ref], RepoFiles(repo, max_hash_bytes=3))
    size = len(FILES["data/root.csv"])
    assert (ref.status, ref.size, ref.sha256, ref.rows) == (FOUND, size, None, None)


def test_missing_repository_folder_gives_missing_refs(tmp_path: Path) -> None:
    ref = resolve_one(tmp_path / "not-there", "data/root.csv")
    assert ref.status == MISSING


# -- the DEV corpus: real notebooks and the files their repositories hold ----------------------


def corpus_notebook(repo_folder: str, path: str) -> Notebook:
    raw = json.loads((CORPUS / repo_folder / path).read_text(encoding="utf-8"))
    cells = [
        Cell(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
        for c in raw["cells"]
    ]
    return Notebook(
        notebook_id=path, repo=repo_folder, path=path, repo_dir=str(CORPUS / repo_folder), cells=cells
    )


def deps_of(repo_folder: str, path: str) -> dict[str, DataRef]:
    notebook = corpus_notebook(repo_folder, path)
    DepsStep().process(notebook)
    return {ref.as_written: ref for ref in notebook.data_refs}


needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")


@needs_corpus
@pytest.mark.corpus
def test_corpus_pydata_book_local_reads() -> None:
    ch06 = deps_of("wesm__pydata-book", "ch06.ipynb")
    ex1 = ch06["examples/ex1.csv"]
    assert (ex1.status, ex1.resolved, ex1.rows) == (FOUND, "examples/ex1.csv", 4)
    assert ch06["datasets/fec/fec.parquet"].status == MISSING  # over the snapshot's size limit
    # written by the notebook, then read back: not inputs
    assert "examples/frame_pickle" not in ch06 and "examples/mydata.h5" not in ch06

    ch13 = deps_of("wesm__pydata-book", "ch13.ipynb")
    assert ch13["datasets/fec/P00000001-ALL.csv"].status == MISSING
    assert ch13["datasets/bitly_usagov/example.txt"].status == FOUND  # `path = ...; open(path)`
    assert ch13["datasets/usda_food/database.json"].call == "json.load"
    assert ch13["path"].status == DYNAMIC  # f"datasets/babynames/yob{year}.txt" in a loop


@needs_corpus
@pytest.mark.corpus
def test_corpus_pandas_exercises_raw_urls_are_rewritten_to_the_local_file() -> None:
    repo = "guipsamora__pandas_exercises"
    path = "02_Filtering_&_Sorting/Euro12/Exercises_with_Solutions.ipynb"
    notebook = corpus_notebook(repo, path)
    DepsStep().process(notebook)
    [ref] = notebook.data_refs
    # the code now reads the file next to the notebook, and the ref is that read
    [(url, local)] = notebook.checks["rewritten_reads"].items()
    assert url.startswith("https://raw.githubusercontent.com/guipsamora/pandas_exercises/")
    assert local == "Euro_2012_stats_TEAM.csv" and ref.as_written == local
    assert repr(local) in notebook.cells[ref.cell].source and url not in notebook.cells[ref.cell].source
    assert (ref.status, ref.resolved) == (FOUND, "02_Filtering_&_Sorting/Euro12/Euro_2012_stats_TEAM.csv")

    baby = deps_of(repo, "06_Stats/US_Baby_Names/Exercises_with_solutions.ipynb")
    assert [r.status for r in baby.values()] == [URL]  # the file is absent from the snapshot

    chipotle = deps_of(repo, "01_Getting_&_Knowing_Your_Data/Chipotle/Exercise_with_Solutions.ipynb")
    assert [r.status for r in chipotle.values()] == [URL]  # another repository (justmarkham/DAT8)


@needs_corpus
@pytest.mark.corpus
def test_corpus_handson_ml_reads_through_helpers_and_skips_its_own_outputs() -> None:
    housing = deps_of("ageron__handson-ml2", "02_end_to_end_machine_learning_project.ipynb")
    # def load_housing_data(housing_path=HOUSING_PATH): ... pd.read_csv(csv_path)
    assert housing["datasets/housing/housing.csv"].status == FOUND
    assert "datasets/housing/housing.tgz" not in housing  # downloaded by the notebook itself
    # tools_numpy reads back only the arrays it saved
    assert deps_of("ageron__handson-ml2", "tools_numpy.ipynb") == {}


@needs_corpus
@pytest.mark.corpus
def test_corpus_every_found_ref_names_a_real_file_with_its_hash() -> None:
    step = DepsStep()
    notebooks = [
        corpus_notebook(folder.name, nb.relative_to(folder).as_posix())
        for folder in sorted(CORPUS.iterdir())
        if folder.is_dir()
        for nb in sorted(folder.rglob("*.ipynb"))
    ]
    step(notebooks)
    assert all(nb.kept for nb in notebooks)
    found = [(nb, ref) for nb in notebooks for ref in nb.data_refs if ref.status == FOUND]
    assert len(found) > 50
    for nb, ref in found:
        content = (Path(nb.repo_dir) / ref.resolved).read_bytes()
        assert hashlib.sha256(content).hexdigest() == ref.sha256, ref
        assert ref.size == len(content)
