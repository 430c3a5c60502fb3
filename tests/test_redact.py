"""Credentials never reach a shard or the card; credential files drop their notebook."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbqa_builder.redact import secrets
from nbqa_builder.redact.secrets import credential_file_reason, find_secrets, redact_bytes, redact_text
from notebook_factory import NotebookFactory
from tests.secret_fixtures import (AZURE_CONNECTION, PLANTED, PRIVATE_KEY_BLOCK, everything_under, leaked,
                                   secret_recipe, write_secret_repos)

ROOT = Path(__file__).resolve().parents[1]

# documentation examples in each vendor's format; none is live
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB_TOKEN = "ghp_R8dKq2Zx7LmN4pW9sT1vB6yC3hJ5fG0aE2uQ"
OPENAI_KEY = "sk-proj-4fT9kL2mQ8vX1zR7wN3bY6cH0jD5sA9eU2iO"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx7Vq2f9Lk3Jm8Qw1Zr5Tn6Yp0Bc4Hd7Ge2Fa9Sx3Ku1Wv8Ii\n-----END RSA PRIVATE KEY-----"


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
            if not secrets._accepted(kind, pattern, match, text):  # the second look some patterns need
                continue
            group = "secret" if "secret" in pattern.groupindex else 0
            start, end = match.span(group)
            spans.append((start, end, kind))
    for kind, analyze in secrets.detect_secrets_detectors() if secrets._LONG_TOKEN.search(text) else ():
        for secret in set(analyze(text)):
            value = secrets._NAMED_VALUE.sub("", secret)
            if len(value) < 8:
                continue
            for match in re.finditer(re.escape(value), text):
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
    return ([text for text, _, _ in PLANTED_TEXTS] + list(PLANTED.values()) + [PRIVATE_KEY, PRIVATE_KEY_BLOCK, AZURE_CONNECTION]
            + ORDINARY_TEXTS
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




# ---------------------------------------------------------------------------------------------
# Every format the field knows, in its places (unit), then a whole run (end to end)

FORMATS = [  # (text as it appears, planted secret, kind)
    (f"Authorization: Bearer {PLANTED['jwt']}", PLANTED["jwt"], "jwt"),
    (AZURE_CONNECTION, PLANTED["azure_key"], "azure_storage_key"),
    (f"{{'AccountName': 'acmedata', 'AccountKey': '{PLANTED['azure_key']}'}}", PLANTED["azure_key"], "azure_storage_key"),
    (f"key: {PLANTED['azure_bare_key']}", PLANTED["azure_bare_key"], "azure_storage_key"),
    (f"aws_secret_access_key = '{PLANTED['aws_secret_near_words']}'", PLANTED["aws_secret_near_words"], "aws_secret_access_key"),
    (f"token = '{PLANTED['github_classic']}'", PLANTED["github_classic"], "github_token"),
    (f"npm_{PLANTED['github_classic'][4:]}", PLANTED["github_classic"][4:], "checksummed_token"),  # the checksum tells
    (PLANTED["github_fine_grained"], PLANTED["github_fine_grained"], "github_token"),
    (f"openai.api_key = '{PLANTED['openai']}'", PLANTED["openai"], "openai_key"),
    (PLANTED["openai_project"], PLANTED["openai_project"], "openai_key"),
    (PLANTED["anthropic"], PLANTED["anthropic"], "anthropic_key"),
    (f"login(token='{PLANTED['huggingface']}')", PLANTED["huggingface"], "huggingface_token"),
    (PLANTED["slack_token"], PLANTED["slack_token"], "slack_token"),
    (PLANTED["slack_webhook"], PLANTED["slack_webhook"], "slack_webhook"),
    (PLANTED["stripe"], PLANTED["stripe"], "stripe_key"),
    (PLANTED["google"], PLANTED["google"], "google_api_key"),
    (PRIVATE_KEY_BLOCK, PLANTED["private_key"], "private_key"),
    (f"postgresql://analyst:{PLANTED['url_password']}@db.internal/sales", PLANTED["url_password"], "url_password"),
    (f'HMAC_KEY = "{PLANTED["hmac_hex"]}"', PLANTED["hmac_hex"], "assigned_secret"),
    (f'FERNET_KEY = b"{PLANTED["fernet_b64"]}"', PLANTED["fernet_b64"], "assigned_secret"),
    (f'{{"signing_key": "{PLANTED["signing_key"]}"}}', PLANTED["signing_key"], "assigned_secret"),
    (f"SIGNING_KEY={PLANTED['signing_key']}\n", PLANTED["signing_key"], "assigned_secret"),
]


@pytest.mark.parametrize("text, secret, kind", FORMATS, ids=[kind for _, _, kind in FORMATS])
def test_every_known_format_is_redacted_whole(text, secret, kind):
    redacted, found = redact_text(text)
    assert found[kind] >= 1, found
    assert not leaked(redacted, {"secret": secret}), redacted


def test_a_key_printed_alone_is_an_aws_secret_only_in_an_output():
    from nbqa_builder.redact.secrets import redact_output

    printed = f"{PLANTED['aws_secret_alone']}\n"
    assert redact_output(printed) == ("<REDACTED:aws_secret_access_key>\n", {"aws_secret_access_key": 1})
    assert redact_text(printed) == (printed, {})  # in code or data such a token is an id or a hash
    assert redact_output("183e4e192e3b922be825bdb33b596b26d648996d\n")[1] == {}  # a hex digest is not one


def test_redaction_keeps_code_runnable():
    """Only the value is replaced: a string literal stays a string literal, `key=value` keeps its `=`."""
    assert "AccountKey=<REDACTED:azure_storage_key>;EndpointSuffix" in redact_text(AZURE_CONNECTION)[0]
    code = f'settings = {{"signing_key": "{PLANTED["signing_key"]}", "retries": 3}}\nFERNET_KEY = b"{PLANTED["fernet_b64"]}"'
    redacted, _ = redact_text(code)
    namespace: dict = {}
    exec(compile(redacted, "<cell>", "exec"), namespace)  # noqa: S102 - our own test code
    assert namespace["settings"]["retries"] == 3 and namespace["FERNET_KEY"].startswith(b"<REDACTED:")


@pytest.fixture(scope="module")
def leaky_runs(tmp_path_factory):
    """The leaky repositories through the demo recipe, with redaction and without."""
    from nbqa_builder.pipeline import Pipeline
    from nbqa_builder.recipe import load_recipe

    tmp_path = tmp_path_factory.mktemp("leaky")
    factory = NotebookFactory()
    try:
        repos = write_secret_repos(tmp_path / "repos", factory)
    finally:
        factory.close()
    runs = {}
    for redacting in (True, False):
        name = "redacted" if redacting else "plain"
        Pipeline(load_recipe(secret_recipe(tmp_path, repos, redact_secrets=redacting, name=name)), progress=False).run()
        runs[name] = tmp_path / name
    return runs


def task_rows(out: Path) -> list[dict]:
    return [row for path in sorted((out / "dataset" / "data").glob("*/*.parquet")) if path.parent.name != "files"
            for row in pq.read_table(path).to_pylist()]


def test_no_planted_secret_is_anywhere_under_the_output_folder(leaky_runs):
    """Not in the shards, the card, stats.json, rejects, nor the resume folder _work/: whole or
    as any run of 12 of its characters."""
    out = leaky_runs["redacted"]
    assert (out / "_work").is_dir() and list((out / "_work").rglob("*.pkl"))
    assert not leaked(everything_under(out))


def test_the_kept_notebook_still_gives_tasks_that_audit_confirms(leaky_runs):
    out = leaky_runs["redacted"]
    rows = task_rows(out)
    interactive = [r for r in rows if r["verified"]]
    assert len(interactive) >= 3, [(r["task"], r["label"]) for r in rows]
    code = "\n".join(s["python_code"] or "" for s in rows[0]["solution"])
    assert "<REDACTED:" in code  # the code was there, redacted
    result = subprocess.run([sys.executable, "-m", "nbqa_builder", "audit", str(out / "dataset"), "--sandbox", "process"],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith("wrong=0")
    # the notebook itself still runs after redaction (execute ran the redacted code and data)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["steps"][[s["step"] for s in stats["steps"]].index("execute")]["in"] >= 1


def test_a_task_that_needs_a_secret_or_shows_one_is_dropped(leaky_runs):
    out = leaky_runs["redacted"]
    drops = [json.loads(line) for line in (out / "rejects" / "tasks.jsonl").read_text().splitlines()]
    assert "needs_secret" in [d["reason"] for d in drops]  # the length of the notes column
    assert not [r for r in task_rows(out) if "REDACTED" in r["label"] or "hf_" in r["label"]]


def test_redactions_are_counted_by_kind_and_place_and_the_card_says_how_many_not_what(leaky_runs):
    out = leaky_runs["redacted"]
    redaction = json.loads((out / "stats.json").read_text())["redaction"]
    for kind in ("jwt", "azure_storage_key", "aws_access_key_id", "aws_secret_access_key", "github_token",
                 "openai_key", "anthropic_key", "huggingface_token", "slack_webhook", "stripe_key", "google_api_key",
                 "private_key", "url_password", "assigned_secret"):
        assert redaction["by_kind"].get(kind, 0) >= 1, kind
    for place in ("code", "markdown", "stdout", "execute_result", "text/html", "data_file"):
        assert redaction["by_place"].get(place, 0) >= 1, place
    assert redaction["credential_files"] == 1 and redaction["total"] == sum(redaction["by_kind"].values())
    card = (out / "dataset" / "README.md").read_text()
    assert f"Credentials replaced by `<REDACTED:kind>`: {redaction['total']} (" in card
    assert "Notebooks dropped for reading a credential file: 1" in card


def test_published_rows_are_the_same_with_and_without_redaction_but_for_the_values(leaky_runs):
    with_redaction = {(r["ipynb_name"], tuple(r["cells"])): r for r in task_rows(leaky_runs["redacted"])}
    without = {(r["ipynb_name"], tuple(r["cells"])): r for r in task_rows(leaky_runs["plain"])}
    assert with_redaction and set(with_redaction) <= set(without)
    for key, row in with_redaction.items():
        other = without[key]
        for field in ("label", "answers", "answer", "verified", "deterministic", "executable", "deps_complete",
                      "question_kind", "reference_agrees", "format"):
            assert row[field] == other[field], (key, field)
        assert row["task"] == redact_text(other["task"])[0]
    # what the plain run publishes more are exactly the tasks that needed a secret
    drops = [json.loads(line) for line in (leaky_runs["redacted"] / "rejects" / "tasks.jsonl").read_text().splitlines()]
    extra = set(without) - set(with_redaction)
    assert len(extra) == sum(d["reason"] == "needs_secret" for d in drops)


def shared_file_run(tmp_path: Path, drop_credential_files: bool) -> tuple[dict, Path]:
    """Three notebooks of one repository: two read the same CSV that holds a token, one reads a
    `.env`; validate, deps and redact only."""
    import nbformat
    import yaml
    from nbformat.v4 import new_code_cell, new_notebook

    from nbqa_builder.pipeline import Pipeline
    from nbqa_builder.recipe import load_recipe

    repo = tmp_path / "repos" / "someone__shared"
    repo.mkdir(parents=True)
    token = PLANTED["github_classic"]
    rows = [f"user{i},{i * 3.5},Lisbon,{token if i % 8 == 1 else 'none'}\n" for i in range(40)]  # five tokens
    (repo / "users.csv").write_text("name,score,city,token\n" + "".join(rows))
    (repo / ".env").write_text("DEBUG=1\n")  # a credential file by its name alone
    for name, code in [("a", "pd.read_csv('users.csv')"), ("b", "pd.read_csv('users.csv').shape"),
                       ("c", "open('.env').read()")]:
        nbformat.write(new_notebook(cells=[new_code_cell("import pandas as pd"), new_code_cell(code)]), repo / f"{name}.ipynb")
    recipe = {"name": "shared", "source": {"kind": "local", "path": str(tmp_path / "repos")},
              "steps": [{"validate": {}}, {"deps": {}}, {"redact": {"drop_credential_files": drop_credential_files}}],
              "output": str(tmp_path / "out"), "executor": {"workers": 1, "part_size": 8}}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    stats = Pipeline(load_recipe(tmp_path / "recipe.yaml"), progress=False).run()
    return stats, tmp_path / "out"


@pytest.mark.parametrize("drop_credential_files", [True, False])
def test_a_data_file_read_by_several_notebooks_is_redacted_for_each(tmp_path, drop_credential_files):
    stats, out = shared_file_run(tmp_path, drop_credential_files)
    redact = stats["metrics"]["redact"]
    # five tokens in the file, counted for each of the two notebooks that read it
    assert redact["places:data_file"] == 10 and redact["secrets:github_token"] == 10, redact
    redacted = list((out / "_work" / "redacted").iterdir())
    assert len(redacted) == 1 and PLANTED["github_classic"] not in redacted[0].read_text()
    assert redacted[0].read_text().count("<REDACTED:") == 5
    rejects = [json.loads(line) for line in (out / "rejects" / "notebooks.jsonl").read_text().splitlines()]
    dropped = {r["path"]: r["reason"] for r in rejects}
    if drop_credential_files:
        assert dropped == {"c.ipynb": "credential_file:.env"}
    else:
        assert dropped == {}
