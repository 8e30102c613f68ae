"""The built-in demo data set: synthetic garment drawings labelled in FashionAI format."""

from __future__ import annotations

from fashion_core.demo.bootstrap import ensure_demo_dataset
from fashion_core.demo.generate import DemoData, DemoDataError, generate_demo_data

__all__ = ["DemoData", "DemoDataError", "ensure_demo_dataset", "generate_demo_data"]
