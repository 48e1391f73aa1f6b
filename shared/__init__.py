"""The function app: ``triggers`` (the Functions blueprints) call ``services`` (the logic, plain Python), which use
the narrow interfaces of ``ports``; ``azure`` and ``local`` implement the ports (Azure SDKs, the local mode), and
``context`` picks the implementation per port from ``settings``. ``payloads`` validates every input,
``platform_rules`` holds Azure ML's rules that every endpoint platform applies, ``telemetry`` sets up Azure Monitor.
docs/design.md describes the layers and what must hold."""
