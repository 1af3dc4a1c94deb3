"""Where a run reads and writes files: models, input, output, temp and user folders."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Folders:
    """The folders of one installation; every one lives under `base` unless overridden."""

    base: Path
    models: Path
    input: Path
    output: Path
    temp: Path
    user: Path

    @classmethod
    def under(cls, base: str | Path, *, models: str | Path | None = None, input: str | Path | None = None,
              output: str | Path | None = None) -> "Folders":
        base = Path(base).resolve()
        pick = lambda given, name: Path(given).resolve() if given else base / name  # noqa: E731
        return cls(base=base, models=pick(models, "models"), input=pick(input, "input"),
                   output=pick(output, "output"), temp=base / "temp", user=base / "user")

    def create(self) -> None:
        """Make the folders that a run writes to."""
        for path in (self.models, self.input, self.output, self.temp, self.user):
            path.mkdir(parents=True, exist_ok=True)
