"""What the command modules share about the options every command takes: the flags read back into Options, and
the argument types of size and time flags."""
from __future__ import annotations

import argparse
import re

from .startup import Options

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)


def byte_size(text: str) -> int:
    """'8G', '512MiB', '1000000' -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 512M or 8G")
    unit = (match.group(2) or "b")[0].lower()
    return int(float(match.group(1)) * 1024 ** "bkmgt".index(unit))


def seconds(text: str, *, zero_allowed: bool = False) -> float:
    """'60', '2.5' -> seconds; 0 only where the option gives it a meaning."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 or (zero_allowed and value == 0)) or value == float("inf"):
        least = "0 or more" if zero_allowed else "above 0"
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds ({least})")
    return value


def options_from(args: argparse.Namespace) -> Options:
    """The Options the common flags give (see the parser in latentloom.cli)."""
    from model_library.kinds import KINDS

    return Options(base_dir=args.base_dir, models_dir=args.models_dir,
                   kind_dirs={kind: list(getattr(args, f"{kind}_dirs")) for kind in KINDS},
                   extra_model_paths_configs=list(args.extra_model_paths_configs), input_dir=args.input_dir,
                   output_dir=args.output_dir, extra_custom_nodes=list(args.extra_custom_nodes),
                   disable_custom_nodes=args.disable_custom_nodes, allow_custom_nodes=args.allow_custom_nodes,
                   plugin_import_timeout=args.plugin_import_timeout,
                   cache=args.cache, cache_ram=args.cache_ram, cache_device=args.cache_device,
                   device_mode=args.device_mode, dtype=args.dtype)
