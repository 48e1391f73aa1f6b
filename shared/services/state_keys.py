"""Keys of the documents in the state store: one place, so writers and `status` agree."""

EXPORT_WATERMARK = "export/watermark.json"
EXPORT_LAST_RUN = "export/last-run.json"
EXPORT_LOCK = "export"

ROLLOUT_PREFIX = "rollouts/"
ROLLOUT_LOCK = "rollouts"

CHAMPION_PREFIX = "champions/"  # one per model: <model>.json (the version tagged champion, for which rollout)
PROMOTION_PREFIX = "promotions/"  # per model: <model>/published.json (source side), <model>/candidates.json (target)
PROMOTION_LOCK = "promotions"

RETRAINING_LAST = "retraining/last.json"
RETRAINING_DECISIONS_PREFIX = "retraining/decisions/"
RETRAINING_ALERTS_PREFIX = "retraining/alerts/"  # one claim per alert id + condition: <sha256>.json
RETRAINING_COOLDOWN_PREFIX = "retraining/cooldown/"  # one per model: <model>.json (last job, cool-down end)

DRIFT_LAST = "drift/last.json"
DRIFT_JOBS_PREFIX = "drift/jobs/"
