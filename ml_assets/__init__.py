"""What runs on Azure ML compute: components, pipelines, environments, the endpoint and its scoring script.
``ml_assets.src`` is importable from the repository root (the app imports the contracts from it) and as ``src``
from ``ml_assets/`` (the component code root on Azure ML, where steps run as ``python -m src.<package>.<step>``)."""
