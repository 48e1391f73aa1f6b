"""The local demo (``python -m demo``, ``make demo``): the whole MLOps loop on this machine with the app's real
code. It plays what Azure and the Functions host would do around the local platforms of :mod:`shared.local`: the
scenario's stages, the traffic it sends to the local endpoint, the Event Grid delivery of ModelRegistered events to
``deploy_registered_model``, the drift alert rule posting to ``retrain_on_alert`` (the handlers called with real
``azure.functions`` objects), the record of the run, its timeline and summary. Not deployed with the Function App.
"""
