"""What a finished run produced, per output node, for in-process runs and server runs alike."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph_engine import Folders

from .handles import NodeHandle


@dataclass
class WorkflowResult:
    """`outputs` is the history's shape: {node id: {"images": [{filename, subfolder, type}], ...}}."""

    prompt_id: str
    outputs: dict[str, dict[str, Any]]
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    folders: Folders | None = None  # known for in-process runs: image entries then resolve to local paths

    def images(self, node: NodeHandle | str | None = None) -> list[dict[str, Any]]:
        """The image entries of one output node, or of all of them."""
        if node is None:
            return [image for output in self.outputs.values() for image in output.get("images", [])]
        node_id = node.node_id if isinstance(node, NodeHandle) else str(node)
        return list(self.outputs.get(node_id, {}).get("images", []))

    def image_paths(self, node: NodeHandle | str | None = None) -> list[Path]:
        """The image files on this machine (in-process runs; a server's files are read through its /view)."""
        if self.folders is None:
            raise ValueError(f"prompt {self.prompt_id} ran on a server: its images are not local files; "
                             "fetch them with GET /view?filename=...&subfolder=...&type=...")
        roots = {"output": self.folders.output, "temp": self.folders.temp, "input": self.folders.input}
        return [roots[image.get("type", "output")] / image.get("subfolder", "") / image["filename"]
                for image in self.images(node)]
