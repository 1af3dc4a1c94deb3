"""`python -m latentloom` is the `latentloom` command."""
from .cli import entry

entry()
