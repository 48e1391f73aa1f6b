"""The logic of each capability in plain Python, behind the ports of :mod:`shared.ports`: retraining on alerts
(``retraining*``), safe rollout (``rollout_*``), the export of inference data (``export*``), drift job
submission (``drift*``) and ``status``, with what they share (``submission_claim``, ``state_documents``,
``state_keys``, ``timestamps``); no Azure SDK and nothing from ``shared.azure`` or ``shared.local`` is imported
here."""
