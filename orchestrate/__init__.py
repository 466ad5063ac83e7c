"""Orchestration of the Meltano project: Dagster definitions and the instance config."""
