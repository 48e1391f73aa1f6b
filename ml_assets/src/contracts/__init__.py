"""The contracts between what runs on Azure ML and the app, each with one definition that writer and reader
import: the feature schema, the console-log line that ``score.py`` prints and the export reads, the layout and
columns of the exported data that the drift job reads, the drift telemetry the component sends, and the alert rules
that watch it. Standard library only: the scoring container, the components and the function app all import them."""
