"""Airflow provider for the MLOps lifecycle."""
