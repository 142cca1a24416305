"""Errors of the rule engine, each with its HTTP status and error_code."""

from core.errors import DomainError


class InvalidRule(DomainError):
    status_code = 400
    error_code = "INVALID_RULE"

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}", field=field_name)


class InvalidThermalConfig(DomainError):
    """A legacy thermal config (/api/thermal/config) that cannot become rules."""

    status_code = 400
    error_code = "INVALID_THERMAL_CONFIG"

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}", field=field_name)


class BacktestPeriodInvalid(DomainError):
    status_code = 400
    error_code = "BACKTEST_PERIOD_INVALID"

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}", field=field_name)


class BacktestMetricUnavailable(DomainError):
    status_code = 400
    error_code = "BACKTEST_METRIC_UNAVAILABLE"

    def __init__(self, metric: str, *, kept_days: int):
        super().__init__(
            f"metric: the 1-minute tier has no {metric!r}, so a backtest of it reads the raw samples, kept "
            f"{kept_days} days: start the period within them",
            field="metric",
            metric=metric,
            kept_days=kept_days,
        )
