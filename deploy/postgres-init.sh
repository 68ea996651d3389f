#!/bin/bash
# Run by the postgres image once, when its data volume is empty: MLflow's own role and database beside
# Airflow's (the tracking store and model registry, and the advisory lock alias moves take).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v mlflow_password="$MLFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
SQL
