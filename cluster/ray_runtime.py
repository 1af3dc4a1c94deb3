"""Ray itself: starting a local runtime or joining a cluster, and the worker actors on it, each holding a GPU where
the cluster has them."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCAL = "local"
AFFINITY, ROUND_ROBIN = "affinity", "round-robin"
INSTALL_ADVICE = "pip install 'latentloom[cluster]'"
# a local runtime's shared-memory store: latents, images and conditioning shared between workers (never models),
# so little is needed, and Ray's default (30% of RAM) would reserve memory the models want
LOCAL_OBJECT_STORE_BYTES = 512 << 20
SHARED_RESULTS_BYTES = 256 << 20  # what the dispatcher keeps referenced there (the rest is Ray's working room)


class ClusterUnavailable(Exception):
    """Ray is missing, or the cluster cannot be reached; the message says what to do."""


@dataclass(frozen=True)
class ClusterSettings:
    """How `serve --cluster` runs its workers."""

    address: str = LOCAL  # LOCAL: start a Ray runtime on this machine; "auto" or the head's "HOST:PORT": join one
    workers: int | None = None  # None: one per GPU of the cluster, else 1
    cpus_per_worker: float = 1.0
    affinity_wait_s: float = 2.0  # how long a prompt waits for the busy worker that holds its models
    routing: str = AFFINITY  # AFFINITY (cluster.routing.choose_worker) or ROUND_ROBIN (next_in_turn)
    shared_results_bytes: int = SHARED_RESULTS_BYTES  # portable results kept in the object store; 0: none shared
    worker_base_dir: Path | None = None  # the workers' base folder, where it is not the server's
    shared_output: bool = False  # the workers' output folder is the server's (shared): files need not come back
    max_tries: int = 3  # runs of one prompt on workers that die under it before it is filed as failed
    worker_restarts: int = 3  # restarts of a worker that dies before it is taken out


@dataclass
class RayCluster:
    """The connected runtime and its worker actors (in the order they were named)."""

    ray: Any  # the ray module
    actors: dict[str, Any]

    def shutdown(self) -> None:
        """Disconnect; a runtime started here stops with its workers (a joined cluster's workers are this
        driver's actors too, and end with it)."""
        self.ray.shutdown()


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable(f"running on a cluster needs Ray, which is not installed: {INSTALL_ADVICE}") from None
    return ray


def start_cluster(settings: ClusterSettings, options: Any) -> RayCluster:
    """Connect to (or start) the runtime and create the workers, each building its engine from `options` (the
    server's: the same plugins and model folders by path)."""
    from .engine_worker import EngineWorker

    if settings.worker_base_dir is not None:
        options = replace(options, base_dir=settings.worker_base_dir)
    ray = import_ray()
    local = settings.address == LOCAL
    wanted = settings.workers or 1
    try:
        if local:  # the workers' CPUs are logical: three workers on two cores share them
            ray.init(num_cpus=max(os.cpu_count() or 1, int(wanted * settings.cpus_per_worker + 0.999)),
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, include_dashboard=False,
                     configure_logging=False, log_to_driver=True)
        else:
            ray.init(address=settings.address, configure_logging=False, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterUnavailable(f"cannot reach the Ray cluster at {settings.address}: {exc}") from None
    gpus = int(ray.cluster_resources().get("GPU", 0))
    count = settings.workers or max(1, gpus)
    gpus_each = 1 if gpus else 0
    if gpus and count > gpus:
        log.warning("%d workers asked for on %d GPUs: each worker takes a GPU, so %d wait for one", count, gpus,
                    count - gpus)
    actor_class = ray.remote(EngineWorker)
    actors = {}
    for index in range(count):
        name = f"worker-{index + 1}"
        actors[name] = actor_class.options(
            num_cpus=settings.cpus_per_worker, num_gpus=gpus_each, max_concurrency=4,
            max_restarts=settings.worker_restarts, max_task_retries=0).remote(options, name)
    log.info("cluster: %d worker(s) on %s%s", count, "a local Ray runtime" if local else settings.address,
             ", one GPU each" if gpus_each else "")
    return RayCluster(ray, actors)
