"""Prefect flows: thin wrappers that orchestrate the pipeline/ stages."""
