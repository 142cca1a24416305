"""The NOC console for hosting: work orders (comments and history inline, transitions, comments and
assignment as actions), alerts (acknowledge / resolve), maintenance windows (create, cancel,
expire) and downtime intervals (read-only). Rows come from hosting's scoped selectors; every write
is an action or an add form that calls a hosting service (which audits it)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.template.response import TemplateResponse

from core.errors import DomainError
from hosting.models import (
    Alert,
    DowntimeInterval,
    MaintenanceWindow,
    WorkOrder,
    WorkOrderComment,
    WorkOrderEvent,
    WorkOrderStatus,
)
from hosting.selectors.alerts import alerts_for
from hosting.selectors.downtime import downtime_intervals_for
from hosting.selectors.maintenance import maintenance_windows_for
from hosting.selectors.work_orders import work_orders_for
from hosting.services import alerts as alert_services
from hosting.services import maintenance as window_services
from hosting.services import work_orders as wo_services
from tenants import scoping
from tenants.admin_base import ReadOnlyInline, ReadOnlyScopedAdmin, ScopedModelAdmin
from tenants.scoping import ROLE_CAPABILITIES, Capability

Related = admin.RelatedOnlyFieldListFilter
S = WorkOrderStatus


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=500, required=False)


class RequiredReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=500)


class CommentForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 60}), max_length=10_000)
    public = forms.BooleanField(required=False, help_text="customers see public comments only")


class _ServiceActionsMixin:
    """Actions with a confirmation page and a form, then a service call per selected row; each
    refusal is shown with its error code and the others go on."""

    def _confirm(self, request, queryset, *, action, title, form_class, apply, capability=Capability.OPERATE):
        rows = list(queryset.filter(pk__in=type(self).scoped(request.user, capability).values("pk")).order_by("pk"))
        form = form_class(request.POST if "apply" in request.POST else None, **self._form_kwargs(request, action))
        if "apply" in request.POST and form.is_valid():
            done, failed = 0, []
            for row in rows:
                try:
                    apply(row, form.cleaned_data)
                    done += 1
                except DomainError as exc:
                    failed.append(f"#{row.pk}: {exc.error_code} {exc.message}")
            self.message_user(request, f"{title}: {done} done.", messages.SUCCESS if done else messages.WARNING)
            for line in failed:
                self.message_user(request, line, messages.ERROR)
            return None
        return TemplateResponse(
            request,
            "admin/hosting/confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "rows": rows,
                "form": form,
                "action": action,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    def _form_kwargs(self, request, action) -> dict:
        return {}

    def has_operate_permission(self, request):
        return self._scope(request).has(Capability.OPERATE)


# --- work orders -------------------------------------------------------------------------------------


class CommentInline(ReadOnlyInline):
    model = WorkOrderComment
    fields = readonly_fields = ("created_at", "author", "public", "body")


class EventInline(ReadOnlyInline):
    model = WorkOrderEvent
    verbose_name_plural = "History"
    fields = readonly_fields = ("at", "from_status", "to_status", "actor_label", "reason")


class WorkOrderAddForm(forms.ModelForm):
    class Meta:
        model = WorkOrder
        fields = ("site", "miner", "title", "description", "priority", "assignee")

    def clean(self):
        data = super().clean()
        site, miner = data.get("site"), data.get("miner")
        if site and miner and miner.site_id != site.pk:
            raise ValidationError({"miner": "not at this site"})
        return data


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False)

    def __init__(self, *args, operators=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = operators


def _operators_at(user):
    """People holding OPERATE at a site the user operates (the service re-checks each order's site)."""
    sites = scoping.sites_for(user, Capability.OPERATE)
    roles = [role for role, caps in ROLE_CAPABILITIES.items() if Capability.OPERATE in caps]
    where = Q(role_grants__all_sites=True) | Q(role_grants__site__in=sites) | Q(role_grants__zone__site__in=sites)
    return (
        get_user_model()
        .objects.filter(where, role_grants__role__in=roles, is_active=True)
        .distinct()
        .order_by("username")
    )


@admin.register(WorkOrder)
class WorkOrderAdmin(_ServiceActionsMixin, ScopedModelAdmin):
    scoped = work_orders_for
    manage_capability = Capability.OPERATE
    scoped_choices = {"site": scoping.sites_for, "miner": scoping.miners_for}
    list_display = ("id", "title", "status", "priority", "source", "site", "miner", "tenant", "assignee", "created_at")
    list_filter = (("site", Related), "status", "priority", "source")
    list_select_related = ("site", "miner", "tenant", "assignee")
    search_fields = ("title", "miner__miner_id")
    ordering = ("-created_at", "-id")
    inlines = [EventInline, CommentInline]
    actions = ["to_in_progress", "to_waiting_customer", "to_resolved", "to_closed", "reopen", "comment", "assign"]
    readonly_fields = (
        "title",
        "description",
        "status",
        "priority",
        "source",
        "site",
        "miner",
        "tenant",
        "alert",
        "created_by",
        "assignee",
        "created_at",
        "updated_at",
        "resolved_at",
        "closed_at",
    )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = WorkOrderAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else WorkOrderAddForm.Meta.fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assignee":
            kwargs["queryset"] = _operators_at(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        return False  # states move only through the actions below (services)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = wo_services.work_order_create(
            actor=self.actor(request),
            user=request.user,
            site=data["site"],
            miner=data.get("miner"),
            title=data["title"],
            description=data.get("description", ""),
            priority=data["priority"],
            assignee=data.get("assignee"),
        )
        obj.pk = created.pk

    def save_related(self, request, form, formsets, change):
        pass  # nothing related is edited here

    def _form_kwargs(self, request, action):
        return {"operators": _operators_at(request.user)} if action == "assign" else {}

    def _move(self, request, queryset, to: str, title: str, action: str):
        return self._confirm(
            request,
            queryset,
            action=action,
            title=title,
            form_class=ReasonForm,
            apply=lambda wo, data: wo_services.work_order_transition(
                actor=self.actor(request), user=request.user, work_order=wo, to=to, reason=data["reason"]
            ),
        )

    @admin.action(description="Start work (→ in progress)", permissions=["operate"])
    def to_in_progress(self, request, queryset):
        return self._move(request, queryset, S.IN_PROGRESS, "Start work", "to_in_progress")

    @admin.action(description="Wait for the customer", permissions=["operate"])
    def to_waiting_customer(self, request, queryset):
        return self._move(request, queryset, S.WAITING_CUSTOMER, "Wait for the customer", "to_waiting_customer")

    @admin.action(description="Resolve", permissions=["operate"])
    def to_resolved(self, request, queryset):
        return self._move(request, queryset, S.RESOLVED, "Resolve", "to_resolved")

    @admin.action(description="Close", permissions=["operate"])
    def to_closed(self, request, queryset):
        return self._move(request, queryset, S.CLOSED, "Close", "to_closed")

    @admin.action(description="Reopen (resolved → in progress)", permissions=["operate"])
    def reopen(self, request, queryset):
        return self._move(request, queryset, S.IN_PROGRESS, "Reopen", "reopen")

    @admin.action(description="Add a comment", permissions=["operate"])
    def comment(self, request, queryset):
        return self._confirm(
            request,
            queryset,
            action="comment",
            title="Add a comment",
            form_class=CommentForm,
            apply=lambda wo, data: wo_services.work_order_comment(
                actor=self.actor(request), user=request.user, work_order=wo, body=data["body"], public=data["public"]
            ),
        )

    @admin.action(description="Assign", permissions=["operate"])
    def assign(self, request, queryset):
        return self._confirm(
            request,
            queryset,
            action="assign",
            title="Assign",
            form_class=AssignForm,
            apply=lambda wo, data: wo_services.work_order_assign(
                actor=self.actor(request), user=request.user, work_order=wo, assignee=data["assignee"]
            ),
        )


# --- alerts ------------------------------------------------------------------------------------------


@admin.register(Alert)
class AlertAdmin(_ServiceActionsMixin, ReadOnlyScopedAdmin):
    scoped = alerts_for
    manage_capability = Capability.OPERATE
    list_display = ("id", "title", "kind", "severity", "state", "source", "site", "miner", "fired_at")
    list_filter = (("site", Related), "state", "severity", "kind", "source")
    list_select_related = ("site", "miner")
    search_fields = ("title", "dedupe_key", "miner__miner_id")
    ordering = ("-fired_at", "-id")
    actions = ["acknowledge", "resolve", "open_work_order"]
    readonly_fields = (
        "title",
        "kind",
        "severity",
        "source",
        "state",
        "site",
        "miner",
        "tenant",
        "details",
        "dedupe_key",
        "fired_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "rule_id",
    )

    def _state(self, request, queryset, *, action, title, service):
        return self._confirm(
            request,
            queryset,
            action=action,
            title=title,
            form_class=ReasonForm,
            apply=lambda alert, data: service(
                actor=self.actor(request), user=request.user, alert=alert, reason=data["reason"]
            ),
        )

    @admin.action(description="Acknowledge", permissions=["operate"])
    def acknowledge(self, request, queryset):
        return self._state(
            request, queryset, action="acknowledge", title="Acknowledge", service=alert_services.alert_acknowledge
        )

    @admin.action(description="Resolve", permissions=["operate"])
    def resolve(self, request, queryset):
        return self._state(request, queryset, action="resolve", title="Resolve", service=alert_services.alert_resolve)

    @admin.action(description="Open a work order", permissions=["operate"])
    def open_work_order(self, request, queryset):
        return self._confirm(
            request,
            queryset,
            action="open_work_order",
            title="Open a work order",
            form_class=RequiredReasonForm,
            apply=lambda alert, data: wo_services.work_order_create(
                actor=self.actor(request), user=request.user, alert=alert, title=data["reason"][:200]
            ),
        )


# --- maintenance windows -----------------------------------------------------------------------------


class WindowAddForm(forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = (
            "site",
            "zone",
            "miner",
            "reason",
            "starts_at",
            "ends_at",
            "weekdays",
            "start_time",
            "duration_minutes",
            "timezone",
            "expires_at",
        )
        help_texts = {
            "ends_at": "one-off windows",
            "weekdays": "weekly windows: 0 = Monday … 6 = Sunday, comma separated",
            "timezone": "IANA name, e.g. Europe/Oslo",
        }

    def clean(self):
        data = super().clean()
        if self.errors or not data.get("site") or not data.get("starts_at"):
            return data
        try:
            window_services.maintenance_window_check(
                site=data["site"],
                zone=data.get("zone"),
                miner=data.get("miner"),
                starts_at=data["starts_at"],
                ends_at=data.get("ends_at"),
                weekdays=data.get("weekdays") or [],
                start_time=data.get("start_time"),
                duration_minutes=data.get("duration_minutes"),
                timezone_name=data.get("timezone"),
                expires_at=data.get("expires_at"),
            )
        except DomainError as exc:
            field = exc.extra.get("field")
            raise ValidationError({field if field in self.fields else None: exc.message}) from None
        return data


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(_ServiceActionsMixin, ScopedModelAdmin):
    scoped = maintenance_windows_for
    manage_capability = Capability.OPERATE
    scoped_choices = {"site": scoping.sites_for, "zone": scoping.zones_for, "miner": scoping.miners_for}
    form = WindowAddForm
    list_display = ("id", "scope_label", "reason", "starts_at", "ends_at", "weekdays", "timezone", "expires_at")
    list_display += ("canceled_at", "owner")
    list_filter = (("site", Related),)
    list_select_related = ("site", "zone", "miner", "owner")
    ordering = ("-starts_at", "-id")
    actions = ["cancel", "expire"]

    def get_readonly_fields(self, request, obj=None):
        return (*WindowAddForm.Meta.fields, "owner", "created_at", "canceled_at") if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        return False  # a window is canceled or expired through the actions, never edited

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = window_services.maintenance_window_create(
            actor=self.actor(request),
            user=request.user,
            site=data["site"],
            zone=data.get("zone"),
            miner=data.get("miner"),
            reason=data["reason"],
            starts_at=data["starts_at"],
            ends_at=data.get("ends_at"),
            weekdays=data.get("weekdays") or [],
            start_time=data.get("start_time"),
            duration_minutes=data.get("duration_minutes"),
            timezone_name=data.get("timezone") or None,
            expires_at=data.get("expires_at"),
        )
        obj.pk = created.pk

    def save_related(self, request, form, formsets, change):
        pass

    @admin.action(description="Cancel (needs a reason)", permissions=["operate"])
    def cancel(self, request, queryset):
        return self._confirm(
            request,
            queryset,
            action="cancel",
            title="Cancel maintenance windows",
            form_class=RequiredReasonForm,
            apply=lambda w, data: window_services.maintenance_window_cancel(
                actor=self.actor(request), user=request.user, window=w, reason=data["reason"]
            ),
        )

    @admin.action(description="Stop a weekly window recurring (from now)", permissions=["operate"])
    def expire(self, request, queryset):
        return self._confirm(
            request,
            queryset,
            action="expire",
            title="Expire weekly windows",
            form_class=ReasonForm,
            apply=lambda w, data: window_services.maintenance_window_expire(
                actor=self.actor(request), user=request.user, window=w, reason=data["reason"]
            ),
        )


# --- downtime ----------------------------------------------------------------------------------------


@admin.register(DowntimeInterval)
class DowntimeIntervalAdmin(ReadOnlyScopedAdmin):
    scoped = downtime_intervals_for
    list_display = ("id", "miner", "tenant", "site", "cause", "started_at", "ended_at", "command", "maintenance")
    list_filter = (("site", Related), "cause")
    list_select_related = ("miner", "tenant", "site")
    search_fields = ("miner__miner_id",)
    ordering = ("-started_at", "-id")
