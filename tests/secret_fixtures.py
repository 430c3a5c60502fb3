"""Repositories with planted credentials of every known format in every place, and a reader of
every byte a run leaves under its output folder.

The credentials are random strings in each vendor's documented format (seeded, so the same every
run); none is live. The leaky repository's notebook is executed for real (tests/notebook_factory.py)
so that its outputs are what the code printed; its data file and JSON config hold credentials too.
"""

from __future__ import annotations

import json
import random
import string
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recipes" / "demo.yaml"

_rng = random.Random(20261130)
_ALNUM = string.ascii_letters + string.digits
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _random(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _github_classic() -> str:
    body = _random(30)
    value, digits = zlib.crc32(body.encode()), ""
    while value:
        value, digit = divmod(value, 62)
        digits = _BASE62[digit] + digits
    return f"ghp_{body}{digits.rjust(6, '0')}"


_B64 = string.ascii_letters + string.digits + "+/"
PLANTED = {
    "jwt": "eyJ" + _random(30) + ".eyJ" + _random(40) + "." + _random(43, _ALNUM + "_-"),
    "azure_key": _random(86, _B64) + "==",
    "azure_bare_key": _random(86, _B64) + "==",
    "aws_key_id": "AKIA" + _random(16, string.ascii_uppercase + string.digits),
    "aws_secret_near_words": _random(40, _B64),
    "aws_secret_alone": _random(40, _B64),
    "github_classic": _github_classic(),
    "github_fine_grained": "github_pat_" + _random(22) + "_" + _random(59),
    "openai": "sk-" + _random(20) + "T3BlbkFJ" + _random(20),
    "openai_project": "sk-proj-" + _random(48, _ALNUM + "_-"),
    "anthropic": "sk-ant-api03-" + _random(80, _ALNUM + "_-"),
    "huggingface": "hf_" + _random(34),
    "slack_token": "xoxb-" + _random(12, string.digits) + "-" + _random(12, string.digits) + "-" + _random(24),
    "slack_webhook": "https://hooks.slack.com/services/T" + _random(8, string.ascii_uppercase) + "/B"
                     + _random(8, string.ascii_uppercase) + "/" + _random(24),
    "stripe": "sk_live_" + _random(24),
    "google": "AIza" + _random(35, _ALNUM + "_-"),
    "private_key": _random(64, _B64),
    "url_password": "Pq" + _random(14) + "!x",
    "hmac_hex": _random(64, "0123456789abcdef"),
    "fernet_b64": _random(43, _ALNUM + "-_") + "=",
    "signing_key": _random(32),
}
S = PLANTED
PRIVATE_KEY_BLOCK = f"-----BEGIN RSA PRIVATE KEY-----\n{S['private_key']}\n-----END RSA PRIVATE KEY-----"
AZURE_CONNECTION = (f"DefaultEndpointsProtocol=https;AccountName=acmedata;AccountKey={S['azure_key']};"
                    "EndpointSuffix=core.windows.net")
# a line longer than the 2,000 characters an output keeps in a task, with a token across the cut
CUT_PREFIX = "." * 1990
ROTATE_NOTE = f"rotate {S['github_classic']} before the audit on friday then {S['huggingface']}"

LEAKY_CELLS = [
    ("md", f"# Sales of the pilot shops\nThe deploy token is {S['github_fine_grained']} (do not share)."),
    "import json\n"
    "import pandas as pd\n"
    f"# the OpenAI key of the summary bot: {S['openai']}\n"
    f'OPENAI_PROJECT_KEY = "{S["openai_project"]}"\n'
    f'HMAC_KEY = "{S["hmac_hex"]}"\n'
    f'FERNET_KEY = b"{S["fernet_b64"]}"\n'
    f'settings = {{"signing_key": "{S["signing_key"]}", "retries": 3}}\n'
    f'aws_access_key_id = "{S["aws_key_id"]}"\n'
    f'aws_secret_access_key = "{S["aws_secret_near_words"]}"\n'
    'config = json.load(open("../config.json"))\n'
    'sales = pd.read_csv("../data/sales.csv")',
    'print("calling the API with", config["api_key"])',
    f'secret = "{S["aws_secret_alone"]}"\nprint(secret)',
    f'from IPython.display import HTML\nHTML("<p>session <code>{S["jwt"]}</code></p>")',
    f'print("{CUT_PREFIX}" + "{S["anthropic"]}")',
    f'conn = "{AZURE_CONNECTION}"\n'
    'parts = dict(item.split("=", 1) for item in conn.split(";"))\n'
    'print(parts)\n'
    'len(parts)',
    f'key = """{PRIVATE_KEY_BLOCK}"""\n'
    f'print(key)\n'
    f'print("postgresql://analyst:{S["url_password"]}@db.internal/sales")\n'
    f'print("{S["slack_webhook"]}", "{S["slack_token"]}", "{S["stripe"]}", "{S["google"]}")\n'
    f'print("{S["azure_bare_key"]}")',
    f'"{S["huggingface"]}"',  # a secret as a cell's value: never an answer
    'round(float(sales["price"].mean()), 2)',
    f'sales[sales["note"] != "{ROTATE_NOTE}"]["price"].sum()',  # a question with a long constant
    'sales["units"].max()',
    'sales["note"].str.len().sum()',  # computed from the secrets: it needs them
]


def write_secret_repos(root: Path, factory) -> Path:
    """Two repositories: one whose code, outputs, markdown, metadata, data file and config hold
    credentials (kept, redacted), one whose notebook reads a credentials file (dropped)."""
    leaky = root / "team__leaky-analysis"
    (leaky / "data").mkdir(parents=True)
    rows = ["day,price,units,note"] + [f"{i},{round(3 + (i * 37 % 100) / 17, 2)},{5 + i * 7 % 30},ok" for i in range(150)]
    rows[5] = f"4,4.5,12,{ROTATE_NOTE}"  # an analyst pasted keys into a notes column
    rows[9] = f"8,5.25,20,AWS {S['aws_key_id']} {S['aws_secret_near_words']}"
    (leaky / "data" / "sales.csv").write_text("\n".join(rows) + "\n")
    config = {"region": "eu-west-1", "timeout_s": 30, "retries": 3, "endpoint": "https://api.example.org/v2",
              "batch_size": 500, "cache_dir": "/var/cache/sales", "log_level": "info", "api_key": S["openai_project"],
              "owner": "analytics team", "schedule": "daily at 06:00 UTC"}
    (leaky / "config.json").write_text(json.dumps(config, indent=2))
    path = factory.write(leaky, "notebooks/prices.ipynb", LEAKY_CELLS)
    notebook = json.loads(path.read_text())
    notebook["metadata"]["deploy"] = {"token": S["github_classic"]}  # metadata is a place too
    notebook["cells"][1]["metadata"]["secret_key"] = S["signing_key"]
    path.write_text(json.dumps(notebook, indent=1))

    creds = root / "team__cloud-costs"
    (creds / "data").mkdir(parents=True)
    (creds / "data" / "costs.csv").write_text("day,price\n" + "".join(f"{i},{i * 1.5}\n" for i in range(150)))
    (creds / "credentials.json").write_text(json.dumps({"aws_access_key_id": S["aws_key_id"],
                                                        "aws_secret_access_key": S["aws_secret_near_words"]}))
    factory.write(creds, "costs.ipynb", [
        'import json\nimport pandas as pd\ncreds = json.load(open("credentials.json"))\ncosts = pd.read_csv("data/costs.csv")',
        'round(float(costs["price"].mean()), 2)',
    ])
    return root


def secret_recipe(tmp_path: Path, repos: Path, redact_secrets: bool = True, name: str = "out") -> Path:
    recipe = yaml.safe_load(DEMO.read_text())
    recipe["source"]["path"] = str(repos)
    recipe["output"] = str(tmp_path / name)
    recipe["executor"] = {"kind": "local", "workers": 1, "part_size": 8}
    for step in recipe["steps"]:
        if "redact" in step:
            step["redact"] = {"drop_credential_files": True, "redact_secrets": redact_secrets}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def everything_under(folder: Path) -> str:
    """Every file under `folder` as text: its raw bytes, and Parquet files decoded row by row too
    (their pages are compressed, so a raw search would miss what is inside)."""
    texts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        texts.append(data.decode("latin-1"))
        if path.suffix == ".parquet":
            for row in pq.read_table(path).to_pylist():
                for value in row.values():
                    texts.append(value.decode("latin-1") if isinstance(value, bytes) else json.dumps(value, default=str))
    return "\n".join(texts)


def leaked(text: str, secrets: dict[str, str] = PLANTED, window: int = 12) -> dict[str, str]:
    """The planted secrets found in `text`, whole or as any run of `window` of their characters."""
    found = {}
    for name, secret in secrets.items():
        for start in range(0, len(secret) - window + 1):
            if secret[start:start + window] in text:
                found[name] = secret[start:start + window]
                break
    return found
