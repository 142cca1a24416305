"""The rule pass on beat (settings.CELERY_BEAT_SCHEDULE), once cluster-wide per interval.

The beat's task decides which sites have enabled rules and hands them out in chunks of
RULES_EVAL_SITES_PER_TASK to `rules.evaluate_sites` tasks, so every worker takes a share of the
pass (one site pass is one transaction, and a rule's pass holds its advisory lock: two workers
on one site act once). With the setting at 0 the beat's task runs every site itself."""

from celery import shared_task
from django.conf import settings

from core.periodic import once_per_interval


@shared_task(name="rules.evaluate")
@once_per_interval("rules.evaluate", settings.RULES_EVAL_INTERVAL_SEC)
def evaluate_task():
    from rules.services.evaluation import rules_evaluate, sites_with_rules

    chunk = settings.RULES_EVAL_SITES_PER_TASK
    if chunk <= 0:
        report = rules_evaluate()
        return {"sites": report.sites, "rules": report.rules, "hits": len(report.decisions)}
    sites = sites_with_rules()
    chunks = [sites[i : i + chunk] for i in range(0, len(sites), chunk)]
    for site_ids in chunks:
        evaluate_sites_task.delay(site_ids)
    return {"sites": len(sites), "tasks": len(chunks)}


@shared_task(name="rules.evaluate_sites")
def evaluate_sites_task(site_ids: list[int]):
    """One pass over these sites' enabled rules, judged at the time it runs (a backed-up queue must
    not judge freshness by the beat's clock)."""
    from rules.services.evaluation import rules_evaluate

    report = rules_evaluate(site_ids=site_ids)
    return {"sites": report.sites, "rules": report.rules, "hits": len(report.decisions)}
