"""Executors: what carries out a planned run, on this machine or on a cluster.

- base.py: the `Executor` interface, and what an executor is given (`PlannedRun`)
- local.py: `executor.kind: local`, a process pool on this machine (the default)
- ray.py: `executor.kind: ray`, Ray tasks over the same parts (Ray is the optional extra [ray])
- storage.py: `_work/` in object storage, for a Ray cluster whose nodes share no file system

`EXECUTORS` names each kind's class; its module is imported only when a run asks for that kind,
so a local run never imports Ray.
"""

from __future__ import annotations

import importlib

from nbqa_builder.executors.base import Executor

# executor.kind -> "module:class" of its Executor (the recipe checks the kind: recipe.ExecutorConfig)
EXECUTORS: dict[str, str] = {
    "local": "nbqa_builder.executors.local:LocalExecutor",
    "ray": "nbqa_builder.executors.ray:RayExecutor",
}


def executor_class(kind: str) -> type[Executor]:
    """The executor of `kind`, its module imported now."""
    module, name = EXECUTORS[kind].split(":")
    return getattr(importlib.import_module(module), name)
