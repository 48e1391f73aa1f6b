"""The plan of an Azure ML pipeline YAML for the local runner: the YAML loaded, its steps bound and ordered, each
step's command rendered.

The YAML is loaded with ``azure.ai.ml.load_job``, so it is validated by the same schema Azure ML uses, and reduced
to a JSON-serialisable :class:`PipelinePlan` (:func:`plan_pipeline`): its declared inputs, and its command steps in
dependency order, each with its component's command, inputs, outputs, environment variables and code folder, and
where each step input comes from (a literal or path, a pipeline input, another step's output). Binding a plan to
the run's inputs (:func:`checked_steps`, :func:`check_pipeline`) checks every value that does not come from another
step before anything runs; :func:`render_command` substitutes ``${{inputs.*}}`` / ``${{outputs.*}}`` with local
values and paths and drops ``$[[ … ]]`` blocks whose optional input is unset. The local job platform plans at
submission; its job processes run the plan without importing azure-ai-ml again.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.local.pipeline_sweep import SweepError, SweepSpec, sweep_spec

PATH_TYPES = frozenset({"uri_folder", "uri_file", "mlflow_model", "custom_model", "mltable", "triton_model"})
_EXPR = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OPTIONAL_BLOCK = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)
_PARENT_INPUT = re.compile(r"^\$\{\{\s*parent\.inputs\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_PARENT_OUTPUT = re.compile(
    r"^\$\{\{\s*parent\.jobs\.([A-Za-z_][A-Za-z0-9_]*)\.outputs\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$"
)


class PipelineError(ValueError):
    """The pipeline cannot be run locally as given (bad YAML, missing or malformed input, unsupported step)."""


@dataclass(frozen=True)
class _InputSpec:
    type: str
    default: Any = None
    optional: bool = False


@dataclass(frozen=True)
class _Component:
    """What the runner needs of a command component (no azure-ai-ml object, so a plan serialises to JSON)."""

    command: str
    inputs: dict[str, _InputSpec]
    outputs: list[str]
    environment_variables: dict[str, str]


@dataclass
class PlanStep:
    name: str
    component: _Component
    code_dir: Path
    bindings: dict[str, Any]  # input name → literal/path, ("input", parent input) or ("output", step, name)
    depends_on: set[str]
    sweep: SweepSpec | None = None  # a sweep node: the component is its trial

    def to_json(self) -> dict[str, Any]:
        c = self.component
        return {
            "name": self.name,
            "command": c.command,
            "inputs": {n: {"type": i.type, "default": i.default, "optional": i.optional} for n, i in c.inputs.items()},
            "outputs": list(c.outputs),
            "environment_variables": dict(c.environment_variables),
            "code_dir": str(self.code_dir),
            "bindings": {n: list(v) if isinstance(v, tuple) else v for n, v in self.bindings.items()},
            "depends_on": sorted(self.depends_on),
            "sweep": self.sweep.to_json() if self.sweep is not None else None,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PlanStep:
        component = _Component(
            command=str(doc["command"]),
            inputs={
                n: _InputSpec(str(i["type"]), i.get("default"), bool(i.get("optional")))
                for n, i in doc["inputs"].items()
            },
            outputs=[str(o) for o in doc["outputs"]],
            environment_variables={str(k): str(v) for k, v in doc.get("environment_variables", {}).items()},
        )
        bindings = {n: tuple(v) if isinstance(v, list) else v for n, v in doc["bindings"].items()}
        sweep = SweepSpec.from_json(doc["sweep"]) if doc.get("sweep") else None
        return cls(str(doc["name"]), component, Path(doc["code_dir"]), bindings, set(doc["depends_on"]), sweep)


@dataclass
class PipelinePlan:
    """A pipeline YAML loaded (validated by azure-ai-ml) and reduced to what the runner needs, in run order.

    JSON-serialisable (:meth:`to_json` / :meth:`from_json`), so a process can run a plan made elsewhere without
    importing azure-ai-ml again (the local job platform's job processes do). Inputs are bound when it runs.
    """

    source: str
    display_name: str | None
    tags: dict[str, str]
    inputs: dict[str, Any]  # declared pipeline inputs → their YAML value (path or literal)
    input_types: dict[str, str | None]  # declared pipeline inputs → data type (uri_folder, …), None for literals
    steps: list[PlanStep]

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "display_name": self.display_name,
            "tags": dict(self.tags),
            "inputs": dict(self.inputs),
            "input_types": dict(self.input_types),
            "steps": [s.to_json() for s in self.steps],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PipelinePlan:
        return cls(
            source=str(doc["source"]),
            display_name=doc.get("display_name"),
            tags={str(k): str(v) for k, v in (doc.get("tags") or {}).items()},
            inputs=dict(doc["inputs"]),
            input_types=dict(doc.get("input_types") or {}),
            steps=[PlanStep.from_json(s) for s in doc["steps"]],
        )


def load_pipeline(pipeline_yaml: str | Path) -> Any:
    from azure.ai.ml import load_job
    from azure.ai.ml.entities import PipelineJob

    path = Path(pipeline_yaml)
    if not path.is_file():
        raise PipelineError(f"{path}: no such pipeline YAML")
    try:
        job = load_job(source=str(path))
    except Exception as exc:  # noqa: BLE001 - the SDK raises several validation error types
        raise PipelineError(f"{path}: not a valid Azure ML job YAML: {exc}") from None
    if not isinstance(job, PipelineJob):
        raise PipelineError(f"{path}: a {type(job).__name__}, expected a pipeline job")
    return job


def _raw(value: Any) -> Any:
    data = getattr(value, "_data", value)
    if data is None:
        return None
    path = getattr(data, "path", None)
    if path is not None:
        return str(path)
    if hasattr(data, "path") and str(getattr(data, "type", "")) in PATH_TYPES:
        return None  # a data input declared without a value: the steps it feeds must take it as optional
    if isinstance(data, Mapping):
        return data.get("path", data.get("default"))
    return data


def _component_source(component: Any) -> Path:
    source = getattr(component, "_source_path", None)
    if source:
        return Path(source).resolve()
    raise PipelineError(f"component {getattr(component, 'name', '?')}: only components from YAML files are supported")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _component(component: Any) -> _Component:
    inputs = {
        str(name): _InputSpec(
            str(getattr(spec, "type", "string")),
            _jsonable(getattr(spec, "default", None)),
            bool(getattr(spec, "optional", False)),
        )
        for name, spec in component.inputs.items()
    }
    return _Component(
        command=str(component.command),
        inputs=inputs,
        outputs=[str(o) for o in component.outputs],
        environment_variables={
            str(k): str(v) for k, v in (getattr(component, "environment_variables", None) or {}).items()
        },
    )


def plan_pipeline(pipeline: str | Path | Any) -> PipelinePlan:
    """The plan of a pipeline YAML (or of a job :func:`load_pipeline` returned). Raises PipelineError for a YAML
    that does not load, a step that is not a command step from a YAML component, a missing code folder, a cycle."""
    job = load_pipeline(pipeline) if isinstance(pipeline, str | Path) else pipeline
    declared: dict[str, Any] = {name: _jsonable(_raw(value)) for name, value in job.inputs.items()}
    types: dict[str, str | None] = {}
    for name, value in job.inputs.items():
        kind = getattr(getattr(value, "_data", value), "type", None)
        types[name] = str(kind) if kind in PATH_TYPES else None
    steps: dict[str, PlanStep] = {}
    job_source = getattr(job, "_source_path", None)
    for name, node in job.jobs.items():
        node_type = getattr(node, "type", "")
        if node_type not in ("command", "sweep"):
            raise PipelineError(f"step {name}: type {node_type!r} is not supported locally (command or sweep steps)")
        component = node.trial if node_type == "sweep" else node.component
        if isinstance(component, str):
            raise PipelineError(f"step {name}: component {component!r} is a registry reference; use a YAML file")
        source = _component_source(component)
        code = getattr(component, "code", None) or "."
        code_dir = (source.parent / str(code)).resolve()
        if not code_dir.is_dir():
            raise PipelineError(f"step {name}: code folder {code_dir} does not exist")
        bindings: dict[str, Any] = {}
        depends: set[str] = set()
        for input_name, value in node.inputs.items():
            raw = _raw(value)
            if isinstance(raw, str) and (m := _PARENT_INPUT.match(raw)):
                bindings[input_name] = ("input", m.group(1))
            elif isinstance(raw, str) and (m := _PARENT_OUTPUT.match(raw)):
                bindings[input_name] = ("output", m.group(1), m.group(2))
                depends.add(m.group(1))
            else:
                bindings[input_name] = _jsonable(raw)
        spec = _component(component)
        sweep = None
        if node_type == "sweep":
            try:
                sweep = sweep_spec(node, name, {n: i.type for n, i in spec.inputs.items()})
            except SweepError as exc:
                raise PipelineError(str(exc)) from None
            for limit in sweep.limits.values():
                if isinstance(limit, tuple) and limit[1] not in declared:
                    raise PipelineError(f"step {name}: limits refer to undeclared pipeline input {limit[1]!r}")
        steps[name] = PlanStep(name, spec, code_dir, bindings, depends, sweep)
    for step in steps.values():
        for dep in step.depends_on:
            if dep not in steps:
                raise PipelineError(f"step {step.name}: depends on unknown step {dep!r}")
    return PipelinePlan(
        source=str(Path(job_source).resolve()) if job_source else "",
        display_name=getattr(job, "display_name", None),
        tags={str(k): str(v) for k, v in (getattr(job, "tags", None) or {}).items()},
        inputs=declared,
        input_types=types,
        steps=_toposort(steps),
    )


def bind(plan: PipelinePlan, overrides: Mapping[str, Any]) -> list[PlanStep]:
    unknown = sorted(set(overrides) - set(plan.inputs))
    if unknown:
        raise PipelineError(f"--input {unknown[0]}: the pipeline has no such input (it has {', '.join(plan.inputs)})")
    values = {**plan.inputs, **{k: str(v) for k, v in overrides.items()}}
    bound = []
    for step in plan.steps:
        bindings = {
            n: (values.get(v[1]) if isinstance(v, tuple) and v[0] == "input" else v) for n, v in step.bindings.items()
        }
        sweep = step.sweep.bound(values) if step.sweep is not None else None
        bound.append(PlanStep(step.name, step.component, step.code_dir, bindings, set(step.depends_on), sweep))
    return bound


def checked_steps(plan: PipelinePlan, inputs: Mapping[str, Any], base: Path) -> list[PlanStep]:
    steps = bind(plan, inputs)
    for step in steps:  # every input that does not come from another step is checked before anything runs
        step_inputs(step, None, base)
        if step.sweep is not None:
            try:
                for limit in ("max_total_trials", "max_concurrent_trials", "timeout"):
                    step.sweep.limit(limit, step.name)
            except SweepError as exc:
                raise PipelineError(str(exc)) from None
            if step.sweep.limit("max_total_trials", step.name) is None:
                raise PipelineError(f"step {step.name}: a sweep needs limits.max_total_trials")
    return steps


def check_pipeline(plan: PipelinePlan, inputs: Mapping[str, Any] | None = None, base: str | Path | None = None) -> None:
    """Check ``plan`` with ``inputs`` as :func:`run_pipeline` does before running anything (unknown inputs, missing
    values and paths, malformed literals). Raises PipelineError."""
    checked_steps(plan, inputs or {}, Path(base) if base is not None else Path.cwd())


def _toposort(steps: dict[str, PlanStep]) -> list[PlanStep]:
    ordered: list[PlanStep] = []
    done: set[str] = set()
    remaining = dict(steps)
    while remaining:
        ready = [s for s in remaining.values() if s.depends_on <= done]  # YAML order among the ready ones
        if not ready:
            raise PipelineError(f"steps {', '.join(sorted(remaining))} depend on each other (a cycle)")
        for step in ready:
            ordered.append(step)
            done.add(step.name)
            del remaining[step.name]
    return ordered


def literal_value(step: str, name: str, kind: str, value: Any) -> str:
    """``value`` as the command line spells an input of type ``kind``. Raises PipelineError when it is not one."""
    text = str(value).strip() if not isinstance(value, bool) else str(value).lower()
    try:
        if kind == "integer":
            number = float(text)
            if number != int(number):
                raise ValueError
            return str(int(number))
        if kind == "number":
            return repr(float(text))
        if kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower()
    except ValueError:
        raise PipelineError(f"step {step}: input {name}={value!r} is not a valid {kind}") from None
    return str(value)


def step_inputs(step: PlanStep, outputs: Mapping[str, Mapping[str, str]] | None, base: Path) -> dict[str, str | None]:
    """Input values of ``step``; with ``outputs=None`` only checks the inputs that do not come from other steps."""
    values: dict[str, str | None] = {}
    for name, spec in step.component.inputs.items():
        kind = str(getattr(spec, "type", "string"))
        value = step.bindings.get(name)
        if isinstance(value, tuple):
            _, src_step, src_name = value
            if outputs is None:
                continue
            if src_name not in outputs.get(src_step, {}):
                raise PipelineError(f"step {step.name}: input {name} needs output {src_name} of step {src_step}")
            values[name] = outputs[src_step][src_name]
            continue
        if value is None:
            value = getattr(spec, "default", None)
        if value is None:
            if getattr(spec, "optional", False):
                values[name] = None
                continue
            raise PipelineError(f"step {step.name}: input {name} has no value (pass --input or set a default)")
        if kind in PATH_TYPES:
            text = str(value)
            if text.startswith("azureml:") or "://" in text or text.endswith("@latest") or ":" in text:
                raise PipelineError(
                    f"step {step.name}: input {name} is {text!r}, which is not a local path; "
                    f"pass a local {kind} with --input {name}=PATH"
                )
            path = Path(text)
            path = path if path.is_absolute() else (base / path)
            if not path.exists():
                raise PipelineError(f"step {step.name}: input {name}: {path} does not exist")
            values[name] = str(path.resolve())
        else:
            values[name] = literal_value(step.name, name, kind, value)
    return values


def render_command(command: str, inputs: Mapping[str, str | None], outputs: Mapping[str, str]) -> str:
    """Substitute ``${{inputs.x}}`` / ``${{outputs.y}}`` (shell-quoted) and resolve ``$[[ … ]]`` blocks."""

    def optional_block(match: re.Match[str]) -> str:
        body = match.group(1)
        for kind, name in _EXPR.findall(body):
            if kind == "inputs" and inputs.get(name) is None:
                return ""
        return body

    def substitute(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        table: Mapping[str, str | None] = inputs if kind == "inputs" else outputs
        if name not in table:
            raise PipelineError(f"command refers to {kind}.{name}, which the component does not declare")
        value = table[name]
        if value is None:
            raise PipelineError(f"command uses optional input {name} outside a $[[ ]] block, and it is not set")
        return shlex.quote(value)

    return _EXPR.sub(substitute, _OPTIONAL_BLOCK.sub(optional_block, command))
