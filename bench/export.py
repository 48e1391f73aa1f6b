"""Benchmark of the export: console-log files → the real export service → Parquet in Azurite.

    .venv/bin/python bench/export.py --records 1000000

1. Generates ``--records`` scored records as console lines (``format_lines``, the contract's writer) in the
   local console-log files of two deployments (``shared.local.console_logs``), in two child processes.
   Traffic is steady at ``--rate`` records per hour (default 150,000, a busy endpoint) and ends an hour
   ago, so a bigger ``--records`` means a longer backlog, not denser windows. Request sizes: 60 % one
   record, 25 % 2-10, 10 % 11-100, 5 % 101-500 (22 records per request on average); values drawn from
   the schema's vocabularies and plausible numeric ranges.
2. Starts its own Azurite, exports everything with ``run_export`` on the ports the local mode uses
   (``AppContext`` in ``MLOPS_MODE=local``), timed, in this process.
3. Reads every Parquet file back and checks that each (request id, record index) is there exactly once
   and the count is ``--records``.

Last line: ``records=N seconds=… records_per_s=… peak_rss_mb=… cpu_seconds=… rss_after_mb=…`` (of step 2
only). ``peak_rss_mb`` is this process's maximum resident size right after the export (generation ran
elsewhere). ``cpu_seconds`` is this process's CPU time, all threads: it tells a busy or slowed-down machine
from a slow export (the same export takes 6.5-7.5 s of CPU at 1,000,000 records on a quiet machine of this
kind, 12-16 s when its host is contended). ``rss_after_mb`` is the resident size right after the export:
what a Functions host process keeps once the run is over.
Goals on 2 cores: ≥ 100,000 records/s, peak ≤ 400 MB, peak at 1,000,000 ≤ 1.3 × peak at 250,000.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

ENDPOINT = "credit-default"
MODEL = "credit-default"
DEPLOYMENTS = ("blue", "green")


def _sizes(rng: random.Random, total: int) -> list[int]:
    sizes: list[int] = []
    left = total
    while left > 0:
        draw = rng.random()
        if draw < 0.60:
            size = 1
        elif draw < 0.85:
            size = rng.randint(2, 10)
        elif draw < 0.95:
            size = rng.randint(11, 100)
        else:
            size = rng.randint(101, 500)
        size = min(size, left)
        sizes.append(size)
        left -= size
    return sizes


def _record_pool(rng: random.Random, size: int) -> list[list[object]]:
    from ml_assets.src.contracts.feature_schema import CATEGORIES, FEATURES, NUMERIC

    pool = []
    for _ in range(size):
        record: list[object] = []
        for name in FEATURES:
            if name in CATEGORIES:
                record.append(rng.choice(CATEGORIES[name]))
            elif NUMERIC[name] == "int":
                record.append(rng.randint(21, 79))
            elif name == "credit_limit":
                record.append(float(rng.randrange(500, 50_000, 500)))
            else:
                record.append(round(rng.uniform(-500, 20_000), 2))
        pool.append(record)
    return pool


def generate(root: Path, deployment: str, records: int, *, start: datetime, rate_per_hour: float, seed: int) -> None:
    """Write ``records`` records of one deployment, spread evenly from ``start`` at ``rate_per_hour``."""
    from ml_assets.src.contracts.console_log import format_lines
    from ml_assets.src.contracts.feature_schema import FEATURES
    from shared.local.console_logs import ConsoleLogWriter

    rng = random.Random(seed)
    pool = _record_pool(rng, 4096)
    seconds_per_record = 3600.0 / rate_per_hour
    offset = 0
    with ConsoleLogWriter(root, ENDPOINT, deployment) as writer:
        for size in _sizes(rng, records):
            moment = start + timedelta(seconds=offset * seconds_per_record)
            rows = [pool[rng.randrange(len(pool))] for _ in range(size)]
            lines = format_lines(
                request_id=str(uuid.UUID(int=rng.getrandbits(128))),
                model_name=MODEL,
                model_version=rng.choice(("3", "4")),
                deployment=deployment,
                time=moment,
                columns=FEATURES,
                rows=rows,
                predictions=[round(rng.random(), 6) for _ in rows],
            )
            writer.write_lines(lines, time=moment)
            offset += size


def _generate_all(root: Path, records: int, rate: float, seed: int) -> tuple[datetime, datetime]:
    """Both deployments in parallel child processes; returns the traffic's time range."""
    per_deployment = [records // 2, records - records // 2]
    span = timedelta(hours=records / rate)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    start = end - span
    children = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--generate",
                str(root),
                "--deployment",
                deployment,
                "--records",
                str(count),
                "--start",
                start.isoformat(),
                "--rate",
                str(rate / 2),
                "--seed",
                str(seed + i),
            ]
        )
        for i, (deployment, count) in enumerate(zip(DEPLOYMENTS, per_deployment, strict=True))
    ]
    for child in children:
        if child.wait() != 0:
            raise SystemExit(f"generator {child.args} failed")
    return start, end


def _check(writer: object, prefix: str, expected: int) -> int:
    import pyarrow.parquet as pq

    seen: set[tuple[str, int]] = set()
    total = 0
    for path in writer.list(prefix + "/"):  # type: ignore[attr-defined]
        table = pq.read_table(io.BytesIO(writer.read(path)), columns=["request_id", "record_index"])  # type: ignore[attr-defined]
        total += table.num_rows
        seen.update(zip(table["request_id"].to_pylist(), table["record_index"].to_pylist(), strict=True))
    if total != expected or len(seen) != expected:
        raise SystemExit(f"read back {total} rows, {len(seen)} distinct keys; expected {expected}")
    return total


def _resident_mb() -> float:
    """This process's resident size now (Linux ``/proc/self/statm``; NaN elsewhere)."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=250_000)
    parser.add_argument("--rate", type=float, default=150_000.0, help="records per hour of traffic")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--deployment", help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(
            args.generate,
            args.deployment,
            args.records,
            start=datetime.fromisoformat(args.start),
            rate_per_hour=args.rate,
            seed=args.seed,
        )
        return 0

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from shared.context import AppContext
    from shared.local.azurite import Azurite
    from shared.services.export import ExportConfig, ExportPorts, run_export
    from shared.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        state_dir = Path(tmp) / "state"
        started = time.monotonic()
        first, _ = _generate_all(state_dir / "console-logs", args.records, args.rate, args.seed)
        print(f"generated {args.records} records in {time.monotonic() - started:.1f}s", flush=True)
        with Azurite(location=Path(tmp) / "azurite") as azurite:
            lookback = datetime.now(UTC) - first + timedelta(minutes=5)
            settings = Settings(
                {
                    "MLOPS_MODE": "local",
                    "LOCAL_STATE_DIR": str(state_dir),
                    "STORAGE_CONNECTION_STRING": azurite.connection_string,
                    "EXPORT_INITIAL_LOOKBACK": f"PT{int(lookback.total_seconds())}S",
                    "EXPORT_TIME_BUDGET": "PT1H",
                    "ENDPOINT_NAME": ENDPOINT,
                    "MODEL_NAME": MODEL,
                }
            )
            context = AppContext(settings=settings)
            config = ExportConfig.from_settings(settings)
            ports = ExportPorts(
                source=context.log_source(), writer=context.export_writer(), store=context.state_store()
            )
            ports.writer.list("x")  # connect before timing  # type: ignore[attr-defined]
            began, cpu_began = time.monotonic(), time.process_time()
            if os.environ.get("BENCH_PROFILE"):
                import cProfile

                with cProfile.Profile() as prof:
                    run = run_export(config, ports)
                prof.dump_stats(os.environ["BENCH_PROFILE"])
            else:
                run = run_export(config, ports)
            seconds, cpu_seconds = time.monotonic() - began, time.process_time() - cpu_began
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            after_mb = _resident_mb()
            print(run.summary(), flush=True)
            total = _check(ports.writer, config.prefix, args.records)
    print(
        f"records={total} seconds={seconds:.2f} records_per_s={total / seconds:.0f} peak_rss_mb={peak_mb:.0f} "
        f"cpu_seconds={cpu_seconds:.2f} rss_after_mb={after_mb:.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
