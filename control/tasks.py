from celery import shared_task
from django.conf import settings

from core.periodic import once_per_interval


@shared_task(name="control.commands_expire_due")
@once_per_interval("control.commands_expire_due", settings.COMMAND_EXPIRY_INTERVAL_SEC)
def commands_expire_due_task():
    from control.services.expiry import commands_expire_due

    return commands_expire_due()


@shared_task(name="control.commands_verify_due")
@once_per_interval("control.commands_verify_due", settings.COMMAND_VERIFY_INTERVAL_SEC)
def commands_verify_due_task():
    from control.services.verification import commands_verify_due

    return commands_verify_due()


@shared_task(name="control.proposals_expire")
@once_per_interval("control.proposals_expire", settings.COMMAND_EXPIRY_INTERVAL_SEC)
def command_proposals_expire_task():
    from control.services.decisions import command_proposals_expire

    return command_proposals_expire()


@shared_task(name="control.curtailment_tick")
@once_per_interval("control.curtailment_tick", settings.CURTAILMENT_TICK_INTERVAL_SEC)
def curtailment_tick_task():
    from control.services.curtailment import curtailments_tick

    return curtailments_tick()
