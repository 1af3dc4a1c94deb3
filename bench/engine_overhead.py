"""Engine overhead per node on graphs of trivial nodes (chains and fan-outs of 100 to 10,000 nodes).

Prints µs per node for validation, a first run, a fully cached re-run and a re-run after
changing the first node's input (each run includes its validation, as a real submission does),
and the ratio of the per-node cost at the largest size to that at the smallest.

    .venv/bin/python bench/engine_overhead.py [--sizes 100 1000 10000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nodes  # noqa: E402
from graph_engine import Engine, Folders, NodeRegistry, using_folders  # noqa: E402

TARGETS = {"first run": 100.0, "cached re-run": 20.0}
MAX_RATIO = 1.5


def chain(size: int) -> dict:
    """PrimitiveInt -> MathInt -> ... -> MathInt -> PreviewAny: every node depends on the one before."""
    prompt = {"0": {"class_type": "PrimitiveInt", "inputs": {"value": 1}}}
    for i in range(1, size - 1):
        prompt[str(i)] = {"class_type": "MathInt", "inputs": {"a": [str(i - 1), 0], "b": 1, "operation": "add"}}
    prompt[str(size - 1)] = {"class_type": "PreviewAny", "inputs": {"source": [str(size - 2), 0]}}
    return prompt


def fan_out(size: int) -> dict:
    """One PrimitiveInt feeding (size-1)/2 MathInt nodes, each shown by its own PreviewAny."""
    prompt = {"0": {"class_type": "PrimitiveInt", "inputs": {"value": 1}}}
    for branch in range((size - 1) // 2):
        math_id, show_id = str(2 * branch + 1), str(2 * branch + 2)
        prompt[math_id] = {"class_type": "MathInt", "inputs": {"a": ["0", 0], "b": branch, "operation": "add"}}
        prompt[show_id] = {"class_type": "PreviewAny", "inputs": {"source": [math_id, 0]}}
    return prompt


def make_engine(folder: Path) -> Engine:
    folders = Folders.under(folder)
    registry = NodeRegistry()
    with using_folders(folders):  # the loaders list this installation's model files
        nodes.register_builtins(registry)
    return Engine(registry, folders)


def best_of(repeat: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(repeat))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(shape: Callable[[int], dict], size: int, repeat: int, folder: Path) -> dict[str, float]:
    """Seconds per node for each phase, best of `repeat` (each with a fresh engine where it matters)."""
    prompt = shape(size)
    changed = copy.deepcopy(prompt)

    def validation() -> float:
        engine = make_engine(folder)
        return timed(lambda: engine.validate(prompt))

    def first_run() -> float:
        engine = make_engine(folder)
        return timed(lambda: assert_ok(engine.run(prompt)))

    def cached_rerun() -> float:
        engine = make_engine(folder)
        assert_ok(engine.run(prompt))
        return timed(lambda: assert_nothing_ran(engine.run(prompt)))

    def changed_rerun() -> float:
        engine = make_engine(folder)
        assert_ok(engine.run(prompt))
        changed["0"]["inputs"]["value"] += 1
        return timed(lambda: assert_ok(engine.run(changed)))

    phases = {"validation": validation, "first run": first_run, "cached re-run": cached_rerun,
              "re-run after change": changed_rerun}
    # small graphs take a millisecond: more samples so that timer noise does not decide the ratio
    samples = max(repeat, min(30, 10000 // size))
    return {name: best_of(samples, phase) / size for name, phase in phases.items()}


def assert_ok(result) -> None:
    if not result.ok:
        raise SystemExit(f"benchmark run failed: {result.error}")


def assert_nothing_ran(result) -> None:
    assert_ok(result)
    if result.executed:
        raise SystemExit(f"cached re-run executed {len(result.executed)} node(s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    failures = []
    with TemporaryDirectory() as folder:
        for shape in (chain, fan_out):
            results = {size: measure(shape, size, args.repeat, Path(folder)) for size in sizes}
            print(f"\n{shape.__name__}: µs per node (best of at least {args.repeat} runs)")
            phases = list(results[sizes[0]])
            print(f"{'nodes':>8}  " + "  ".join(f"{p:>20}" for p in phases))
            for size in sizes:
                print(f"{size:>8}  " + "  ".join(f"{results[size][p] * 1e6:>20.1f}" for p in phases))
            ratios = {p: results[sizes[-1]][p] / results[sizes[0]][p] for p in phases}
            print(f"{'ratio':>8}  " + "  ".join(f"{ratios[p]:>20.2f}" for p in phases)
                  + f"   ({sizes[-1]} vs {sizes[0]} nodes)")
            for phase, target in TARGETS.items():
                worst = max(results[size][phase] for size in sizes) * 1e6
                if worst > target:
                    failures.append(f"{shape.__name__} {phase}: {worst:.1f} µs/node > {target}")
            for phase, ratio in ratios.items():
                if ratio > MAX_RATIO:
                    failures.append(f"{shape.__name__} {phase}: ratio {ratio:.2f} > {MAX_RATIO}")
    print()
    print("targets met" if not failures else "targets missed:\n  " + "\n  ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
