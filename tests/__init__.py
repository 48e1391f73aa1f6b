"""The test suite: ``unit`` (pure logic and offline SDK objects), ``integration`` (Azurite, ``azmlinfsrv``,
subprocess runs of the components and the local platforms), ``e2e`` (the whole local loop), and ``fakes`` (the
in-memory ports the services are tested against)."""
