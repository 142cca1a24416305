from django.apps import AppConfig


def _zone_commands(zone_ids):
    """Commands on the miners of these zones: a zone-limited operator's audit list shows their events."""
    from django.db.models import CharField
    from django.db.models.functions import Cast

    from control.models import Command

    ids = Command.objects.filter(miner__zone__in=zone_ids).annotate(k=Cast("pk", CharField())).values("k")
    return "control.command", ids


class ControlConfig(AppConfig):
    name = "control"

    def ready(self):
        from tenants.scoping import ZONE_AUDIT_ENTITIES

        if _zone_commands not in ZONE_AUDIT_ENTITIES:
            ZONE_AUDIT_ENTITIES.append(_zone_commands)
