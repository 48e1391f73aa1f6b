"""Component sources, uploaded to Azure ML as one code root (``ml_assets/``): ``contracts`` (shared with the
app), ``training``, ``drift``, ``scoring`` and ``stores``. Modules import each other relatively
(``from ..contracts.feature_schema import FEATURES``), so they work as ``src.*`` on Azure ML and as
``ml_assets.src.*`` from the repository root."""
