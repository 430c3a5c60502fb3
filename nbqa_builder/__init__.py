"""nbqa_builder: turn real Jupyter notebooks into NbQA-format datasets.

`load_tasks` and `materialize` are imported on first use, so `import nbqa_builder` stays light.
"""

__version__ = "0.1.0"

_LAZY = {"load_tasks": "nbqa_builder.publish.load", "materialize": "nbqa_builder.publish.load"}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nbqa_builder' has no attribute {name!r}")
