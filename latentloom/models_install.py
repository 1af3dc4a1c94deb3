"""`latentloom models install SOURCE`: copy, link or download a model and put it where its content belongs."""
from __future__ import annotations

import argparse
import sys

from .cli_options import options_from
from .exit_codes import EXIT_FAILED, EXIT_OK


def add_install_arguments(parser: argparse.ArgumentParser) -> None:
    from model_library.kinds import KIND_FOLDERS

    parser.add_argument("source", help="a local file, an https:// URL, or a Hugging Face file "
                                       "org/repo/path/in/repo.safetensors (token from HF_TOKEN for gated repos)")
    parser.add_argument("--kind", choices=tuple(KIND_FOLDERS),
                        help="what the file is, used only when its content does not tell")
    parser.add_argument("--name", help="the file name to install under (default: the source's)")
    parser.add_argument("--revision", help="Hugging Face branch, tag or commit (default: the main branch)")
    parser.add_argument("--link", action="store_true", help="hard-link a local file instead of copying it")
    parser.add_argument("--force", action="store_true", help="replace a different file of the same name")


class ProgressBar:
    """A tqdm bar on stderr, created on the first report (the total is known only once the transfer starts)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar = None

    def __call__(self, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=self.label,
                            file=sys.stderr, initial=done)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def command_models_install(args: argparse.Namespace) -> int:
    """Exit 0 when installed (or already there), 1 with the reason and what to do otherwise. The machine's owner
    runs this: any address may be fetched (a mirror on the LAN), with no size or time limit but the stall one."""
    from model_library.download import DownloadError
    from model_library.download_policy import OWNER_POLICY
    from model_library.install import InstallError, install_model

    from .models_listing import prompt_word_lines

    folders = options_from(args).folders()
    bar = ProgressBar(args.name or args.source.rsplit("/", 1)[-1])
    try:
        done = install_model(folders, args.source, kind=args.kind, name=args.name, revision=args.revision,
                             link=args.link, force=args.force, progress=bar, policy=OWNER_POLICY)
    except (InstallError, DownloadError) as error:
        bar.close()
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    bar.close()
    print(done.message)
    if done.folder is not None:
        file = done.file
        print(f"  {file.kind}, {file.architecture or 'base not known'}, {file.precision or '?'}, "
              f"Model hash {done.hashes.model_hash}, sha256 {done.hashes.sha256}")
        for line in prompt_word_lines(file.training) if file.training else ():
            print(f"  {line}")
    return EXIT_OK
