"""Credentials never reach a shard or the card; credential files drop their notebook."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from nbqa_builder.publish.rows import MAX_TASK_ROW_BYTES, row_bytes
from nbqa_builder.redact.secrets import credential_file_reason, redact_bytes, redact_text
from tests.secret_fixtures import (AWS_KEY_ID, AWS_SECRET, GITHUB_TOKEN, OPENAI_KEY, PLANTED, PRIVATE_KEY,
                                   published_text, secret_recipe, write_secret_repos)


@pytest.mark.parametrize("text, secret, kind", [
    (f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"', AWS_KEY_ID, "aws_access_key_id"),
    (f'aws_secret_access_key = "{AWS_SECRET}"', AWS_SECRET, "aws_secret_access_key"),
    (f"{AWS_KEY_ID},{AWS_SECRET}", AWS_SECRET, "aws_secret_access_key"),
    (f"token = '{GITHUB_TOKEN}'", GITHUB_TOKEN, "github_token"),
    ("x github_pat_11ABCDEFG0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH",
     "github_pat_11ABCDEFG0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH", "github_token"),
    (f"OpenAI(api_key='{OPENAI_KEY}')", OPENAI_KEY, "openai_key"),
    ("HF_TOKEN=hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567", "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567", "huggingface_token"),
    (f'key = """{PRIVATE_KEY}"""', PRIVATE_KEY.splitlines()[1], "private_key"),
    ("xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", "slack_token"),
    ("key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "google_api_key"),
    ("create_engine('postgresql://analyst:Pa55w0rd!x@db.internal/sales')", "Pa55w0rd!x", "url_password"),
])
def test_each_kind_of_credential_is_redacted(text, secret, kind):
    redacted, found = redact_text(text)
    assert secret not in redacted
    assert f"<REDACTED:{kind}>" in redacted and found[kind] >= 1


@pytest.mark.parametrize("text", [
    'df = pd.read_csv("sales.csv")\nfrom sklearn.model_selection import train_test_split',
    "sha256 183e4e192e3b922be825bdb33b596b26d648996d829479ae85ebd0235dad3e22",
    "id,price\n1,5.41\n2,6.51\n",
    'password = "changeme"\napi_key = os.environ["API_KEY"]',
    "model = sk-learn; hf_hub_download(repo_id=...)",
])
def test_ordinary_code_and_data_are_left_alone(text):
    assert redact_text(text) == (text, {})


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
