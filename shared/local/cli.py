"""The local-mode commands. Each capability adds its command to :data:`COMMANDS`."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from shared.local import runner, serve

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="folder for the demo's artefacts")


def _demo(args: argparse.Namespace) -> int:
    """What exists of the local loop so far: Azurite, the state store and the `status` function."""
    import azure.functions as func

    from shared.context import AppContext, use_context
    from shared.local.azurite import Azurite
    from shared.settings import Settings
    from shared.triggers import status

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, Azurite(location=Path(tmp)) as azurite:
        print(f"[demo] Azurite (blob) listening at {azurite.blob_endpoint}")
        use_context(AppContext(settings=Settings({"STORAGE_CONNECTION_STRING": azurite.connection_string})))
        handler = status.status.build().get_user_function()
        resp = handler(func.HttpRequest(method="GET", url="http://localhost/api/status", body=b""))
        body = json.loads(resp.get_body())
        print(f"[demo] GET /api/status -> {resp.status_code}: {json.dumps(body)}")
        (out / "status.json").write_text(json.dumps(body, indent=2))
    print(f"[demo] Azurite stopped; wrote {out / 'status.json'} in {time.monotonic() - started:.1f}s")
    print("[demo] The full loop (train → deploy → traffic → export → drift → alert → retrain → rollout)")
    print("[demo] is not built yet: it arrives with the local-mode issue. Only the foundation ran.")
    return 0


COMMANDS: dict[str, Command] = {
    "demo": ("Run the local MLOps loop end to end", _demo_arguments, _demo),
    "pipeline": ("Run an Azure ML pipeline YAML locally, step by step", runner.add_arguments, runner.command),
    "serve": ("Serve ml_assets/src/score.py for a model folder with azmlinfsrv", serve.add_arguments, serve.command),
}
