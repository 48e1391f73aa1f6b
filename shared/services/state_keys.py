"""Keys of the documents in the state store: one place, so writers and `status` agree."""

EXPORT_WATERMARK = "export/watermark.json"
EXPORT_LAST_RUN = "export/last-run.json"
EXPORT_LOCK = "export"

ROLLOUT_PREFIX = "rollouts/"
ROLLOUT_LOCK = "rollouts"

RETRAINING_LAST = "retraining/last.json"
RETRAINING_DECISIONS_PREFIX = "retraining/decisions/"
RETRAINING_ALERTS_PREFIX = "retraining/alerts/"  # one claim per alert id + condition: <sha256>.json
RETRAINING_COOLDOWN_PREFIX = "retraining/cooldown/"  # one per model: <model>.json (last job, cool-down end)

DRIFT_LAST = "drift/last.json"
DRIFT_JOBS_PREFIX = "drift/jobs/"
PERFORMANCE_LAST = "performance/last.json"
PERFORMANCE_JOBS_PREFIX = "performance/jobs/"
