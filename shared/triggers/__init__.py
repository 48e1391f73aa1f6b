"""The Azure Functions blueprints, one per capability (``retraining``, ``rollout``, ``export``, ``drift``,
``status``), registered by ``function_app.py``: each parses its trigger's input, calls a service of
:mod:`shared.services` and maps the outcome to a response or a log line (``http`` holds the JSON responses
they share)."""
