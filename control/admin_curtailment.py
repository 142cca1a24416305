"""The NOC console for curtailments: list and read-only detail (the pick, the kW shed, its commands
linked), approve and cancel as permission-gated actions calling the services, each with a
confirmation page and a reason. Curtailments are scheduled through the API (POST
/api/admin/v1/curtailments): the admin never writes a row itself."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from control.admin_actions import reasoned_action
from control.models import Curtailment
from control.selectors import curtailment_commands, curtailments_for
from control.services import curtailment as service
from control.services.curtailment_power import curtailment_shed
from tenants.admin_base import ReadOnlyScopedAdmin
from tenants.scoping import Capability


@admin.register(Curtailment)
class CurtailmentAdmin(ReadOnlyScopedAdmin):
    scoped = curtailments_for
    manage_capability = Capability.OPERATE
    list_display = (
        "id",
        "site",
        "state",
        "target_kw",
        "expected_kw",
        "shed_kw",
        "start_at",
        "end_at",
        "created_by",
        "approved_by",
        "last_error",
    )
    list_filter = (("site", admin.RelatedOnlyFieldListFilter), "state")
    list_select_related = ("site", "created_by", "approved_by")
    search_fields = ("reason",)
    ordering = ("-start_at", "-id")
    actions = ["approve", "cancel"]
    readonly_fields = ("shed_shown", "chosen_shown", "commands_shown")
    fieldsets = (
        (None, {"fields": ("site", "zone", "group", "miners", "start_at", "end_at", "reason", "target_kw", "state")}),
        ("Approval", {"fields": ("created_by", "created_at", "approved_by", "approved_at", "approval_reason")}),
        ("Pick", {"fields": ("expected_kw", "chosen_at", "chosen_shown", "not_chosen")}),
        (
            "Commands and kW shed",
            {
                "fields": (
                    "started_at",
                    "ended_at",
                    "end_reason",
                    "last_error",
                    "disable_batch_id",
                    "enable_batch_id",
                    "enable_pending",
                    "shed_shown",
                    "commands_shown",
                )
            },
        ),
    )

    def has_approve_permission(self, request):
        return self._scope(request).has(Capability.APPROVE)

    def has_operate_permission(self, request):
        return self._scope(request).has(Capability.OPERATE)

    @admin.display(description="kW shed")
    def shed_shown(self, c):
        s = curtailment_shed(c)
        if s.shed_kw is None:
            return "not measured yet"
        return f"baseline {s.baseline_kw:g} kW, now {s.current_kw:g} kW: {s.shed_kw:g} kW shed (as of {s.measured_at})"

    @admin.display(description="Chosen miners")
    def chosen_shown(self, c):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((r["miner_id"], r["power_w"], r["why"]) for r in c.chosen),
        )
        return format_html("<table><tr><th>Miner</th><th>W</th><th>Why</th></tr>{}</table>", rows)

    @admin.display(description="Commands")
    def commands_shown(self, c):
        commands = curtailment_commands(c).select_related("miner").order_by("pk")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (reverse("admin:control_command_change", args=[x.pk]), x.pk, x.command_type, x.miner, x.state)
                for x in commands
            ),
        )
        return format_html("<table><tr><th>#</th><th>Type</th><th>Miner</th><th>State</th></tr>{}</table>", rows)

    def _decide(self, request, queryset, *, action, verb, question, fn, capability):
        rows = list(queryset.filter(pk__in=curtailments_for(request.user, capability).values("pk")).order_by("pk"))

        def apply(c, reason):
            return fn(actor=self.actor(request), user=request.user, curtailment=c, reason=reason)

        return reasoned_action(
            self,
            request,
            rows,
            action=action,
            verb=verb,
            question=question,
            apply=apply,
            noun="curtailment",
            template="admin/control/curtailment/decide.html",
        )

    @admin.action(description="Approve selected curtailments (needs a reason)", permissions=["approve"])
    def approve(self, request, queryset):
        return self._decide(
            request,
            queryset,
            action="approve",
            verb="Approve",
            question="Approve these curtailments? At their start the miners chosen then are disabled.",
            fn=service.curtailment_approve,
            capability=Capability.APPROVE,
        )

    @admin.action(description="Cancel selected curtailments (needs a reason)", permissions=["operate"])
    def cancel(self, request, queryset):
        return self._decide(
            request,
            queryset,
            action="cancel",
            verb="Cancel",
            question="Cancel these curtailments? An active one re-enables its miners now.",
            fn=service.curtailment_cancel,
            capability=Capability.OPERATE,
        )
