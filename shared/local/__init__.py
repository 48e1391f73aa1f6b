"""The local implementations of the ports (:mod:`shared.ports`), which :mod:`shared.context` builds when
``MLOPS_MODE=local``, and what they need: the job platform and its pipeline runner, the endpoint platform with its
router and the ``azmlinfsrv`` scoring server, the model registry and the outbox its registrations publish
ModelRegistered events to, the data assets, the console-log writer and source, and the Azurite launcher. Nothing here
imports the Function triggers, ``azure.functions`` or the demo (``demo/``), which drives the app's handlers on top
of these.
"""
