"""The NOC console for commands: the queue with its waiting reasons, a read-only change page with
the whole timeline, and state changes only through permission-gated actions that call the
lifecycle services (each with a confirmation page and a reason)."""

import orjson
from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from control.admin_actions import reasoned_action
from control.admin_board import board_view
from control.models import Command, CommandAck, CommandAttempt, CommandState, EdgeSafetyEvent
from control.selectors import acks_for, commands_for, safety_events_for
from control.services import decisions, params, rollback
from control.services.audit_check import command_trail
from tenants.admin_base import ReadOnlyInline, ReadOnlyScopedAdmin
from tenants.scoping import Capability

Related = admin.RelatedOnlyFieldListFilter
BODY_PREVIEW = 300  # characters of an ACK's body in the evidence list; its page shows it whole


class AttemptInline(ReadOnlyInline):
    model = CommandAttempt
    fields = readonly_fields = (
        "attempt",
        "wire_id",
        "lease_epoch",
        "collector",
        "device_id",
        "leased_at",
        "lease_until",
        "lease_ended_at",
        "lease_end_reason",
        "ack_status",
        "result_code",
        "error_class",
        "result_message",
        "before",
        "after",
        "acked_at",
    )


class AckInline(ReadOnlyInline):
    model = CommandAck
    verbose_name_plural = "ACK evidence (every ACK received: first, replay, late)"
    fields = readonly_fields = (
        "received_at",
        "wire_id",
        "collector",
        "device_id",
        "endpoint",
        "disposition",
        "payload",
    )


@admin.register(Command)
class CommandAdmin(ReadOnlyScopedAdmin):
    change_list_template = "admin/control/command/change_list.html"

    scoped = commands_for
    manage_capability = Capability.OPERATE
    list_display = (
        "id",
        "command_type",
        "state",
        "priority_class",
        "miner",
        "site",
        "waiting",
        "approval_required",
        "requested_by",
        "created_at",
        "expires_at",
    )
    list_filter = (("site", Related), "state", "command_type", "priority_class", "approval_required")
    list_select_related = ("site", "miner__site", "created_by")
    search_fields = ("miner__miner_id", "dedupe_key")
    ordering = ("-created_at", "-id")
    inlines = [AttemptInline, AckInline]
    # Rows are never edited in place (ReadOnlyScopedAdmin): states move only through these actions (services).
    actions = ["approve", "reject", "cancel", "rollback"]
    readonly_fields = ("params_shown", "timeline")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "command_type",
                    "state",
                    "params_shown",
                    "priority_class",
                    "priority",
                    "emergency",
                    "miner",
                    "site",
                    "zone",
                    "tenant",
                    "reason",
                    "blocked_reason",
                )
            },
        ),
        (
            "Approval",
            {
                "fields": (
                    "approval_required",
                    "created_by",
                    "created_by_system",
                    "rule_id",
                    "approved_by",
                    "approved_at",
                    "approval_expires_at",
                    "decided_reason",
                )
            },
        ),
        (
            "Lease and result",
            {
                "fields": (
                    "ttl_sec",
                    "expires_at",
                    "not_before",
                    "attempt",
                    "max_retries",
                    "lease_epoch",
                    "lease_collector",
                    "lease_until",
                    "acked_at",
                    "outcome",
                    "error_code",
                    "error_message",
                    "ack_payload",
                    "before_snapshot",
                    "finished_at",
                )
            },
        ),
        ("Links", {"fields": ("dedupe_key", "batch_id", "group", "rollback_of", "superseded_by", "evidence")}),
        ("Timeline (audit events)", {"fields": ("timeline",)}),
    )

    def has_approve_permission(self, request):
        return self._scope(request).has(Capability.APPROVE)

    def has_operate_permission(self, request):
        return self._scope(request).has(Capability.OPERATE)

    @admin.display(description="Waiting reason")
    def waiting(self, c):
        if c.blocked_reason:
            return c.blocked_reason
        if c.state == CommandState.PROPOSED:
            return "awaiting approval"
        return ""

    @admin.display(description="Requested by")
    def requested_by(self, c):
        return c.created_by or f"system: {c.created_by_system}"

    @admin.display(description="Params")
    def params_shown(self, c):
        return params.redact(c.params)

    @admin.display(description="Timeline")
    def timeline(self, c):
        """Every audit event of the command, with its chain position and hash, and whether the trail
        checks out (control.services.audit_check: each event re-hashed and linked, every lease present)."""
        trail = command_trail(c)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code> {}</td></tr>",
            (
                (
                    line.event.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                    line.event.action,
                    line.event.actor_label or line.event.actor_id,
                    _lease_text(line.lease) or line.event.payload.get("reason") or "",
                    f"{line.event.chain_key} #{line.event.seq}",
                    line.event.hash[:16],
                    f"✗ {line.problem}" if line.problem else "",
                )
                for line in trail.lines
            ),
        )
        status = (
            format_html("<p>Audit trail: {} events, every one verified.</p>", len(trail.lines))
            if trail.ok
            else format_html(
                '<p class="errornote">Audit trail broken: {}</p>',
                "; ".join(trail.problems()),
            )
        )
        return format_html(
            "{}<table><thead><tr><th>At (UTC)</th><th>Event</th><th>By</th><th>Reason / lease</th><th>Chain</th>"
            "<th>Hash</th></tr></thead><tbody>{}</tbody></table>",
            status,
            rows,
        )

    def get_urls(self):
        # Before the model's own URLs: "board/" must not be read as an object id.
        return [
            path("board/", self.admin_site.admin_view(lambda request: board_view(self, request)), name="control_board"),
            *super().get_urls(),
        ]

    # --- actions: confirmation page with a reason, then the service for each selected command ---

    def _decide(self, request, queryset, *, action, verb, question, service, capability):
        commands = list(
            queryset.filter(pk__in=commands_for(request.user, capability).values("pk"))
            .select_related("site", "miner__site", "created_by")
            .order_by("pk")
        )

        def apply(command, reason):
            return service(actor=self.actor(request), user=request.user, command=command, reason=reason)

        return reasoned_action(
            self,
            request,
            commands,
            action=action,
            verb=verb,
            question=question,
            apply=apply,
            noun="command",
            template="admin/control/command/decide.html",
        )

    @admin.action(description="Approve selected proposals (needs a reason)", permissions=["approve"])
    def approve(self, request, queryset):
        return self._decide(
            request,
            queryset,
            action="approve",
            verb="Approve",
            question="Approve these commands? They will be queued for the collector.",
            service=decisions.command_approve,
            capability=Capability.APPROVE,
        )

    @admin.action(description="Reject selected proposals (needs a reason)", permissions=["approve"])
    def reject(self, request, queryset):
        return self._decide(
            request,
            queryset,
            action="reject",
            verb="Reject",
            question="Reject these proposed commands?",
            service=decisions.command_reject,
            capability=Capability.APPROVE,
        )

    @admin.action(description="Cancel selected commands", permissions=["operate"])
    def cancel(self, request, queryset):
        return self._decide(
            request,
            queryset,
            action="cancel",
            verb="Cancel",
            question=(
                "Cancel these commands? A leased one may already be executing on the edge; "
                "the cloud stops waiting for it."
            ),
            service=decisions.command_cancel,
            capability=Capability.OPERATE,
        )

    @admin.action(description="Roll back selected commands", permissions=["operate"])
    def rollback(self, request, queryset):
        return self._decide(
            request,
            queryset,
            action="rollback",
            verb="Roll back",
            question="Create a command that undoes each of these succeeded commands?",
            service=rollback.command_rollback,
            capability=Capability.OPERATE,
        )


# Registered here, where Django looks for admins.
from control.admin_collector_status import CollectorStatusAdmin  # noqa: E402, F401
from control.admin_consent import ConsentPolicyAdmin  # noqa: E402, F401
from control.admin_curtailment import CurtailmentAdmin  # noqa: E402

__all__ = ["CommandAdmin", "CurtailmentAdmin"]


def _lease_text(lease: dict | None) -> str:
    """A shared dispatch event's entry for this command: which attempt and lease it was."""
    if not lease:
        return ""
    return f"leased by poll: attempt {lease.get('attempt')}, lease_epoch {lease.get('lease_epoch')}"


@admin.register(CommandAck)
class CommandAckAdmin(ReadOnlyScopedAdmin):
    """Every ACK received, as evidence; filter "unknown" for ACKs of ids a site was never handed
    (kept, answered 200 so the collector stops re-sending, and shown here with their body)."""

    scoped = acks_for
    list_display = (
        *("received_at", "collector", "device_id", "endpoint", "wire_id", "disposition", "command_link", "body"),
    )
    list_filter = ("disposition", "endpoint", ("collector", Related))
    search_fields = ("wire_id", "device_id")
    list_select_related = ("collector__site", "command")
    readonly_fields = (
        *("received_at", "collector", "device_id", "endpoint", "wire_id", "disposition", "command", "payload"),
    )
    date_hierarchy = "received_at"

    @admin.display(description="Body")
    def body(self, ack) -> str:
        text = orjson.dumps(ack.payload, option=orjson.OPT_SORT_KEYS).decode()
        return text if len(text) <= BODY_PREVIEW else text[:BODY_PREVIEW] + "…"

    @admin.display(description="Command")
    def command_link(self, ack):
        if ack.command_id is None:
            return "—"
        url = reverse("admin:control_command_change", args=[ack.command_id])
        return format_html('<a href="{}">#{}</a>', url, ack.command_id)


@admin.register(EdgeSafetyEvent)
class EdgeSafetyEventAdmin(ReadOnlyScopedAdmin):
    """What the edge's local safety override did by itself (no cloud command asked for it)."""

    scoped = safety_events_for
    list_display = ("ts", "site", "miner_ref", "action", "temp_max", "reason", "collector", "device_id")
    list_filter = ("action", ("site", Related))
    search_fields = ("miner_ref", "device_id")
    date_hierarchy = "ts"
    list_select_related = ("site", "collector")
    fields = readonly_fields = (
        "ts",
        "received_at",
        "site",
        "collector",
        "device_id",
        "miner",
        "miner_ref",
        "action",
        "reason",
        "temp_max",
        "snapshot",
    )
