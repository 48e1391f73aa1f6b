"""Serve ``ml_assets/src/scoring/score.py`` for one model with ``azmlinfsrv`` (the Azure ML inference server)
on loopback.

``python -m shared.local serve MODEL_DIR --port N`` runs it in the foreground until a stop signal;
:class:`ScoringServer` runs it as a child process for tests and the local mode (free port from the OS, waits until
the model is loaded).

azmlinfsrv always binds 0.0.0.0; the server is started through :func:`_run_azmlinfsrv`, which sets its host
constant to the loopback address first, so nothing listens beyond this machine.

The server runs in its own process group (gunicorn: a master and its worker); stopping signals the whole group, so
no worker outlives it. Given a :class:`~shared.local.process_registry.ProcessRegistry`, the group is recorded
there until it is stopped (what a killed owner left running is stopped by the next start).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.local.process_registry import ProcessRegistry, default_state_dir
from shared.local.stop_signals import run_stoppable

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCORE_SCRIPT = PROJECT_ROOT / "ml_assets" / "src" / "scoring" / "score.py"
LOOPBACK = "127.0.0.1"
_LAUNCH = (
    "import sys, azureml_inference_server_http.constants as c; c.DEFAULT_HOST = sys.argv.pop(1); "
    "from azureml_inference_server_http.amlserver import run; run()"
)
LOADED_MARKER = "score: loaded"  # printed by score.py's init() once the model is in memory
DEFAULT_MAX_LINES = 10_000


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
    """A running azmlinfsrv for ``model_dir``.

    Its output (including the console-log lines) is read line by line as it arrives: the last ``max_lines`` are
    kept in ``lines`` (None: all of them), each is passed to ``on_line`` (e.g. a console-log writer; an
    exception there is counted in ``on_line_errors`` and never stops the reading, so the process can never
    block on a full pipe) and, if ``log_file`` is set, appended there. With a ``registry``, its process group is
    recorded there as ``what`` (default: azmlinfsrv and the model folder) until it is stopped.

    :meth:`start` = :meth:`launch` (returns at once) + :meth:`wait_ready` (until the model is loaded).
    """

    model_dir: Path
    port: int = 0
    env: Mapping[str, str] = field(default_factory=dict)
    log_file: Path | None = None
    process: subprocess.Popen[str] | None = None
    on_line: Callable[[str], None] | None = None
    max_lines: int | None = DEFAULT_MAX_LINES
    registry: ProcessRegistry | None = None
    what: str = ""
    lines: deque[str] = field(init=False)
    on_line_errors: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _loaded: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _pump_done: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _group_gone: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.lines = deque(maxlen=self.max_lines)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def scoring_url(self) -> str:
        return f"{self.url}/score"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout: float = 90.0) -> ScoringServer:
        self.launch()
        try:
            self.wait_ready(timeout)
        except ServeError:
            self.stop()
            raise
        return self

    def launch(self) -> ScoringServer:
        """Start the process (and the thread reading its output) without waiting for it."""
        if self.process is not None:
            raise ServeError("this server was already launched")
        self.model_dir = Path(self.model_dir).resolve()
        if not self.model_dir.is_dir():
            raise ServeError(f"{self.model_dir}: no such model folder")
        self.port = self.port or free_port()
        command = server_command(self.model_dir, self.port)
        env = server_env(self.model_dir, self.env)
        output: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        if self.registry is not None:
            what = self.what or f"azmlinfsrv for {self.model_dir} on port {self.port}"
            self.process = self.registry.start(command, what=what, env=env, errors="replace", **output)
        else:
            self.process = subprocess.Popen(command, env=env, errors="replace", start_new_session=True, **output)
        threading.Thread(target=self._pump, name=f"azmlinfsrv-{self.port}", daemon=True).start()
        return self

    def wait_ready(self, timeout: float, cancel: threading.Event | None = None) -> None:
        """Return once the model is loaded and the server answers; ServeError if the process exits, ``timeout``
        seconds pass or ``cancel`` is set first (the process is left as it is: the caller stops it)."""
        if self.process is None:
            raise ServeError("the server was not launched")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                raise ServeError("start-up cancelled")
            if self.process.poll() is not None:
                self._pump_done.wait(5)  # the last lines (the error) are still being read
                raise ServeError(f"azmlinfsrv exited with {self.process.returncode}:\n{self.tail()}")
            if self._ready():
                return
            time.sleep(0.25)
        raise ServeError(f"azmlinfsrv did not become ready within {timeout:.0f}s:\n{self.tail()}")

    def _ready(self) -> bool:
        # The liveness route answers before init() finishes in a worker: wait for the model to be loaded.
        if not self._loaded.is_set():
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        log = self.log_file.open("a") if self.log_file else None
        try:
            for raw in self.process.stdout:
                line = raw.rstrip("\r\n")
                with self._lock:
                    self.lines.append(line)
                if not self._loaded.is_set() and LOADED_MARKER in line:
                    self._loaded.set()
                if self.on_line is not None:
                    try:
                        self.on_line(line)
                    except Exception:  # noqa: BLE001 - a full disk must not stop the reading (the process would block)
                        self.on_line_errors += 1
                if log:
                    log.write(line + "\n")
                    log.flush()
        finally:
            if log:
                log.close()
            self._pump_done.set()

    def output(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.output()[-n:])

    def terminate(self) -> None:
        """Ask the whole process group to stop (SIGTERM) without waiting."""
        self._signal_group(signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process group: SIGTERM, then SIGKILL after ``timeout`` seconds; waits for the process."""
        if self.process is None:
            return
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        self.kill()
        self._pump_done.wait(5)

    def kill(self) -> None:
        """SIGKILL whatever is left of the process group (a worker whose master died too) and reap the process."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored: this does not time out
            self.process.wait(timeout=10)
        if self.process.poll() is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, 0)
                return
            self._group_gone = True  # never signal this group id again: it may be reused by now
            if self.registry is not None:
                self.registry.forget(self.process.pid)

    def _signal_group(self, signum: int) -> None:
        if self.process is None or self._group_gone:
            return
        try:
            # start_new_session=True: the process leads its own group, whose id is its pid. The group id is not
            # reused while any member (e.g. an orphaned worker) is alive, so this never signals a stranger.
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signum)

    def __enter__(self) -> ScoringServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_foreground(
    model_dir: Path, port: int, env: Mapping[str, str] | None = None, *, registry: ProcessRegistry
) -> int:
    """Run azmlinfsrv in the foreground (its output on this terminal) until it exits or a stop signal arrives;
    returns its exit code. Its process group is recorded in ``registry`` while it runs."""
    model_dir = Path(model_dir).resolve()
    if not model_dir.is_dir():
        print(f"error: {model_dir}: no such model folder", file=sys.stderr)
        return 2
    print(f"[serve] azmlinfsrv for {model_dir} at http://{LOOPBACK}:{port}/score (Ctrl+C stops)", flush=True)
    try:
        process = registry.start(
            server_command(model_dir, port),
            what=f"azmlinfsrv for {model_dir} on port {port}",
            env=server_env(model_dir, env),
        )
    except OSError as exc:  # e.g. a state folder that cannot be written: nothing was left running
        print(f"error: could not start azmlinfsrv (process records in {registry.root}): {exc}", file=sys.stderr)
        return 2
    try:
        return process.wait()
    finally:
        registry.stop(process)  # the worker too, however the master ended


# --- CLI: python -m shared.local serve ---------------------------------------------------------------------


def add_arguments(parser: Any) -> None:
    parser.add_argument("model_dir", help="model folder (e.g. .local/registry/credit-default/1: name and version)")
    parser.add_argument("--port", type=int, default=5001, help="loopback port to listen on")
    parser.add_argument("--deployment", default="local", help="deployment name written in the console-log lines")
    parser.add_argument(
        "--state-dir",
        default=str(default_state_dir()),
        help="local state folder: the server's process group is recorded in its processes/ folder "
        "(default: LOCAL_STATE_DIR, else .local; now %(default)s)",
    )


def command(args: Any) -> int:
    registry = ProcessRegistry(args.state_dir)
    return run_stoppable(
        lambda: serve_foreground(
            Path(args.model_dir), args.port, {"DEPLOYMENT_NAME": args.deployment}, registry=registry
        ),
        name="serve",
        registries=[registry],
    )
