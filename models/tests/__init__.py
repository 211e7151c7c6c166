"""Exporter tests (unittest). Run from the repo root: python -m unittest discover -s models/tests -t .
Set M3RT_SLOW=1 to also export and check the full-size m3vit-t model."""

import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parent.parent
if str(MODELS) not in sys.path:
    sys.path.insert(0, str(MODELS))
