"""Inference-time search over live notebook states (JUPITER's value-guided MCTS), consuming the
task shards: tree.py (nodes, PUCT, backup, the tree file), turns.py (the turn format of `export
sft`), policy.py (an OpenAI-compatible policy), value.py (value functions), states.py (forked
sandbox sessions), mcts.py (the search and the ReAct baselines), run.py (tasks, files, outputs,
resume). It imports records, answers, the sandbox, the publishing readers and the model client
(llm/), never the pipeline.
"""
