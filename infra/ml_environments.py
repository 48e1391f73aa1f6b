"""Checks the Azure ML environments' pip lists (``ml_assets/environments/*.conda.yml``) before Azure ML builds them.

Their packages are never installed together here: the tests run with ``requirements-dev.txt``, one venv for all.
So a conflict inside one environment (a plugin that caps a package the list pins higher) would first show when
Azure ML builds the image, as a failed job. ``python -m infra.ml_environments --resolve`` asks pip's resolver
for each list (``pip install --dry-run --ignore-installed``: nothing is installed) and exits 1
naming the file and pip's reason; ``make setup`` runs it when a spec changes. It needs the package index, like
the installs. Without ``--resolve`` it checks offline (``make lint``) that each list pins every package it shares
with ``requirements*.txt`` as they do, so what the tests ran is what Azure ML installs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT: Final = Path(__file__).resolve().parents[1]
ENVIRONMENTS: Final = ROOT / "ml_assets" / "environments"
LOCAL_REQUIREMENTS: Final = (ROOT / "requirements.txt", ROOT / "requirements-dev.txt")


class SpecError(ValueError):
    """A conda spec this check cannot read."""


def conda_specs(folder: Path = ENVIRONMENTS) -> list[Path]:
    return sorted(folder.glob("*.conda.yml"))


def environment_name(conda_file: str | Path) -> str:
    """``train`` for ``../environments/train.conda.yml``."""
    return Path(conda_file).name.removesuffix(".conda.yml")


def pip_requirements(spec: Path) -> list[str]:
    """The requirement lines under the spec's ``pip:`` dependency, as written."""
    import yaml

    try:
        doc = yaml.safe_load(spec.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{spec}: cannot read the conda spec ({exc})") from None
    dependencies = doc.get("dependencies") if isinstance(doc, dict) else None
    if not isinstance(dependencies, list):
        raise SpecError(f"{spec}: no dependencies list")
    lists = [d["pip"] for d in dependencies if isinstance(d, dict) and "pip" in d]
    if len(lists) != 1 or not isinstance(lists[0], list) or not all(isinstance(r, str) for r in lists[0]):
        raise SpecError(f"{spec}: expected one pip: list of requirement strings")
    return list(lists[0])


def local_requirements(files: Sequence[Path] = LOCAL_REQUIREMENTS) -> dict[str, Requirement]:
    """The requirements the tests' venv is installed from, by normalised name (``-r`` lines are the files given)."""
    found: dict[str, Requirement] = {}
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            text = line.split("#", 1)[0].strip()
            if text and not text.startswith("-"):
                requirement = Requirement(text)
                found[canonicalize_name(requirement.name)] = requirement
    return found


def disagreements(spec: Path, local: Mapping[str, Requirement]) -> list[str]:
    """The spec's requirements whose version range differs from the local one of the same package."""
    found = []
    for text in pip_requirements(spec):
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            found.append(f"{spec.name}: {text!r} is not a requirement ({exc})")
            continue
        mine = local.get(canonicalize_name(requirement.name))
        if mine is not None and mine.specifier != requirement.specifier:
            found.append(f"{spec.name}: {requirement} but the tests install {mine}")
    return found


def resolve(spec: Path, *, python: str = sys.executable, pip_args: Sequence[str] = ()) -> str | None:
    """None when pip can resolve the spec's pip list together; else pip's reason. ``pip_args``: e.g. the index."""
    requirements = pip_requirements(spec)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix=f"{spec.stem}-", delete=False) as handle:
        handle.write("\n".join(requirements) + "\n")
    try:
        command = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-input"]
        done = subprocess.run(
            [*command, "--disable-pip-version-check", *pip_args, "-r", handle.name],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        Path(handle.name).unlink(missing_ok=True)
    if done.returncode == 0:
        return None
    return failure_reason(done.stdout, done.stderr) or f"pip exited with {done.returncode}"


def failure_reason(stdout: str, stderr: str) -> str:
    """pip's ERROR lines, and the requirements it says conflict (printed to stdout, in the block that names them)."""
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR")]
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("The conflict is caused by")), len(lines))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(errors + lines[start:end]).strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ml_environments", description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolve", action="store_true", help="ask pip's resolver (needs the index)")
    parser.add_argument("specs", nargs="*", type=Path, help="conda specs (default: ml_assets/environments/*.conda.yml)")
    args = parser.parse_args(argv)
    specs = args.specs or conda_specs()
    try:
        local = local_requirements()
        found = [line for spec in specs for line in disagreements(spec, local)]
    except (SpecError, InvalidRequirement, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    if found:
        return 1
    if not args.resolve:
        print(f"{len(specs)} Azure ML environments pin what the tests install")
        return 0
    with ThreadPoolExecutor(max_workers=len(specs) or 1) as pool:
        reasons = list(pool.map(resolve, specs))
    failed = [(spec, reason) for spec, reason in zip(specs, reasons, strict=True) if reason is not None]
    for spec, reason in failed:
        name = spec.relative_to(ROOT) if spec.is_relative_to(ROOT) else spec
        print(f"error: {name}: pip cannot install its list together:\n{reason}", file=sys.stderr)
    if failed:
        return 1
    print(f"{len(specs)} Azure ML environments resolve: " + ", ".join(s.name for s in specs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
