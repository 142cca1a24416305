"""The rule pass on beat (settings.CELERY_BEAT_SCHEDULE), once cluster-wide per interval."""

from celery import shared_task
from django.conf import settings

from core.periodic import once_per_interval


@shared_task(name="rules.evaluate")
@once_per_interval("rules.evaluate", settings.RULES_EVAL_INTERVAL_SEC)
def evaluate_task():
    from rules.services.evaluation import rules_evaluate

    report = rules_evaluate()
    return {"sites": report.sites, "rules": report.rules, "hits": len(report.decisions)}
