"""Writes ``infra/generated/alert-rules.json``, the alert rules the Bicep creates, from the contracts' rules.

The KQL of each rule has one definition, its contract in ``ml_assets/src/contracts/``; the Bicep reads this file
with ``loadJsonContent`` and substitutes the model name for :data:`MODEL_NAME_PLACEHOLDER`. Run
``python -m infra.alert_rules_json`` after changing a rule (``--check`` exits 1 when the file is out of date;
``tests/unit/test_infra_alert_rules.py`` fails then too).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from ml_assets.src.contracts.alert_rules import ALERT_RULES, DeclaredAlertRule

OUTPUT: Final = Path(__file__).resolve().parent / "generated" / "alert-rules.json"
# A model name may hold only letters, digits, '-', '_' and '.', so this never occurs in a real query.
MODEL_NAME_PLACEHOLDER: Final = "__MODEL_NAME__"


def iso_duration(value: timedelta) -> str:
    """``timedelta`` → the ISO-8601 duration ARM expects (whole minutes: what Azure Monitor accepts)."""
    seconds = int(value.total_seconds())
    if seconds <= 0 or seconds % 60 or value != timedelta(seconds=seconds):
        raise ValueError(f"an alert rule's window and frequency must be whole minutes, not {value}")
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def rule_document(declared: DeclaredAlertRule) -> dict[str, Any]:
    rule = declared.rule
    return {
        "name": rule.name,
        "description": rule.description,
        "severity": rule.severity,
        "evaluationFrequency": iso_duration(rule.frequency),
        "windowSize": iso_duration(rule.window),
        # Stateful: one alert per episode, resolved when the condition clears.
        "autoMitigate": True,
        # "Number of results > 0": each query returns only the rows that breach.
        "timeAggregation": "Count",
        "operator": "GreaterThan",
        "threshold": 0,
        "retrains": declared.retrains,
        "query": rule.kql(model_name=MODEL_NAME_PLACEHOLDER),
    }


def render(rules: Sequence[DeclaredAlertRule] = ALERT_RULES) -> str:
    names = [declared.rule.name for declared in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"alert rule names must be unique: {names}")
    document = {
        "generatedBy": "python -m infra.alert_rules_json (from ml_assets/src/contracts/alert_rules.py); do not edit",
        "modelNamePlaceholder": MODEL_NAME_PLACEHOLDER,
        "rules": [rule_document(declared) for declared in rules],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None, rules: Sequence[DeclaredAlertRule] = ALERT_RULES) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.alert_rules_json", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs, write nothing")
    args = parser.parse_args(argv)
    text = render(rules)
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run python -m infra.alert_rules_json", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
