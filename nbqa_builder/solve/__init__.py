"""The optional `solve` step: a blind solver proves a task answerable from its text and files."""
