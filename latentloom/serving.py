"""`latentloom serve`: the engine and its hooks handed to the web server, the refusal to listen beyond
loopback without a token, and the limits on what model installs may fetch."""
from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import secrets
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_options import byte_size, seconds
from .startup import Options, build_engine, create_folders

if TYPE_CHECKING:
    from nodes.runtime.preload import PreloadReport

log = logging.getLogger("latentloom")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8188, help="port (default: 8188)")
    parser.add_argument("--auth-token", metavar="TOKEN",
                        help="require this token on every request ('auto' makes one and prints it); needed to "
                             "listen beyond loopback")
    parser.add_argument("--insecure", action="store_true",
                        help="allow listening beyond loopback without a token (anyone who can reach the port can "
                             "run workflows and read your images)")
    parser.add_argument("--max-history", type=int, default=10000, metavar="N", help="finished prompts kept (10000)")
    parser.add_argument("--front-end", choices=("loom", "comfyui"), default="loom",
                        help="the page at /: our canvas (loom), or ComfyUI's frontend (comfyui: needs "
                             "pip install 'latentloom[comfyui-frontend]'); the canvas is then at /loom/")
    parser.add_argument("--front-end-root", type=Path, metavar="DIR",
                        help="serve this built web app's folder at / instead (ComfyUI's flag); the canvas is at /loom/")
    add_download_arguments(parser.add_argument_group("model installs (POST /api/models/install)"))
    add_cluster_arguments(parser.add_argument_group("running on a Ray cluster (needs pip install "
                                                    "'latentloom[cluster]')"))


def add_cluster_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--cluster", metavar="ADDRESS",
                       help="run prompts on Ray workers: 'ray' starts a local Ray runtime, 'auto' joins the one "
                            "this machine belongs to, HOST:PORT joins the cluster whose head that is")
    group.add_argument("--workers", type=whole_number, metavar="N",
                       help="workers to start (default: one per GPU of the cluster, else 1)")
    group.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="N",
                       help="CPUs Ray reserves for each worker (default: 1)")
    group.add_argument("--affinity-wait", type=functools.partial(seconds, zero_allowed=True), default=2.0,
                       metavar="SECONDS", help="how long a prompt waits for the busy worker that holds its models "
                                               "before an idle one loads them (default: 2)")
    group.add_argument("--worker-restarts", type=functools.partial(whole_number, least=0), default=3, metavar="N",
                       help="restarts of a worker that dies before it is taken out (default: 3)")
    group.add_argument("--shared-results", type=byte_size, metavar="BYTES",
                       help="latents, images, masks and conditioning the workers share through Ray's object store, "
                            "so one can finish a graph another began (default: 256M; 0: none)")
    group.add_argument("--worker-base-dir", type=Path, metavar="DIR",
                       help="the base folder on the worker machines, where it is not this one's path (models, "
                            "custom_nodes and input there must match this server's)")
    group.add_argument("--shared-output", action="store_true",
                       help="the workers' output folder is this server's (a shared folder): they write there; "
                            "otherwise workers on other machines or base folders send their files back")
    group.add_argument("--routing", choices=("affinity", "round-robin"), default="affinity",
                       help="affinity: a prompt goes where its models already are (default); round-robin: to the "
                            "next idle worker in turn (to compare)")


def whole_number(text: str, least: int = 1) -> int:
    if not text.isdigit() or int(text) < least:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least {least}")
    return int(text)


def cluster_runner(args: argparse.Namespace, options: Options):
    """The factory of the cluster's dispatcher (None without --cluster: one worker thread, and Ray never
    imported); exits with the install command when Ray is missing."""
    if args.cluster is None:
        if args.workers is not None:
            raise SystemExit("error: --workers needs --cluster (e.g. --cluster ray)")
        return None
    from cluster.ray_runtime import LOCAL, ClusterSettings, ClusterUnavailable, import_ray, start_cluster

    if args.cluster.startswith("ray://"):
        raise SystemExit("error: Ray Client addresses (ray://) are not supported: run the server on a machine that "
                         "joined the cluster (ray start --address HEAD:6379) with --cluster auto or HEAD:6379")

    try:
        import_ray()
    except ClusterUnavailable as exc:
        raise SystemExit(f"error: {exc}") from None
    settings = ClusterSettings(address=LOCAL if args.cluster == "ray" else args.cluster, workers=args.workers,
                               cpus_per_worker=args.cpus_per_worker, affinity_wait_s=args.affinity_wait,
                               worker_restarts=args.worker_restarts, routing=args.routing,
                               worker_base_dir=args.worker_base_dir and args.worker_base_dir.expanduser().absolute(),
                               shared_output=args.shared_output,
                               **({} if args.shared_results is None else {"shared_results_bytes": args.shared_results}))
    anchored = options.anchored()

    def make_runner(engine, queue, hub, redact):
        from cluster.dispatcher import ClusterDispatcher

        return ClusterDispatcher(engine, queue, hub, redact, start_cluster(settings, anchored), settings)

    return make_runner


def add_download_arguments(group: argparse._ArgumentGroup) -> None:
    """The flags are None unless given: DownloadPolicy's defaults (named in the help) hold otherwise, and the
    parser stays free of the model library's imports."""
    group.add_argument("--allow-private-downloads", action="store_true",
                       help="let installs fetch from loopback, the local network and other non-public addresses "
                            "(off: a web client cannot make the server reach this machine's or its network's "
                            "services)")
    group.add_argument("--download-max-size", type=byte_size, metavar="BYTES",
                       help="largest file an install may download (default: 32G)")
    group.add_argument("--download-stall-timeout", type=seconds, metavar="SECONDS",
                       help="give up when no byte arrives for this long (default: 60)")
    group.add_argument("--download-time-limit", type=seconds, metavar="SECONDS",
                       help="longest time one download may take (default: 43200, 12 hours)")


def download_policy(args: argparse.Namespace):
    """The server's DownloadPolicy: public addresses only unless --allow-private-downloads, and the limits given."""
    from model_library.download_policy import DownloadPolicy

    given = {"max_bytes": args.download_max_size, "stall_s": args.download_stall_timeout,
             "time_limit_s": args.download_time_limit}
    policy = DownloadPolicy(**{name: value for name, value in given.items() if value is not None})
    return replace(policy, allowed=None) if args.allow_private_downloads else policy


def build_services(options: Options, max_history: int, downloads):
    """The engine with built-in and plugin nodes, the SQLite queue under user/, the model and device hooks (all on
    the engine's folders); installs fetch under the DownloadPolicy `downloads`."""
    from model_library.folders import list_models
    from model_library.kinds import KINDS
    from web import Services, open_queue
    from web.template_packages import installed_template_folders

    from .model_services import check_install_source, model_browser_hooks, model_describer, model_installer

    engine, reports = build_engine(options)
    folders = engine.folders
    create_folders(folders)

    def device_stats():
        from nodes.runtime.devices import device_stats as read
        return read()

    def unload_models():
        from nodes.runtime.devices import unload_models as unload
        unload()

    def prompt_from_parameters(text):
        from nodes.a1111 import prompt_from_parameters as convert
        return convert(text, folders)

    web_directories = {r.name: r.web_directory for r in reports if r.ok and r.web_directory is not None}
    plugin_folders = {r.name: Path(r.location) for r in reports if r.ok and Path(r.location).is_dir()}
    return Services(engine=engine, queue=open_queue(folders.user, max_history),
                    list_models=functools.partial(list_models, folders), model_folder_names=list(KINDS),
                    device_stats=device_stats, unload_models=unload_models, preload=load_ahead_and_freeze,
                    describe_models=model_describer(folders), install_model=model_installer(folders, downloads),
                    check_install_source=check_install_source,
                    web_directories=web_directories, plugin_folders=plugin_folders,
                    template_folders=installed_template_folders(), prompt_from_parameters=prompt_from_parameters,
                    **model_browser_hooks(folders))


def load_ahead_and_freeze(stop: threading.Event) -> PreloadReport:
    """The server's preload (nodes/runtime/preload.py), then every object the process holds by now moved out of the
    cyclic collector's sight (gc.freeze): the libraries, the engine and its registry live as long as the server, and a
    full collection that walked them (every few checkpoint loads) held the GIL all that time, stalling the HTTP server
    and the run alike. Garbage made later is collected as before."""
    from nodes.runtime.preload import preload

    report = preload(stop=stop)
    gc.freeze()
    return report


def server_token(args: argparse.Namespace) -> str | None:
    """The token to require; exits with advice when a public address would be served without one."""
    from web import is_loopback

    token = args.auth_token
    if token == "auto":
        token = secrets.token_urlsafe(24)
        print(f"access token: {token}\nopen http://{args.host}:{args.port}/?token={token}", file=sys.stderr)
    if token is None and not is_loopback(args.host) and not args.insecure:
        raise SystemExit(f"error: refusing to listen on {args.host} without an access token: anyone who can reach "
                         "it could run workflows and read your files. Add --auth-token auto (or your own token), "
                         "or --insecure if this network is yours alone.")
    return token


def front_end_root(args: argparse.Namespace) -> Path | None:
    """The folder of the web app to serve at /, or None for the canvas; exits with advice when it is missing."""
    from web.front_end import FrontEndMissing, checked_front_end_root, comfyui_front_end_root

    try:
        if args.front_end_root is not None:
            return checked_front_end_root(args.front_end_root)
        return comfyui_front_end_root() if args.front_end == "comfyui" else None
    except FrontEndMissing as exc:
        raise SystemExit(f"error: {exc}") from None


def command_serve(args: argparse.Namespace, options: Options) -> int:
    from cluster.ray_runtime import ClusterUnavailable
    from web import ServerSettings, serve

    settings = ServerSettings(host=args.host, port=args.port, auth_token=server_token(args),
                              max_history=args.max_history, front_end_root=front_end_root(args))
    make_runner = cluster_runner(args, options)
    services = build_services(options, args.max_history, download_policy(args))
    services.make_runner = make_runner
    try:
        asyncio.run(serve(services, settings))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ClusterUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
