"""Deployment as code: Bicep templates, their generated inputs, and the generators (not part of the app package)."""
