"""Credentials never reach a shard or the card; credential files drop their notebook."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbqa_builder.publish.rows import MAX_TASK_ROW_BYTES, row_bytes
from nbqa_builder.redact import secrets
from nbqa_builder.redact.secrets import credential_file_reason, find_secrets, redact_bytes, redact_text
from tests.secret_fixtures import (AWS_KEY_ID, AWS_SECRET, GITHUB_TOKEN, OPENAI_KEY, PLANTED, PRIVATE_KEY,
                                   published_text, secret_recipe, write_secret_repos)

ROOT = Path(__file__).resolve().parents[1]


PLANTED_TEXTS = [
    (f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"', AWS_KEY_ID, "aws_access_key_id"),
    (f'aws_secret_access_key = "{AWS_SECRET}"', AWS_SECRET, "aws_secret_access_key"),
    (f"{AWS_KEY_ID},{AWS_SECRET}", AWS_SECRET, "aws_secret_access_key"),
    (f"token = '{GITHUB_TOKEN}'", GITHUB_TOKEN, "github_token"),
    ("x github_pat_11ABCDEFG0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH",
     "github_pat_11ABCDEFG0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH", "github_token"),
    (f"OpenAI(api_key='{OPENAI_KEY}')", OPENAI_KEY, "openai_key"),
    ("gl = gitlab.Gitlab(url, private_token='glpat-Xk3v9QmT2rB7nW4yL8pZ')", "glpat-Xk3v9QmT2rB7nW4yL8pZ", "gitlab_token"),
    ("HF_TOKEN=hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567", "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567", "huggingface_token"),
    (f'key = """{PRIVATE_KEY}"""', PRIVATE_KEY.splitlines()[1], "private_key"),
    ("xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", "slack_token"),
    ("key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "google_api_key"),
    ("create_engine('postgresql://analyst:Pa55w0rd!x@db.internal/sales')", "Pa55w0rd!x", "url_password"),
]


@pytest.mark.parametrize("text, secret, kind", PLANTED_TEXTS)
def test_each_kind_of_credential_is_redacted(text, secret, kind):
    redacted, found = redact_text(text)
    assert secret not in redacted
    assert f"<REDACTED:{kind}>" in redacted and found[kind] >= 1


ORDINARY_TEXTS = [
    'df = pd.read_csv("sales.csv")\nfrom sklearn.model_selection import train_test_split',
    "sha256 183e4e192e3b922be825bdb33b596b26d648996d829479ae85ebd0235dad3e22",
    "id,price\n1,5.41\n2,6.51\n",
    'password = "changeme"\napi_key = os.environ["API_KEY"]',
    "model = sk-learn; hf_hub_download(repo_id=...)",
]


@pytest.mark.parametrize("text", ORDINARY_TEXTS)
def test_ordinary_code_and_data_are_left_alone(text):
    assert redact_text(text) == (text, {})


# ---------------------------------------------------------------------------------------------
# find_secrets finds exactly what the straightforward algorithm it replaced finds


def reference_find_secrets(text: str) -> list[tuple[int, int, str]]:
    """find_secrets as it was before it was made fast: each kind's needles tested one by one."""
    spans: list[tuple[int, int, str]] = []
    lower = text.lower()
    for kind, pattern in secrets.OWN_PATTERNS:
        if not any(needle in lower for needle in secrets._NEEDLES[kind]):
            continue
        for match in pattern.finditer(text):
            group = "secret" if "secret" in pattern.groupindex else 0
            start, end = match.span(group)
            if kind == "assigned_secret":
                value = match.group("secret")
                if secrets._PLACEHOLDER_VALUES.match(value) or secrets._entropy(value) < 3.0 or value.startswith("<REDACTED:"):
                    continue
            spans.append((start, end, kind))
    for kind, analyze in secrets.detect_secrets_detectors() if secrets._LONG_TOKEN.search(text) else ():
        for secret in set(analyze(text)):
            if len(secret) < 8:
                continue
            for match in re.finditer(re.escape(secret), text):
                spans.append((match.start(), match.end(), kind))
    spans.sort(key=lambda s: (s[0], -s[1]))
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in spans:
        if merged and start < merged[-1][1]:
            previous = merged[-1]
            merged[-1] = (previous[0], max(previous[1], end), previous[2])
        else:
            merged.append((start, end, kind))
    return merged


def reference_kinds(text: str) -> set[str]:
    lower = text.lower()
    return {kind for kind, needles in secrets._NEEDLES.items() if any(needle in lower for needle in needles)}


NEEDLES = sorted({needle for needles in secrets._NEEDLES.values() for needle in needles})
# credentials that only detect-secrets' plugins find, in each vendor's documented format
DETECT_SECRETS_TEXTS = [
    "auth = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'",
    "SENDGRID = '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'",
    "bot = '110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1'",
    "TWILIO = 'SK0123456789abcdef0123456789abcdef'",
    "conn = 'DefaultEndpointsProtocol=https;AccountKey=" + "a1B2c3D4" * 11 + "'",
    "sk_live_abcdefghijklmnopqrstuvwx1234 and rk_live_abcdefghijklmnopqrstuvwx",
    "xoxp-1234-5678-abcdef https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789",
    "mc = '0123456789abcdef0123456789abcdef-us12'",
]
EDGE_TEXTS = [
    "", "sk-", "SK-", "x sk-ant-", "sk-ant-" + "a" * 30, "SK-ANT-api03-" + "b" * 30, "key", "the key",
    "-----BEGIN PRIVATE KEY-----\nMIIB" + "A" * 60, "private key=" + "Zq9!xT4#pL2@" * 2,
    "PRIVATE KEY", "Private Key", "passkey", "apassword='Zq9!xT4#pL2@mW8'", "secretoken", "tokey", "akiaws",
    "accakia", "a3taws", "ghp_gho_ghu_", "github_pat_", "hf_hf_", "xoxox", "://://", "hooks.slack.com",
    "_live__live_", "aizA", "AIZA", "ABIA", "ASIA" + "A" * 16, "A3T" + "B" * 17, "ends with a needle: token",
    "ends with a needle: aws", "ends with a needle: ://", "ends with a needle: hooks.slack.com",
    "\u017fk-ant-" + "c" * 30,  # the long s: re's case folding takes it for "s", lower() leaves it alone
    "\u212aey = 'Zq9!xT4#pL2@mW8'",  # the Kelvin sign lowers to "k"
    "\u0130 akia", "PASS\u0130WORD", "".join(NEEDLES), "".join(n.upper() for n in NEEDLES),
    " ".join(reversed(NEEDLES)), "\n".join(NEEDLES) + "\n",
]


def _example_texts() -> list[str]:
    """The code and outputs of every example notebook (those that parse)."""
    texts = []
    for path in sorted((ROOT / "examples" / "repos").rglob("*.ipynb")):
        try:
            notebook = json.loads(path.read_bytes())
        except ValueError:
            continue
        cells = notebook.get("cells") if isinstance(notebook, dict) else None
        for cell in cells if isinstance(cells, list) else []:
            if not isinstance(cell, dict):
                continue
            texts.append(cell.get("source"))
            for output in cell.get("outputs") or []:
                if isinstance(output, dict):
                    texts += [output.get("text"), *(output.get("data") or {}).values()]
    texts = ["".join(t) if isinstance(t, list) else t for t in texts]
    return [t for t in texts if isinstance(t, str)]


def _fuzzed_texts(n: int = 2000) -> list[str]:
    """Needles, planted secrets and filler run together, in any case, overlapping at the seams."""
    rng = random.Random(20240611)
    pieces = NEEDLES + [text for text, _, _ in PLANTED_TEXTS] + DETECT_SECRETS_TEXTS + [
        " ", "\n", "=", '"', "'", ":", "_", "-", "a", "s", "k", "x", "o", "AKIA", "1234567890abcdefghij" * 2,
        "password", "api_key", " = '", "Zq9!xT4#pL2@mW8", "@", "/"]
    texts = []
    for _ in range(n):
        parts = [rng.choice(pieces) for _ in range(rng.randint(1, 8))]
        parts = [p.upper() if rng.random() < 0.2 else p for p in parts]
        cut = rng.random()
        text = "".join(parts)
        texts.append(text[: int(len(text) * cut)] if cut < 0.15 else text)  # sometimes cut inside a needle
    return texts


def equivalence_texts() -> list[str]:
    return ([text for text, _, _ in PLANTED_TEXTS] + list(PLANTED.values()) + [PRIVATE_KEY] + ORDINARY_TEXTS
            + DETECT_SECRETS_TEXTS + EDGE_TEXTS + _example_texts() + _fuzzed_texts())


def test_find_secrets_equals_the_reference_algorithm():
    texts = equivalence_texts()
    assert len(_example_texts()) > 50 and sum(bool(reference_find_secrets(t)) for t in texts) > 500  # the texts test something
    wrong = [t for t in texts if find_secrets(t) != reference_find_secrets(t)]
    assert not wrong, wrong[:5]


def test_one_needle_scan_runs_the_kinds_that_testing_each_needle_runs():
    wrong = [t for t in equivalence_texts() if secrets._kinds_to_run(t.lower()) != reference_kinds(t)]
    assert not wrong, wrong[:5]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(NEEDLES) | st.sampled_from(NEEDLES).map(str.upper) | st.text(max_size=4), max_size=10))
def test_needles_run_together_in_any_way_run_the_same_kinds(parts):
    text = "".join(parts)
    assert secrets._kinds_to_run(text.lower()) == reference_kinds(text)


def test_a_cache_of_redact_text_redacts_and_counts_repeated_texts_like_redact_text():
    """The writer redacts through a cache; texts that come again are still counted each time."""
    import copy
    import functools

    from nbqa_builder.redact.step import redact_task
    from tests.test_records import full_task

    tasks = [full_task() for _ in range(3)]
    for task in tasks:
        task.constraints = f"key = '{GITHUB_TOKEN}'"
        task.solution[0].python_code = f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"\n' + task.solution[0].python_code
        task.solution[1].code_output = PRIVATE_KEY
    plain = copy.deepcopy(tasks)
    cached = functools.lru_cache(maxsize=64)(redact_text)
    assert [redact_task(task, cached) for task in tasks] == [redact_task(task) for task in plain]
    assert tasks == plain and cached.cache_info().hits > 0


def test_a_binary_file_is_redacted_byte_for_byte():
    content = b"\x00\xff header " + GITHUB_TOKEN.encode() + b" \xfe tail"
    redacted, found = redact_bytes(content)
    assert found == {"github_token": 1}
    assert GITHUB_TOKEN.encode() not in redacted and redacted.startswith(b"\x00\xff header ") and redacted.endswith(b"\xfe tail")


@pytest.mark.parametrize("name, content, credential", [
    (".env", b"DEBUG=1\n", True),
    ("config/credentials.json", b"{}", True),
    ("keys/id_rsa", b"", True),
    ("exports/keys.txt", f"{AWS_KEY_ID} {AWS_SECRET}\n{GITHUB_TOKEN}\n".encode(), True),  # mostly secrets
    ("data/sales.csv", ("day,price\n" + "".join(f"{i},{i * 1.5}\n" for i in range(200))
                        + f"7,{GITHUB_TOKEN}\n").encode(), False),  # one secret in a data file
])
def test_credential_files_are_told_from_data(name, content, credential):
    assert (credential_file_reason(name, content) is not None) == credential


@pytest.fixture(scope="module")
def leaky_run(tmp_path_factory) -> Path:
    from nbqa_builder.pipeline import Pipeline
    from nbqa_builder.recipe import load_recipe

    tmp_path = tmp_path_factory.mktemp("leaky")
    repos = write_secret_repos(tmp_path / "repos")
    Pipeline(load_recipe(secret_recipe(tmp_path, repos)), progress=False).run()
    return tmp_path / "out"


def test_planted_secrets_never_reach_a_shard_or_the_card(leaky_run: Path):
    rows = pq.read_table(next((leaky_run / "dataset" / "data").glob("*/train-*.parquet"))).to_pylist()
    assert rows, "the leaky notebook should give tasks"
    code = "\n".join(s["python_code"] or "" for s in rows[0]["solution"])
    assert "<REDACTED:github_token>" in code and "<REDACTED:private_key>" in code  # the code was there, redacted
    # the 300,000-character output was cut (by extract, or else the writer's guard), with a marker
    assert "truncated" in rows[0]["solution"][0]["code_output"] and row_bytes(rows[0]) <= MAX_TASK_ROW_BYTES
    text = published_text(leaky_run / "dataset")
    leaked = {name for name, value in PLANTED.items() if value in text}
    assert not leaked, f"published: {leaked}"
    # rejects and stats stay local, but must not carry them either
    assert not {name for name, value in PLANTED.items() if value in published_text(leaky_run / "rejects")}


def test_redacted_data_files_keep_tasks_and_files_consistent(leaky_run: Path):
    files = {row["sha256"]: row for row in pq.read_table(leaky_run / "dataset" / "data" / "files").to_pylist()}
    redacted = [row for row in files.values() if b"<REDACTED:" in row["content"]]
    assert len(redacted) == 1 and redacted[0]["paths"] == ["../data/sales.csv"]
    for sha, row in files.items():
        assert hashlib.sha256(row["content"]).hexdigest() == sha and row["size"] == len(row["content"])
    tasks = [r for p in (leaky_run / "dataset" / "data").glob("*/train-*.parquet") if p.parent.name != "files"
             for r in pq.read_table(p).to_pylist()]
    for task in tasks:
        for data_file in task["data_files"]:
            assert data_file["sha256"] in files and data_file["size"] == files[data_file["sha256"]]["size"]


def test_secrets_are_counted_and_credential_files_dropped(leaky_run: Path):
    stats = json.loads((leaky_run / "stats.json").read_text())
    redact = stats["metrics"]["redact"]
    for kind in ("aws_access_key_id", "aws_secret_access_key", "github_token", "openai_key", "private_key"):
        assert redact.get(f"secrets:{kind}", 0) >= 1, kind
    assert stats["redaction"]["data_files"]["github_token"] == 1
    assert stats["files"]["redacted"] == 1
    rejects = [json.loads(line) for line in (leaky_run / "rejects" / "notebooks.jsonl").read_text().splitlines()]
    assert [(r["path"], r["step"], r["reason"]) for r in rejects] == [("costs.ipynb", "redact", "credential_file:credentials.json")]
    card = (leaky_run / "dataset" / "README.md").read_text()
    assert "Notebooks dropped for reading a credential file: 1" in card
