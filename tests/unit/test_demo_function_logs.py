"""functions.log: a run of identical lines of one logger is folded into one line with its count (written when a
different line comes, or at close); azure.ai.ml's experimental-class notices are dropped, its other warnings kept."""

from __future__ import annotations

import logging
from pathlib import Path

from demo.function_logs import EXPERIMENTAL_LOGGER, function_logs


def messages(path: Path) -> list[str]:
    """Each line without its time stamp: ``LEVEL logger: message``."""
    return [line.split(" ", 2)[2] for line in path.read_text(encoding="utf-8").splitlines()]


def test_consecutive_identical_lines_are_folded_with_their_count(tmp_path: Path) -> None:
    tick, other = logging.getLogger("shared.triggers.rollout"), logging.getLogger("shared.local.endpoint_platform")
    with function_logs(tmp_path / "functions.log"):
        tick.info("reconcile_rollouts: %s", {"credit-default": "provisioning"})
        for _ in range(12):
            tick.info("reconcile_rollouts: %s", {"credit-default": "provisioning"})
        other.info("traffic set")
        tick.info("reconcile_rollouts: %s", {"credit-default": "traffic"})
        tick.info("reconcile_rollouts: %s", {"credit-default": "traffic"})
        tick.warning("reconcile_rollouts: %s", {"credit-default": "traffic"})  # another level: another line
        tick.info("reconcile_rollouts: done")
        for _ in range(3):
            tick.info("reconcile_rollouts: done")  # still repeating at close
    assert messages(tmp_path / "functions.log") == [
        "INFO shared.triggers.rollout: reconcile_rollouts: {'credit-default': 'provisioning'}",
        "INFO shared.triggers.rollout: reconcile_rollouts: {'credit-default': 'provisioning'}"
        " (same as the previous line, repeated 12 times)",
        "INFO shared.local.endpoint_platform: traffic set",
        "INFO shared.triggers.rollout: reconcile_rollouts: {'credit-default': 'traffic'}",
        "INFO shared.triggers.rollout: reconcile_rollouts: {'credit-default': 'traffic'}"
        " (same as the previous line, repeated 1 time)",
        "WARNING shared.triggers.rollout: reconcile_rollouts: {'credit-default': 'traffic'}",
        "INFO shared.triggers.rollout: reconcile_rollouts: done",
        "INFO shared.triggers.rollout: reconcile_rollouts: done (same as the previous line, repeated 3 times)",
    ]


def test_the_same_message_from_two_loggers_is_not_folded(tmp_path: Path) -> None:
    with function_logs(tmp_path / "functions.log"):
        logging.getLogger("a").info("same")
        logging.getLogger("b").info("same")
    assert messages(tmp_path / "functions.log") == ["INFO a: same", "INFO b: same"]


def test_logging_is_put_back_after_the_run(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with function_logs(tmp_path / "functions.log"):
        pass
    assert root.handlers == handlers and root.level == level
    assert logging.getLogger(EXPERIMENTAL_LOGGER).filters == []


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_the_sdk_experimental_class_notices_are_dropped_and_its_other_warnings_kept(tmp_path: Path) -> None:
    # The SDK's own decorator and logger. What reaches the logger's handlers is collected by a handler of the
    # test's own: the SDK's stderr handler keeps whichever stream was sys.stderr when azure.ai.ml was first
    # imported, which under pytest may be an earlier test's capture.
    from azure.ai.ml._utils._experimental import experimental

    @experimental
    class InsideTheDemo:
        pass

    @experimental
    class OutsideTheDemo:
        pass

    sdk_logger = logging.getLogger(EXPERIMENTAL_LOGGER)
    collected = Collected()
    sdk_logger.addHandler(collected)
    try:
        with function_logs(tmp_path / "functions.log"):
            InsideTheDemo()
            sdk_logger.warning("another notice of the SDK")
        inside = list(collected.messages)
        OutsideTheDemo()
        outside = collected.messages[len(inside) :]
    finally:
        sdk_logger.removeHandler(collected)
    assert inside == ["another notice of the SDK"]
    assert any("Class OutsideTheDemo: This is an experimental class" in m for m in outside)
