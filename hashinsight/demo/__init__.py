"""A month of believable demo history (manage.py seed_demo_history): the scenario (plan), the rows
that are not telemetry (events) and the telemetry tiers (tiers)."""
