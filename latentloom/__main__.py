"""`python -m latentloom` is the `latentloom` command."""
import sys

from .cli import main

sys.exit(main())
