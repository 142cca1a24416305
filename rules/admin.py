"""Rules in the NOC admin: edit a rule (each save a new version, through the service, audited),
read its versions, hits (with evidence and the command they proposed) and per-miner state."""

import copy

from django import forms
from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter as Related

from rules.admin_backtest import BacktestAdminMixin
from rules.errors import InvalidRule
from rules.models import Rule, RuleHit, RuleVersion
from rules.selectors import rule_hits_for, rules_for
from rules.services.definitions import EDITABLE, rule_create, rule_update, rule_validate
from tenants import scoping
from tenants.admin_base import ReadOnlyInline, ReadOnlyScopedAdmin, ScopedModelAdmin
from tenants.scoping import Capability


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ["site", *EDITABLE]

    def clean(self):
        data = super().clean()
        probe = copy.copy(self.instance)
        for name, value in data.items():
            setattr(probe, name, value)
        try:
            rule_validate(probe)
        except InvalidRule as exc:
            field = exc.extra.get("field", "").split(".")[0]
            self.add_error(field if field in self.fields else None, exc.message)
        return data


class VersionInline(ReadOnlyInline):
    model = RuleVersion
    fields = ("version", "created_by", "created_at", "definition")
    readonly_fields = fields
    extra = 0


@admin.register(Rule)
class RuleAdmin(BacktestAdminMixin, ScopedModelAdmin):
    scoped = rules_for
    manage_capability = Capability.OPERATE
    scoped_choices = {
        "site": scoping.sites_for,
        "zone": scoping.zones_for,
        "group": scoping.miner_groups_for,
        "tenant": scoping.tenants_for,
    }
    form = RuleForm
    inlines = [VersionInline]
    list_display = ("name", "site", "enabled", "version", "metric", "op", "threshold", "command_type", "updated_at")
    list_filter = (("site", Related), "enabled", "metric", "command_type")
    list_select_related = ("site",)
    search_fields = ("name",)
    readonly_fields = ("version",)

    def get_readonly_fields(self, request, obj=None):
        return ("version", "site") if obj is not None else ("version",)

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in EDITABLE if name in form.cleaned_data}
        if change:
            changed = {name: fields[name] for name in form.changed_data if name in fields}
            saved = rule_update(actor=self.actor(request), user=request.user, rule=obj, **changed)
        else:
            saved = rule_create(actor=self.actor(request), user=request.user, site=form.cleaned_data["site"], **fields)
        obj.pk, obj.version = saved.pk, saved.version

    def delete_model(self, request, obj):
        # Rules are not deleted (their hits are evidence): disable them instead.
        rule_update(actor=self.actor(request), user=request.user, rule=obj, enabled=False)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RuleHit)
class RuleHitAdmin(ReadOnlyScopedAdmin):
    scoped = rule_hits_for
    manage_capability = Capability.OPERATE
    list_display = ("at", "kind", "rule", "version", "miner", "value", "threshold", "command")
    list_filter = ("kind", ("rule", Related), ("tenant", Related))
    list_select_related = ("rule", "miner", "command")
    search_fields = ("miner__miner_id", "rule__name")
    date_hierarchy = "at"
