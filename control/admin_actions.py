"""The NOC console's state-changing admin actions, one way for every model: a confirmation page
that asks for a reason, then the service for each selected object, with one line per refusal
(its error code) and one summary. The rows are read through the caller's scope beforehand."""

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse

from core.errors import DomainError


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=2000)


def reasoned_action(
    model_admin,
    request,
    rows: list,
    *,
    action: str,
    verb: str,
    question: str,
    apply: Callable[[object, str], object],
    noun: str,
    template: str,
):
    """Confirm with a reason (the page lists `rows` as `rows`), then `apply(obj, reason)` to each."""
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        done, failed = 0, []
        for obj in rows:
            try:
                apply(obj, form.cleaned_data["reason"])
                done += 1
            except DomainError as exc:
                failed.append(f"#{obj.pk}: {exc.error_code} {exc.message}")
        model_admin.message_user(request, f"{verb}: {done} {noun}(s).", messages.SUCCESS if done else messages.WARNING)
        for line in failed:
            model_admin.message_user(request, line, messages.ERROR)
        return None
    return TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "title": f"{verb} {noun}s",
            "question": question,
            "rows": rows,
            "form": form,
            "action": action,
            "verb": verb,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": model_admin.model._meta,
        },
    )
