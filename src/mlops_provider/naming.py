"""Names the registry and lineage share: aliases, tag keys, artifact names, experiment suffixes.

Spelled once here; every operator, the CLI and the lineage code import them. Nothing heavy is imported.
"""

from __future__ import annotations

# -- aliases of a registered model -------------------------------------------------------------------
CHAMPION = "champion"  # the version that serves (scoring, drift reference)
CHALLENGER = "challenger"  # the newest version that passed its gates and is not (yet) champion
PREVIOUS_CHAMPION = "previous_champion"  # the champion before the current one (one-step rollback)
CANARY = "canary"  # a version on trial that serves a fraction of the scoring rows (deploy.strategy: canary)
SHADOW = "shadow"  # a version on trial that scores every row beside the champion, never served (strategy: shadow)
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS_CHAMPION, CANARY, SHADOW)
#: The alias of a trial, per deploy strategy.
TRIAL_ALIASES = {"canary": CANARY, "shadow": SHADOW}

# -- tags ---------------------------------------------------------------------------------------------
TAG_PREFIX = "mlops."
#: On a model version: every promotion that made it champion (JSON list, oldest first).
PROMOTION_TAG = TAG_PREFIX + "promotion"
#: On a registered model: an alias move that was decided but may not have finished (JSON); present only
#: while a promotion is in flight or after one was interrupted. The next alias move completes it first.
PROMOTION_INTENT_TAG = TAG_PREFIX + "promotion_intent"
#: On a model version: the sign-off decision (JSON: decision approved/rejected/timed_out, by, at, run id).
APPROVAL_TAG = TAG_PREFIX + "approval"
#: On a model version: the outcome of its canary or shadow trial (JSON: strategy, outcome, gates with their
#: numbers, the window, the champion it was compared with).
TRIAL_TAG = TAG_PREFIX + "trial"
#: On a model version: the gate results it was registered with (JSON list).
GATES_TAG = TAG_PREFIX + "gates"
#: On a model version: the champion version its champion gate compared against ("none": no champion).
GATES_CHAMPION_TAG = TAG_PREFIX + "gates_champion"
#: On a model version: its holdout metrics (JSON object).
METRICS_TAG = TAG_PREFIX + "metrics"
#: On a model version: the resolved config as JSON, when it fits in a tag (see CONFIG_ARTIFACT).
CONFIG_TAG = TAG_PREFIX + "config"
#: On a model version: the sha256 of the resolved config (always written).
CONFIG_SHA256_TAG = TAG_PREFIX + "config_sha256"
#: On a registered model: the open drift episode (JSON): retrain requests, the brakes' state.
DRIFT_EPISODE_TAG = TAG_PREFIX + "drift_episode"
#: On a registered model: drift-triggered retraining held for the month by a budget projection (JSON).
BUDGET_HOLD_TAG = TAG_PREFIX + "budget_hold"
#: On a registered model: the month's cost so far, as of its latest cost report (JSON: month, estimated_usd,
#: actual_usd, runs, at). What the dashboard's overview shows without reading every cost run.
COST_MONTH_TAG = TAG_PREFIX + "cost_month"
#: On a cost run: the DAG and the Airflow run it costs.
COST_DAG_TAG = TAG_PREFIX + "dag_id"
COST_RUN_TAG = TAG_PREFIX + "airflow_run_id"
#: On a model version: the DAG and the Airflow run that trained it (lineage tags).
VERSION_DAG_TAG = TAG_PREFIX + "airflow_dag_id"
VERSION_RUN_TAG = TAG_PREFIX + "airflow_run_id"
#: On a model version: its model files were moved to the retention archive (JSON: at, uri, bytes, source,
#: originals_removed). Set by the ``<model>_retention`` DAG (docs/retention.md).
ARCHIVED_TAG = TAG_PREFIX + "archived"
#: On a training run: why a drift-triggered retrain stopped before training ("no_new_data").
RETRAIN_OUTCOME_TAG = TAG_PREFIX + "retrain_outcome"
#: Longest model-version tag value MLflow accepts (``MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH``); a resolved
#: config longer than this is kept only as the CONFIG_ARTIFACT of its run.
MAX_TAG_CHARS = 100_000

# -- artifacts of a training run ---------------------------------------------------------------------
HOLDOUT_ARTIFACT = "holdout/holdout.parquet"  # the holdout rows the gates scored
CONFIG_ARTIFACT = "config/resolved_config.json"  # the resolved config the run trained with (always logged)
VALIDATION_ARTIFACT = "data_validation.json"  # built-in checks and GX results of the training window
GATES_ARTIFACT = "gates.json"  # every gate result with its numbers
UNAVAILABLE_METRICS_ARTIFACT = "metrics_unavailable.json"  # metrics that could not be computed, with why
DRIFT_REPORT_ARTIFACT = "drift_report.html"  # the Evidently report of a drift check (monitoring run)
TRIAL_ARTIFACT = "trial.json"  # the trial gates of a canary or shadow trial with their numbers (training run)

# -- experiments --------------------------------------------------------------------------------------
REPRODUCE_EXPERIMENT_SUFFIX = "-reproduce"
COST_EXPERIMENT_SUFFIX = "-cost"  # one run per DAG run: what it cost (cost report)
MONITORING_EXPERIMENT_SUFFIX = "-monitoring"  # one run per drift check, with its report

# -- the retention archive ------------------------------------------------------------------------------
ARCHIVE_FOLDER = "archive"  # <snapshot root or artifact root>/archive/<model>/ when retention.archive_root is unset
#: Written last into a version's archive copy (files and bytes): its presence means the copy is complete.
ARCHIVE_MANIFEST = "_archive_manifest.json"

# -- XCom keys ----------------------------------------------------------------------------------------
RESOURCES_XCOM = "mlops_resources"  # what a task of ours used: wall and CPU seconds, peak memory
