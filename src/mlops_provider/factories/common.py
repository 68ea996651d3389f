"""What every DAG of a model shares: its Assets, default_args and the resolved config in its docs."""

from __future__ import annotations

from datetime import timedelta

import yaml
from airflow.sdk import Asset

from mlops_provider.config import PipelineConfig, config_sha256
from mlops_provider.notifications.alerts import AlertNotifier


def drift_asset(config: PipelineConfig) -> Asset:
    """The Asset a drift check emits and the training DAG listens to: ``mlops://<model>/drift``."""
    return Asset(name=f"{config.model}_drift", uri=config.drift_asset_uri)


def predictions_asset(config: PipelineConfig) -> Asset:
    """The Asset each scoring run emits: ``mlops://<model>/predictions``."""
    return Asset(name=f"{config.model}_predictions", uri=config.predictions_asset_uri)


def resolved_config_md(config: PipelineConfig, source: str | None) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: this runs on every parse
    resolved = yaml.dump(config.model_dump(mode="json", by_alias=True), Dumper=dumper, sort_keys=False, width=100)
    return (
        f"Config file: `{source or 'n/a'}` · config sha256 `{config_sha256(config)[:12]}`\n\n"
        f"#### Resolved config (defaults merged)\n\n```yaml\n{resolved}```\n"
    )


def default_args(config: PipelineConfig) -> dict[str, object]:
    alert = AlertNotifier(model=config.model, slack_conn_id=config.alerting.slack_conn_id)
    return {
        "owner": config.owner,
        "retries": config.airflow.retries,
        "retry_delay": timedelta(minutes=config.airflow.retry_delay_minutes),
        "on_failure_callback": [alert],
    }
