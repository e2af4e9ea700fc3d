"""Reconciliation: headline KPIs recomputed from the raw demo inputs against what was published."""
