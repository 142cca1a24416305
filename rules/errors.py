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

    def __init__(self, metric: str):
        super().__init__(
            f"metric: the 1-minute tier has no {metric!r} (the backtest reads it): not available to a backtest",
            field="metric",
            metric=metric,
        )
