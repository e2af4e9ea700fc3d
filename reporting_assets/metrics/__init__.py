"""Daily metrics and the alert rules engine."""
