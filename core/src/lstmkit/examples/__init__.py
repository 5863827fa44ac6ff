"""Runnable examples: ``python -m lstmkit.examples.<name>``."""
