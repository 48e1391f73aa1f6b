"""Where models and data assets are registered and found: the Azure ML registry client the training steps use,
and the file-based registry and data assets of the local mode (with their atomic-file helpers). Standard library
only, except the Azure ML client, which is imported lazily."""
