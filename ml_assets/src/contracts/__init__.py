"""The contracts between what runs on Azure ML and the app: the feature schema, the console-log line that
``score.py`` prints and the export reads, the drift telemetry the component sends and alert rules read, and the
alert rules themselves. Each has one definition that writer and reader import. Standard library only."""
