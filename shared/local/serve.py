"""Serve ``ml_assets/src/score.py`` for one model with ``azmlinfsrv`` (the Azure ML inference server) on loopback.

``python -m shared.local serve MODEL_DIR --port N`` runs it in the foreground; :class:`ScoringServer` runs it as a
child process for tests and the local mode (free port from the OS, waits until the model is loaded).

azmlinfsrv always binds 0.0.0.0; the server is started through :func:`_run_azmlinfsrv`, which sets its host
constant to the loopback address first, so nothing listens beyond this machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCORE_SCRIPT = PROJECT_ROOT / "ml_assets" / "src" / "score.py"
LOOPBACK = "127.0.0.1"
_LAUNCH = (
    "import sys, azureml_inference_server_http.constants as c; c.DEFAULT_HOST = sys.argv.pop(1); "
    "from azureml_inference_server_http.amlserver import run; run()"
)


class ServeError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def server_command(model_dir: Path, port: int, *, worker_count: int = 1, host: str = LOOPBACK) -> list[str]:
    return [
        sys.executable,
        "-c",
        _LAUNCH,
        host,
        "--entry_script",
        str(SCORE_SCRIPT),
        "--model_dir",
        str(model_dir),
        "--port",
        str(port),
        "--worker_count",
        str(worker_count),
    ]


def server_env(model_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(extra or {})}
    env["AZUREML_MODEL_DIR"] = str(model_dir)
    env.pop("SEPERATE_HEALTH_ENDPOINT", None)
    return env


@dataclass
class ScoringServer:
    """A running azmlinfsrv for ``model_dir``; its output (including the console-log lines) is kept in ``lines``
    and, if ``log_file`` is set, appended there."""

    model_dir: Path
    port: int = 0
    env: Mapping[str, str] = field(default_factory=dict)
    log_file: Path | None = None
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def scoring_url(self) -> str:
        return f"{self.url}/score"

    def start(self, timeout: float = 90.0) -> ScoringServer:
        self.model_dir = Path(self.model_dir).resolve()
        if not self.model_dir.is_dir():
            raise ServeError(f"{self.model_dir}: no such model folder")
        self.port = self.port or free_port()
        self.process = subprocess.Popen(
            server_command(self.model_dir, self.port),
            env=server_env(self.model_dir, self.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, name=f"azmlinfsrv-{self.port}", daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServeError(f"azmlinfsrv exited with {self.process.returncode}:\n{self.tail()}")
            if self._ready():
                return self
            time.sleep(0.25)
        self.stop()
        raise ServeError(f"azmlinfsrv did not become ready within {timeout:.0f}s:\n{self.tail()}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/", timeout=2) as resp:
                if resp.status != 200:
                    return False
        except (urllib.error.URLError, OSError):
            return False
        # The liveness route answers before init() finishes in a worker: wait for the model to be loaded.
        with self._lock:
            return any("score: loaded" in line for line in self.lines)

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        log = self.log_file.open("a") if self.log_file else None
        try:
            for line in self.process.stdout:
                with self._lock:
                    self.lines.append(line.rstrip("\n"))
                if log:
                    log.write(line)
                    log.flush()
        finally:
            if log:
                log.close()

    def output(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.output()[-n:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> ScoringServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_foreground(model_dir: Path, port: int, env: Mapping[str, str] | None = None) -> int:
    """Run azmlinfsrv in the foreground until interrupted; returns its exit code."""
    model_dir = Path(model_dir).resolve()
    if not model_dir.is_dir():
        print(f"error: {model_dir}: no such model folder", file=sys.stderr)
        return 2
    print(f"[serve] azmlinfsrv for {model_dir} at http://{LOOPBACK}:{port}/score (Ctrl+C stops)", flush=True)
    process = subprocess.Popen(server_command(model_dir, port), env=server_env(model_dir, env))
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait(timeout=10)


# --- CLI: python -m shared.local serve ---------------------------------------------------------------------


def add_arguments(parser: Any) -> None:
    parser.add_argument("model_dir", help="model folder (e.g. .local/registry/credit-default/1: name and version)")
    parser.add_argument("--port", type=int, default=5001, help="loopback port to listen on")
    parser.add_argument("--deployment", default="local", help="deployment name written in the console-log lines")


def command(args: Any) -> int:
    return serve_foreground(Path(args.model_dir), args.port, {"DEPLOYMENT_NAME": args.deployment})
