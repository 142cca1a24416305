"""The backtest in the NOC admin: "Backtest" on a rule's change page (a period, default the last
24 h) and "Backtest a draft" on the Rules changelist (the add form's fields and a period). Both
show the totals, a chart of hits per hour (per day over more than three days) and the miners hit.
A read through rules.services.backtest: nothing is written."""

import datetime as dt

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.safestring import mark_safe

from core.errors import DomainError
from hosting.reports.chart import counts_svg
from rules.models import HitKind, Rule
from rules.services.backtest import rule_backtest
from rules.services.definitions import EDITABLE

SERIES = [
    (HitKind.TRIGGER, "trigger", "#c62828"),
    (HitKind.RECOVERY, "recovery", "#2e7d32"),
    (HitKind.SUPPRESSED, "suppressed", "#1565c0"),
    (HitKind.CAPPED, "capped", "#f9a825"),
]
DRAFT_FIELDS = ["site", *(name for name in EDITABLE if name not in ("name", "enabled"))]


class PeriodForm(forms.Form):
    start = forms.DateTimeField(required=False, help_text="UTC; default: end − 24 h")
    end = forms.DateTimeField(required=False, help_text="UTC; default: now")

    def period(self) -> tuple[dt.datetime, dt.datetime]:
        end = self.cleaned_data.get("end") or timezone.now().replace(second=0, microsecond=0)
        return self.cleaned_data.get("start") or end - dt.timedelta(hours=24), end


def hits_chart(report) -> str:
    hourly = report.end - report.start <= dt.timedelta(days=3)
    width = dt.timedelta(hours=1) if hourly else dt.timedelta(days=1)
    buckets = [
        {
            "label": f"{b['start']:%H:%M}" if hourly else f"{b['start']:%d %b}",
            "title": f"{b['start']:%Y-%m-%d %H:%M} UTC" if hourly else f"{b['start']:%Y-%m-%d}",
            "counts": b["counts"],
        }
        for b in report.histogram(width)
    ]
    caption = f"Hits per {'hour' if hourly else 'UTC day'} over the period, all miners."
    return counts_svg(buckets, SERIES, caption=caption, chart_id="backtest-chart")


class BacktestAdminMixin(admin.ModelAdmin):
    """get_urls and the two views, mixed into RuleAdmin."""

    def get_urls(self):
        # Before the model's own URLs: "<id>/" would otherwise swallow "<id>/backtest/" and "backtest/".
        view = self.admin_site.admin_view
        return [
            path("backtest/", view(self.draft_backtest_view), name="rules_rule_backtest_draft"),
            path("<path:object_id>/backtest/", view(self.backtest_view), name="rules_rule_backtest"),
            *super().get_urls(),
        ]

    def _page(self, request, title: str, context: dict) -> TemplateResponse:
        report = context.get("report")
        return TemplateResponse(
            request,
            "admin/rules/backtest.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": Rule._meta,
                "kinds": [label for _, label, _ in SERIES],
                "chart": mark_safe(hits_chart(report)) if report else "",  # counts_svg escaped every text
                "miner_rows": [
                    {"m": m, "counts": [m.counts[k] for k, _, _ in SERIES]} for m in (report.miners if report else [])
                ],
                **context,
            },
        )

    def backtest_view(self, request, object_id):
        rule = self.get_object(request, object_id)
        if rule is None or not self.has_view_permission(request, rule):
            raise PermissionDenied  # out of scope and missing: the same answer
        form = PeriodForm(request.GET or None)
        report, error = None, ""
        if form.is_bound and form.is_valid():
            start, end = form.period()
            try:
                report = rule_backtest(rule_or_definition=rule, start=start, end=end, user=request.user)
            except DomainError as exc:
                error = exc.message
        if not form.is_bound:
            end = timezone.now().replace(second=0, microsecond=0)
            form = PeriodForm(initial={"start": end - dt.timedelta(hours=24), "end": end})
        return self._page(
            request, f"Backtest of {rule}", {"rule": rule, "form": form, "report": report, "error": error}
        )

    def draft_backtest_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        rule_form_class = self.get_form(request, None, fields=DRAFT_FIELDS)
        data = request.POST if request.method == "POST" else None
        rule_form = rule_form_class(data, instance=Rule(name="draft"))
        end = timezone.now().replace(second=0, microsecond=0)
        form = PeriodForm(data, initial={"start": end - dt.timedelta(hours=24), "end": end})
        report, error = None, ""
        if data is not None and rule_form.is_valid() and form.is_valid():
            fields = {name: rule_form.cleaned_data[name] for name in DRAFT_FIELDS if name in rule_form.cleaned_data}
            start, end = form.period()
            try:
                report = rule_backtest(rule_or_definition=fields, start=start, end=end, user=request.user)
            except DomainError as exc:
                error = exc.message
        context = {"rule_form": rule_form, "form": form, "report": report, "error": error}
        return self._page(request, "Backtest a draft rule", context)
