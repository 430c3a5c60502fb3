"""docs/recipe.md is the recipe models' own reference: in step with the code, a reason for every key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nbqa_builder.recipe import STEP_CLASSES
from nbqa_builder.recipe_docs import DOC, missing_reasons, render
from tests.shipped_recipes import shipped_step_configs

ROOT = Path(__file__).resolve().parents[1]


def test_docs_recipe_md_is_what_the_models_generate():
    assert DOC == ROOT / "docs" / "recipe.md"
    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m nbqa_builder.recipe_docs"
    check = subprocess.run([sys.executable, "-m", "nbqa_builder.recipe_docs", "--check"], capture_output=True,
                           text=True, cwd=ROOT)
    assert check.returncode == 0, check.stderr


def test_every_key_has_its_reason_beside_it():
    assert missing_reasons() == []


def test_every_key_the_shipped_recipes_use_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for name in STEP_CLASSES:
        assert f"## `steps: {name}`" in text
    for path, step_configs in shipped_step_configs():
        for name, config in step_configs:
            for key in config.model_fields_set:
                assert f"| `{key}` |" in text, (path.name, name, key)
