"""The errors of the ports live in shared/port_errors.py and are imported from shared/ports.py with the ports."""

from __future__ import annotations

from shared import port_errors, ports


def test_every_error_of_the_ports_is_the_same_class_under_shared_ports() -> None:
    errors = {
        name: value
        for name, value in vars(port_errors).items()
        if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == port_errors.__name__
    }
    assert set(errors) == {
        "PlatformError",
        "TransientError",
        "NotFoundError",
        "CorruptDocumentError",
        "ConflictError",
        "LockHeldError",
    }
    assert {name: getattr(ports, name, None) for name in errors} == errors


def test_a_transient_or_missing_resource_or_unreadable_document_is_a_platform_error_and_a_lost_race_is_not() -> None:
    for kind in (ports.TransientError, ports.NotFoundError, ports.CorruptDocumentError):
        assert issubclass(kind, ports.PlatformError)
    for race in (ports.ConflictError, ports.LockHeldError):
        assert not issubclass(race, ports.PlatformError)
