"""The platform watching itself: its service levels (generation time, landing to delivery,
delivery success, dashboard latency, report freshness, availability) as daily assets with checks."""
