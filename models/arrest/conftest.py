"""Doctest collection of this package: skip the torch module when torch does not import."""

from __future__ import annotations

from models.arrest.train import torch_available

collect_ignore = [] if torch_available() else ["nets.py"]
