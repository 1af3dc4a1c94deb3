"""The latent tests' fixtures: an engine with the built-in nodes plus TFeed and TCatch, and a runner over it."""
from tests.nodes.latent.conftest import engine, runner

__all__ = ["engine", "runner"]
