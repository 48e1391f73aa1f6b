"""Cold-start cost of the app's own code: import time of `function_app` minus `azure.functions`.

Median of 5 fresh interpreter runs each. Last line: ``extra_import_s=<float>``. Goal: <= 0.15 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5


def import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import_seconds("function_app")  # warm the file-system cache and .pyc files once
    app = statistics.median(import_seconds("function_app") for _ in range(RUNS))
    base = statistics.median(import_seconds("azure.functions") for _ in range(RUNS))
    print(f"function_app_import_s={app:.4f} azure_functions_import_s={base:.4f}")
    print(f"extra_import_s={app - base:.4f}")


if __name__ == "__main__":
    main()
