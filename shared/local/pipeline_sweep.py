"""Sweep nodes for the local runner: the node's settings as plain JSON, its trials sampled, the metric each trial
logged read back, and the best trial picked.

An Azure ML sweep node runs its trial component once per sampled set of search-space values and reads the primary
metric from what each trial logged to MLflow. Locally each trial gets an MLflow file store of its own
(:func:`trial_environment`), and :func:`logged_metric` reads the metric from it, so a trial that forgets to log
fails here as it would on Azure. :func:`sample_trials` draws the values with the node's sampling algorithm and
seed (``random``: one ``random.Random(seed)`` for the whole sweep, parameters in name order; ``grid``: every
combination of ``choice`` values, in order), so a seed always gives the same trials. The budget is
``max_total_trials`` and ``timeout`` (no trial starts after it); early-termination policies act on intermediate
metric reports, and a trial that logs one final metric gives none, so locally no trial is cut short.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

LIMIT_NAMES = ("max_total_trials", "max_concurrent_trials", "timeout", "trial_timeout")
_SAMPLERS = ("random", "grid")


class SweepError(ValueError):
    """A sweep node the local runner cannot run as given."""


@dataclass(frozen=True)
class SweepSpec:
    """What the runner needs of a sweep node (JSON-serialisable: a job process runs it without azure-ai-ml)."""

    search_space: dict[str, dict[str, Any]]  # name → {"type": "choice", "values": [...]} / {"type": "uniform", …}
    sampling: dict[str, Any]  # {"type": "random", "seed": 42}
    primary_metric: str
    goal: str  # maximize / minimize
    limits: dict[str, Any]  # LIMIT_NAMES → int, None, or ["input", pipeline input] before binding
    early_termination: dict[str, Any] | None = None
    trial_inputs: dict[str, str] = field(default_factory=dict)  # search-space name → the trial input's type

    def to_json(self) -> dict[str, Any]:
        return {
            "search_space": self.search_space,
            "sampling": self.sampling,
            "primary_metric": self.primary_metric,
            "goal": self.goal,
            "limits": {k: list(v) if isinstance(v, tuple) else v for k, v in self.limits.items()},
            "early_termination": self.early_termination,
            "trial_inputs": self.trial_inputs,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SweepSpec:
        return cls(
            search_space={str(k): dict(v) for k, v in doc["search_space"].items()},
            sampling=dict(doc["sampling"]),
            primary_metric=str(doc["primary_metric"]),
            goal=str(doc["goal"]),
            limits={str(k): tuple(v) if isinstance(v, list) else v for k, v in doc["limits"].items()},
            early_termination=doc.get("early_termination"),
            trial_inputs={str(k): str(v) for k, v in (doc.get("trial_inputs") or {}).items()},
        )

    def bound(self, values: Mapping[str, Any]) -> SweepSpec:
        """The spec with its limits bound to the pipeline's input ``values``."""
        limits = {k: values.get(v[1]) if isinstance(v, tuple) else v for k, v in self.limits.items()}
        return SweepSpec(
            self.search_space,
            self.sampling,
            self.primary_metric,
            self.goal,
            limits,
            self.early_termination,
            self.trial_inputs,
        )

    def limit(self, name: str, step: str) -> int | None:
        """A bound limit as a positive integer (None: unset). Raises SweepError for anything else."""
        value = self.limits.get(name)
        if value is None:
            return None
        try:
            number = float(str(value).strip())
        except ValueError:
            number = math.nan
        if not (number >= 1 and number == int(number)):
            raise SweepError(f"step {step}: limits.{name}={value!r} is not a positive integer")
        return int(number)


_PARENT_INPUT_PREFIX = "${{parent.inputs."


def _limit_value(value: Any) -> Any:
    text = str(value).replace(" ", "") if value is not None else None
    if text is not None and text.startswith(_PARENT_INPUT_PREFIX) and text.endswith("}}"):
        return ("input", text[len(_PARENT_INPUT_PREFIX) : -2])
    return value


def _distribution(name: str, step: str, dist: Any) -> dict[str, Any]:
    kind = str(getattr(dist, "type", "")).lower()
    if kind == "choice":
        values = list(getattr(dist, "values", None) or [])
        if not values:
            raise SweepError(f"step {step}: search_space.{name} is a choice of nothing")
        return {"type": kind, "values": values}
    if kind in ("uniform", "loguniform", "quniform", "qloguniform"):
        doc = {"type": kind, "min_value": float(dist.min_value), "max_value": float(dist.max_value)}
        if doc["min_value"] > doc["max_value"]:
            raise SweepError(f"step {step}: search_space.{name} has min_value above max_value")
        if kind.startswith("q"):
            doc["q"] = float(dist.q)
        return doc
    if kind == "randint":
        return {"type": kind, "upper": int(dist.upper)}
    if kind in ("normal", "lognormal", "qnormal", "qlognormal"):
        doc = {"type": kind, "mu": float(dist.mu), "sigma": float(dist.sigma)}
        if kind.startswith("q"):
            doc["q"] = float(dist.q)
        return doc
    raise SweepError(f"step {step}: search_space.{name} has type {kind!r}, which the local runner cannot sample")


def sweep_spec(node: Any, step: str, trial_input_types: Mapping[str, str]) -> SweepSpec:
    """The spec of an azure-ai-ml ``Sweep`` node (as ``load_job`` returns it)."""
    space = {str(n): _distribution(str(n), step, d) for n, d in (node.search_space or {}).items()}
    unknown = sorted(set(space) - set(trial_input_types))
    if unknown:
        raise SweepError(f"step {step}: search_space.{unknown[0]} is not an input of the trial component")
    sampling = node.sampling_algorithm
    kind = str(getattr(sampling, "type", sampling) or "random").lower()
    if kind not in _SAMPLERS:
        raise SweepError(f"step {step}: sampling algorithm {kind!r} is not supported locally (random or grid)")
    if kind == "grid" and any(d["type"] != "choice" for d in space.values()):
        raise SweepError(f"step {step}: grid sampling needs every search-space entry to be a choice")
    seed = getattr(sampling, "seed", None)
    objective = node.objective
    limits = node.limits
    policy = node.early_termination
    return SweepSpec(
        search_space=space,
        sampling={"type": kind, "seed": int(seed) if seed is not None else None},
        primary_metric=str(objective.primary_metric),
        goal=str(objective.goal).lower(),
        limits={n: _limit_value(getattr(limits, n, None)) for n in LIMIT_NAMES},
        early_termination=(
            {k: v for k, v in vars(policy).items() if not k.startswith("_") and v is not None} if policy else None
        ),
        trial_inputs={n: str(trial_input_types[n]) for n in space},
    )


def _draw(dist: Mapping[str, Any], rng: random.Random) -> Any:
    kind = dist["type"]
    if kind == "choice":
        return rng.choice(dist["values"])
    if kind == "randint":
        return rng.randrange(int(dist["upper"]))
    if kind in ("uniform", "quniform"):
        value = rng.uniform(dist["min_value"], dist["max_value"])
    elif kind in ("loguniform", "qloguniform"):  # Azure ML: the bounds are the exponents
        value = math.exp(rng.uniform(dist["min_value"], dist["max_value"]))
    elif kind in ("normal", "qnormal"):
        value = rng.gauss(dist["mu"], dist["sigma"])
    else:
        value = math.exp(rng.gauss(dist["mu"], dist["sigma"]))
    if "q" in dist:
        value = round(value / dist["q"]) * dist["q"]
    return value


def sample_trials(spec: SweepSpec, count: int) -> list[dict[str, Any]]:
    """The search-space values of the first ``count`` trials (fewer for a grid with fewer combinations)."""
    names = sorted(spec.search_space)
    if spec.sampling["type"] == "grid":
        grid = itertools.product(*(spec.search_space[n]["values"] for n in names))
        return [dict(zip(names, combination, strict=True)) for combination in itertools.islice(grid, count)]
    rng = random.Random(spec.sampling.get("seed"))
    return [{n: _draw(spec.search_space[n], rng) for n in names} for _ in range(count)]


def trial_environment(trial_folder: Path) -> dict[str, str]:
    """Where a trial's MLflow calls go: a file store in its own folder (MLflow refuses one without the opt-in)."""
    return {"MLFLOW_TRACKING_URI": (trial_folder / "mlruns").resolve().as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true"}


def logged_metric(trial_folder: Path, metric: str) -> float | None:
    """The last value of ``metric`` the trial logged to its file store (None: not logged)."""
    found = sorted((trial_folder / "mlruns").glob(f"*/*/metrics/{metric}"))
    if not found:
        return None
    lines = [line.split() for line in found[-1].read_text().splitlines() if line.strip()]
    try:
        return float(lines[-1][1])  # "timestamp value step"
    except (IndexError, ValueError):
        return None


def best_trial(trials: list[dict[str, Any]], goal: str) -> dict[str, Any] | None:
    """The completed trial with the best score (the first of equals), or None when none has one."""
    scored = [t for t in trials if t.get("status") == "Completed" and t.get("score") is not None]
    if not scored:
        return None
    sign = -1.0 if goal == "minimize" else 1.0
    return max(scored, key=lambda t: (sign * t["score"], -t["trial"]))


@dataclass(frozen=True)
class TrialRun:
    """What running one trial gave: its exit code, duration and output folders."""

    exit_code: int
    duration_s: float | None
    outputs: dict[str, str]


def run_trials(
    spec: SweepSpec,
    step: str,
    folder: Path,
    run_trial: Callable[[int, Mapping[str, Any], Path], TrialRun],
    *,
    trials: list[dict[str, Any]],
    out: TextIO,
) -> dict[str, Any] | None:
    """Run the sweep's trials one after another within its budget (``run_trial(number, values, trial folder)``),
    appending each to ``trials`` as it ends, and write ``folder/trials.json``. Returns the best trial, or None when
    none completed with the primary metric (a failed trial does not stop the sweep, as on Azure ML)."""
    total = spec.limit("max_total_trials", step) or 1
    timeout = spec.limit("timeout", step)
    started = time.monotonic()
    for number, sampled in enumerate(sample_trials(spec, total)):
        if timeout is not None and time.monotonic() - started >= timeout:
            print(f"[{step}] sweep timeout of {timeout}s reached after {number} trials", file=out, flush=True)
            break
        trial_folder = folder / "trials" / str(number)
        run = run_trial(number, sampled, trial_folder)
        score = logged_metric(trial_folder, spec.primary_metric) if run.exit_code == 0 else None
        if run.exit_code == 0 and score is None:
            print(f"[{step}#{number}] logged no {spec.primary_metric}: not a candidate", file=out, flush=True)
        trials.append(
            {
                "trial": number,
                "values": dict(sampled),
                "score": score,
                "status": "Completed" if score is not None else "Failed",
                "exit_code": run.exit_code,
                "duration_s": run.duration_s,
                "outputs": dict(run.outputs),
            }
        )
    best = best_trial(trials, spec.goal)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"primary_metric": spec.primary_metric, "goal": spec.goal, "best_trial": best and best["trial"]}
    (folder / "trials.json").write_text(json.dumps({**record, "trials": trials}, indent=2))
    if best is None:
        print(f"[{step}] no trial completed with {spec.primary_metric}", file=out, flush=True)
    else:
        print(
            f"[{step}] best of {len(trials)} trials: #{best['trial']} {spec.primary_metric}={best['score']:.6f} "
            f"with {json.dumps(best['values'])}",
            file=out,
            flush=True,
        )
    return best
