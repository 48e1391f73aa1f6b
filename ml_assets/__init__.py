"""What runs on Azure ML compute. `ml_assets.src` is importable from the repo root (the app imports the
feature schema and the console-log contract from it) and as `src` from `ml_assets/` (the component code
root on Azure ML, where steps run as `python -m src.<step>`)."""
