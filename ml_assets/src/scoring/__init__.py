"""The online endpoint's scoring script (``score.py``, loaded by path by azmlinfsrv)."""
