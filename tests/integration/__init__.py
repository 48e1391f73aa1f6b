"""Tests against real stand-ins on loopback: Azurite for Blob, ``azmlinfsrv`` for the scoring script, the
components and the local platforms run as subprocesses, the handlers called with real ``func`` objects."""
