"""Example repositories with planted credentials, and a reader of every byte a dataset publishes."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pyarrow.parquet as pq
import yaml
from nbformat.v4 import new_code_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "recipes" / "demo.yaml"

# Well-known documentation examples or random strings in each vendor's format; none is live.
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB_TOKEN = "ghp_R8dKq2Zx7LmN4pW9sT1vB6yC3hJ5fG0aE2uQ"
OPENAI_KEY = "sk-proj-4fT9kL2mQ8vX1zR7wN3bY6cH0jD5sA9eU2iO"
PRIVATE_KEY_BODY = "MIIEowIBAAKCAQEAx7Vq2f9Lk3Jm8Qw1Zr5Tn6Yp0Bc4Hd7Ge2Fa9Sx3Ku1Wv8Ii"
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{PRIVATE_KEY_BODY}\n-----END RSA PRIVATE KEY-----"
PLANTED = {"aws_key_id": AWS_KEY_ID, "aws_secret": AWS_SECRET, "github": GITHUB_TOKEN, "openai": OPENAI_KEY,
           "private_key": PRIVATE_KEY_BODY}


def _executed(cells: list[tuple[str, list]]) -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "language_info": {"name": "python"}})
    for count, (source, outputs) in enumerate(cells, 1):
        cell = new_code_cell(source, execution_count=count, outputs=outputs)
        cell.id = f"cell-{count}"
        nb.cells.append(cell)
    return nb


def _sales_csv(rows: int = 150, secret_row: bool = True) -> tuple[str, float]:
    prices = [round(3 + (i * 37 % 100) / 17, 2) for i in range(rows)]
    lines = ["day,price,note"] + [f"{i},{p},ok" for i, p in enumerate(prices)]
    if secret_row:  # an analyst pasted their keys into a notes column
        lines[5] = f"4,{prices[4]},deploy with {AWS_KEY_ID} {AWS_SECRET} and {GITHUB_TOKEN}"
    return "\n".join(lines) + "\n", round(sum(prices) / len(prices), 2)


def write_secret_repos(root: Path) -> Path:
    """Two repositories: one whose code, outputs and data hold credentials (kept, redacted), one
    whose notebook reads a credentials file (dropped)."""
    leaky = root / "team__leaky-analysis"
    (leaky / "data").mkdir(parents=True)
    (leaky / "LICENSE").write_text("MIT License\n\nPermission is hereby granted, free of charge.\n")
    csv_text, mean = _sales_csv()
    (leaky / "data" / "sales.csv").write_text(csv_text)
    load = (
        "import pandas as pd\n"
        f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"\n'
        f'aws_secret_access_key = "{AWS_SECRET}"\n'
        f'github = "{GITHUB_TOKEN}"\n'
        'sales = pd.read_csv("../data/sales.csv")\n'
        'print("using", "' + OPENAI_KEY + '")\n'
        'print("-" * 300_000)'  # an output far longer than the dataset viewer shows
    )
    show_key = f'key = """{PRIVATE_KEY}"""\nprint(key)'
    nb = _executed([
        (load, [new_output("stream", name="stdout", text=f"using {OPENAI_KEY}\n" + "-" * 300_000 + "\n")]),
        (show_key, [new_output("stream", name="stdout", text=PRIVATE_KEY + "\n")]),
        ('print(key[:40])\nround(float(sales["price"].mean()), 2)',
         [new_output("stream", name="stdout", text=PRIVATE_KEY[:40] + "\n"),
          new_output("execute_result", data={"text/plain": repr(mean)}, execution_count=3)]),
    ])
    (leaky / "notebooks").mkdir()
    nbformat.write(nb, str(leaky / "notebooks" / "prices.ipynb"))

    creds = root / "team__cloud-costs"
    (creds / "data").mkdir(parents=True)
    (creds / "LICENSE").write_text("MIT License\n\nPermission is hereby granted, free of charge.\n")
    csv_text, mean = _sales_csv(secret_row=False)
    (creds / "data" / "costs.csv").write_text(csv_text)
    (creds / "credentials.json").write_text(json.dumps({"aws_access_key_id": AWS_KEY_ID,
                                                        "aws_secret_access_key": AWS_SECRET}))
    nb = _executed([
        ('import json\nimport pandas as pd\ncreds = json.load(open("credentials.json"))\ncosts = pd.read_csv("data/costs.csv")', []),
        ('round(float(costs["price"].mean()), 2)', [new_output("execute_result", data={"text/plain": repr(mean)}, execution_count=2)]),
    ])
    nbformat.write(nb, str(creds / "costs.ipynb"))
    return root


def secret_recipe(tmp_path: Path, repos: Path) -> Path:
    recipe = yaml.safe_load(DEMO.read_text())
    recipe["source"]["path"] = str(repos)
    recipe["output"] = str(tmp_path / "out")
    recipe["executor"] = {"kind": "local", "workers": 1, "part_size": 8}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def published_text(folder: Path) -> str:
    """Every file under `folder` as text: raw bytes, and Parquet files decoded row by row too
    (their pages are compressed, so a raw grep would miss what is inside)."""
    texts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        texts.append(data.decode("latin-1"))
        if path.suffix == ".parquet":
            for row in pq.read_table(path).to_pylist():
                for key, value in row.items():
                    texts.append(value.decode("latin-1") if isinstance(value, bytes) else json.dumps(value, default=str))
    return "\n".join(texts)
