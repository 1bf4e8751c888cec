"""Run the whole app on the embedded default: web server, Celery worker, offline model server.

The web server and the worker run as the app runs for its users: ``DEBUG`` off (error pages
are the app's own, never Django's debug pages), static files collected and served by
WhiteNoise. Only what plain HTTP on one machine needs differs from production: no redirect to
HTTPS, no HSTS, cookies sent over HTTP. The secret is this process's own (``var/secret_key`` on
the embedded default).

The command supervises the three: one that exits is started again (a worker outlives broker
outages by itself; this covers a crash). Ctrl-C stops all three.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.demo import demo_users

# A process that exits more often than this within a minute is broken, not unlucky: stop.
RESTARTS_PER_MINUTE = 5


# Addresses a server binds to that are no host name a browser asks for.
WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]")  # noqa: S104 - names them, binds nothing


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def served_environment(host: str) -> dict[str, str]:
    """The environment of the processes that serve the demo: production settings over plain
    HTTP, answering to ``host`` as well as the usual local names."""
    allowed = list(settings.ALLOWED_HOSTS)
    if host not in allowed and host not in WILDCARD_HOSTS:
        allowed.append(host)
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": ",".join(allowed),
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "SECURE_COOKIES": "false",
    }


class Command(BaseCommand):
    help = "Seed demo data and run the web server, a Celery worker and the offline model server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
        parser.add_argument("--no-seed", action="store_true", help="skip loading demo data")

    def handle(self, *args: Any, **options: Any) -> None:
        # SIGTERM stops the demo as Ctrl-C does, through the ``finally`` below that stops the
        # three processes (Python's default would exit at once and leave them on their ports).
        # Ctrl-C is set explicitly too: a parent that ignores SIGINT passes that on to us.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        host, port = options["host"], options["port"]
        model_port = settings.OFFLINE_MODEL_SERVER_PORT
        python = sys.executable
        processes: dict[str, subprocess.Popen[bytes]] = {}
        commands = {
            "model server": [
                python,
                "manage.py",
                "offline_model_server",
                "--port",
                str(model_port),
                "--latency-ms",
                "150",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "WARNING",
                "-Q",
                "default,generation,grading,exports",
                "--pool",
                "threads",
                "--concurrency",
                "8",
                "--hostname",
                "demo@%h",
                # Gossip, mingle and event heartbeats serve monitoring this app does not use, and
                # their restart after a broker outage is where workers have crashed.
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            "web": [
                python,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--log-level",
                "warning",
            ],
        }
        served = served_environment(host)
        try:
            processes["model server"] = subprocess.Popen(commands["model server"], env=served)
            if not options["no_seed"]:
                call_command("demo_seed", stdout=self.stdout)
            # Production settings serve the collected, hashed files (WhiteNoise's manifest).
            collected = subprocess.run(
                [python, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
                env=served,
                check=False,
            )
            if collected.returncode:
                raise CommandError(
                    f"Collecting the static files failed (exit code {collected.returncode})."
                )
            processes["worker"] = subprocess.Popen(commands["worker"], env=served)
            processes["web"] = subprocess.Popen(commands["web"], env=served)
            self._wait_until_serving(host, port, processes)
            self._banner(host, port, model_port)
            if not options["no_seed"]:
                self.stdout.write(
                    "Generating the demo candidates on the offline model server, then adding "
                    "sample judgments and an export…"
                )
                processes["demo data"] = subprocess.Popen(
                    [python, "manage.py", "demo_seed", "--finish"], env=served
                )
            restarts: dict[str, list[float]] = {}
            while True:
                for name, process in list(processes.items()):
                    if process.poll() is None:
                        continue
                    if name == "demo data" and process.returncode == 0:
                        del processes[name]
                        self.stdout.write(f"Demo data ready. Open http://{host}:{port}/")
                        continue
                    recent = [t for t in restarts.get(name, []) if t > time.monotonic() - 60]
                    if name not in commands or len(recent) >= RESTARTS_PER_MINUTE:
                        raise CommandError(f"The {name} stopped (exit code {process.returncode}).")
                    self.stderr.write(
                        f"The {name} stopped (exit code {process.returncode}); starting it again."
                    )
                    restarts[name] = [*recent, time.monotonic()]
                    processes[name] = subprocess.Popen(commands[name], env=served)
                time.sleep(1)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            # A second Ctrl-C or SIGTERM must not cut the stopping short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()

    def _wait_until_serving(
        self, host: str, port: int, processes: dict[str, subprocess.Popen[bytes]]
    ) -> None:
        """Poll /healthz until the web server answers (or one of the processes dies)."""
        deadline = time.monotonic() + 60
        url = f"http://{host}:{port}/healthz"
        while time.monotonic() < deadline:
            for name, process in processes.items():
                if process.poll() is not None:
                    raise CommandError(f"The {name} stopped (exit code {process.returncode}).")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # answering, even if the broker is still starting
            except OSError:
                time.sleep(0.3)
        raise CommandError(f"The web server did not answer at {url} within a minute.")

    def _banner(self, host: str, port: int, model_port: int) -> None:
        lines = [
            "",
            "=" * 64,
            f"  Graylab is running at http://{host}:{port}/",
            f"  Offline model server (offline stand-in): http://127.0.0.1:{model_port}/v1",
            "  Demo logins (user / password):",
        ]
        lines += [f"    {name:<11} {password}" for name, password, _ in demo_users()]
        lines += ["  Press Ctrl-C to stop all three processes.", "=" * 64, ""]
        self.stdout.write("\n".join(lines))
