"""The training pipeline's steps (prepare → train → evaluate → register, each ``python -m src.training.<step>``),
the model (feature transformer + gradient-boosted trees, saved as MLflow), the curated-data reader and the
synthetic data generator."""
