"""`serve --cluster` from the command line: Ray is needed only then, and its absence or a misused flag is a
one-line error, not a traceback."""
from __future__ import annotations

from tests.test_light_imports import REPO, python


def test_without_ray_cluster_says_how_to_install_it(tmp_path):
    done = python(f"""
        import sys
        sys.modules["ray"] = None  # `import ray` now raises ImportError
        from latentloom.cli import main
        main(["serve", "--cluster", "ray", "--base-dir", {str(tmp_path)!r}])
        """, cwd=REPO)
    assert done.returncode == 1
    assert "pip install 'latentloom[cluster]'" in done.stderr and "Traceback" not in done.stderr


def test_workers_without_cluster_is_refused(tmp_path):
    done = python(f"""
        from latentloom.cli import main
        main(["serve", "--workers", "2", "--base-dir", {str(tmp_path)!r}])
        """, cwd=REPO)
    assert done.returncode == 1
    assert "--workers needs --cluster" in done.stderr and "Traceback" not in done.stderr


def test_the_server_without_a_cluster_never_imports_ray(tmp_path):
    done = python(f"""
        import sys
        import latentloom.cli, latentloom.serving, web.server, cluster.ray_runtime
        from latentloom.cli_options import options_from
        parser = latentloom.cli.build_parser()
        args = parser.parse_args(["serve", "--base-dir", {str(tmp_path)!r}])
        assert latentloom.serving.cluster_runner(args, options_from(args)) is None
        print("ray" in sys.modules)
        """, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_ray_client_address_is_refused_with_what_to_do_instead(tmp_path):
    done = python(f"""
        from latentloom.cli import main
        main(["serve", "--cluster", "ray://head:10001", "--base-dir", {str(tmp_path)!r}])
        """, cwd=REPO)
    assert done.returncode == 1
    assert "ray://" in done.stderr and "--cluster auto" in done.stderr and "Traceback" not in done.stderr
