"""nbqa_builder: turn real Jupyter notebooks into NbQA-format datasets."""

__version__ = "0.1.0"
