"""The whole loop of the local mode, end to end (``demo.scenario.run_demo`` on small data)."""
