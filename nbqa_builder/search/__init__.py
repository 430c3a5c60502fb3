"""Inference-time search over live notebook states (JUPITER's value-guided MCTS), consuming the
task shards: tree.py (nodes, PUCT, backup, the tree file), conversation.py (a node's messages in
the turn format of `export sft`, nbqa_builder/turns), policy.py (an OpenAI-compatible policy on
the shared model client, llm/), value.py (value functions), states.py (forked sandbox sessions),
mcts.py (the search and the ReAct baselines), run.py (tasks, files, outputs, resume). It imports
records, answers, the sandbox, the publishing readers, the turn format and the model client,
never the pipeline.
"""
