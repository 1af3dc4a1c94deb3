"""How soon /interrupt stops one big model call on the CPU: an SD1-wide UNet step and VAE decode at large sizes.

A single step of a 2048 px image takes minutes on a CPU. The interrupt checks (`nodes/runtime/models/interrupts.py`:
before each block part, between query blocks of a big attention, between row bands of a big convolution) should stop
it within 2 s wherever the interrupt lands. Each call runs on a worker thread inside a node context, as the engine
runs nodes; the flag is set at several delays into the call, and the time from the flag to the call's end is printed.

    .venv/bin/python bench/interrupt.py [--unet-size 2048] [--vae-size 2048] [--delays 2 6 15]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from graph_engine import EventStream, Interrupted  # noqa: E402
from graph_engine.context import NodeContext, enter_context, leave_context  # noqa: E402

TARGET_S = 2.0


def stop_latency(call: Callable[[], object], delay: float) -> tuple[float, bool]:
    """Seconds from setting the interrupt flag `delay` seconds into `call` to the call's end, and whether it ended by
    the interrupt (False: it finished before the flag was set)."""
    flag = threading.Event()
    ended: dict[str, object] = {}

    def work() -> None:
        token = enter_context(NodeContext("bench", "1", "Bench", EventStream(), flag))
        try:
            with torch.no_grad():
                call()
        except Interrupted:
            ended["interrupted"] = True
        finally:
            ended["at"] = time.monotonic()
            leave_context(token)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(delay)
    flagged = time.monotonic()
    flag.set()
    worker.join()
    return max(ended["at"] - flagged, 0.0), bool(ended.get("interrupted"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unet-size", type=int, default=2048, help="image side in pixels for the UNet step")
    parser.add_argument("--vae-size", type=int, default=2048, help="image side in pixels for the VAE decode")
    parser.add_argument("--delays", type=float, nargs="+", default=[2.0, 6.0, 15.0],
                        help="seconds into the call at which the interrupt arrives")
    args = parser.parse_args()

    from bench.pipeline import large_modules
    from nodes.runtime.models.interrupts import make_unet_interruptible
    from nodes.runtime.models.unet_model import UNetModel
    from nodes.runtime.models.vae import Vae
    from tests.fixtures.tiny_checkpoints import own_vae

    written_unet, vae_module, _ = large_modules()
    unet = UNetModel(written_unet.config).eval()  # ours, as the loader builds it
    unet.load_state_dict(written_unet.state_dict())
    make_unet_interruptible(unet)  # as DiffusionModel.prepare does before sampling
    vae = Vae(own_vae(vae_module), "bench")  # VAEDecode's path: its attention choice and interrupt checks
    side_u, side_v = args.unet_size // 8, args.vae_size // 8
    latent_u, context = torch.randn(2, 4, side_u, side_u), torch.randn(2, 77, 768)  # cond and uncond in one batch
    latent_v = torch.randn(1, 4, side_v, side_v)
    calls = {
        f"UNet step, {args.unet_size} px (batch 2)": lambda: unet(latent_u, torch.tensor([500, 500]), context),
        f"VAE decode, {args.vae_size} px": lambda: vae.decode(latent_v),  # LATENT samples, unscaled
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; SD1 widths, random weights; "
          f"target: stopped within {TARGET_S:g} s of the interrupt")
    worst = 0.0
    for name, call in calls.items():
        for delay in args.delays:
            latency, interrupted = stop_latency(call, delay)
            if not interrupted:
                print(f"  {name}: finished before {delay:g} s; no interrupt to measure")
                continue
            worst = max(worst, latency)
            print(f"  {name}: interrupt at {delay:g} s -> stopped {latency:.2f} s later")
    print(f"worst: {worst:.2f} s ({'PASS' if worst <= TARGET_S else 'OVER TARGET'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
