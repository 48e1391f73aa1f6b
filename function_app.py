"""Azure Functions entry point (programming model v2): the app and its blueprints, nothing else."""

import azure.functions as func

from shared.telemetry import configure_telemetry
from shared.triggers import drift, export, promotion, retraining, rollout, rollout_controls, status

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
configure_telemetry()

app.register_functions(status.bp)
app.register_functions(retraining.bp)
app.register_functions(rollout.bp)
app.register_functions(rollout_controls.bp)
app.register_functions(export.bp)
app.register_functions(drift.bp)
app.register_functions(promotion.bp)
