"""Request decoding and validation of the online scoring script, without the model.

``score.parse_request`` is what every scored request pays before ``predict_proba``: JSON decoding, the
feature-schema checks (types, impossible values, the training-range count) and the rows in column order.
Bodies are the project's generated data as the endpoint receives it (``{"data": [records]}``); the medians of
``--repeat`` calls for 1,000 records and for one record. Run it against two commits in one session to compare
(the machines are shared: compare within a run, and read ``cpu_seconds`` beside the figures).

Last line: ``parse1000_ms=… parse1_ms=… cpu_seconds=…``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _median_ms(call: object, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    from ml_assets.src.contracts.feature_schema import FEATURES
    from ml_assets.src.scoring.score import parse_request
    from ml_assets.src.training.synthetic import generate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=50, help="calls per figure (default: 50)")
    args = parser.parse_args()

    records = json.loads(generate(1000, seed=0)[list(FEATURES)].to_json(orient="records"))
    batch = json.dumps({"data": records}).encode()
    single = json.dumps({"data": records[:1]}).encode()
    for body in (batch, single):  # warm up (imports, caches)
        parse_request(body, 1000)

    cpu_started = time.process_time()
    batch_ms = _median_ms(lambda: parse_request(batch, 1000), args.repeat)
    single_ms = _median_ms(lambda: parse_request(single, 1000), args.repeat * 20)
    cpu = time.process_time() - cpu_started
    print(f"body: {len(batch):,} bytes for 1,000 records, {len(single):,} bytes for one")
    print(f"parse1000_ms={batch_ms:.3f} parse1_ms={single_ms:.4f} cpu_seconds={cpu:.2f}")


if __name__ == "__main__":
    main()
