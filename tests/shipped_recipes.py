"""The recipes in recipes/, read for their settings on any machine.

Reading the paper's recipe checks that bubblewrap is installed, since its sandbox steps run in
bwrap. Tests that read the shipped settings run no sandbox, so they read the recipes as a
machine with bubblewrap does; what a machine without it is told is tested on its own
(tests/test_recipe.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

from nbqa_builder.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def shipped_recipe_paths() -> list[Path]:
    return sorted(RECIPES.glob("*.yaml"))


def shipped_step_configs() -> list[tuple[Path, list[tuple[str, Any]]]]:
    """Each shipped recipe and its steps' typed settings, whether or not bwrap is on PATH."""
    with mock.patch("nbqa_builder.sandbox.backends.bwrap_path", return_value="bwrap"):
        return [(path, load_recipe(path).step_configs()) for path in shipped_recipe_paths()]
