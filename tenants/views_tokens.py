"""The API tokens page, /accounts/tokens/: one page for everyone signed in (operators and customers),
beside allauth's account pages. Lists my tokens, creates one (its plaintext shown in that answer
only, with a curl example) and revokes one. The same services as /api/v1/me/tokens."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from audit.services import Actor
from core.errors import DomainError, Forbidden
from tenants.personal_tokens import personal_token_create, personal_token_get, personal_token_revoke, personal_tokens_of

PAGE_LIMIT = 200


class TokenForm(forms.Form):
    name = forms.CharField(max_length=128, help_text="What the token is for, e.g. “nightly export script”.")
    expires_in_days = forms.IntegerField()  # bounds from the setting, in __init__
    read_only = forms.BooleanField(required=False, label="Read-only (GET requests only)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit = settings.PERSONAL_TOKEN_MAX_DAYS
        self.fields["expires_in_days"] = forms.IntegerField(
            min_value=1,
            max_value=limit,
            initial=min(30, limit),
            label="Expires in (days)",
            help_text=f"Required; at most {limit} days.",
        )


CREATED_KEY = "hi_token_created"  # the new token's id and plaintext, between the POST and the one GET that shows it


@never_cache  # the answer that shows a plaintext must stay in no cache
@login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request):
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actor = Actor.user(request.user)
            token, plaintext = personal_token_create(actor=actor, user=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(exc.extra.get("field") if exc.extra.get("field") in form.fields else None, exc.message)
        else:
            # Post/redirect/get: a reload must not mint a second token. The plaintext waits in the
            # session for the next page view only, which removes it.
            request.session[CREATED_KEY] = {"id": token.pk, "plaintext": plaintext}
            return redirect("account_tokens")
    created = None
    pending = request.session.pop(CREATED_KEY, None)
    if pending:
        token = personal_tokens_of(request.user).filter(pk=pending["id"]).first()
        created = {"token": token, "plaintext": pending["plaintext"]} if token else None
    context = {
        "form": form,
        "created": created,
        "tokens": personal_tokens_of(request.user)[:PAGE_LIMIT],
        "api_url": request.build_absolute_uri(reverse("me-token-list")),
    }
    return render(request, "account/tokens.html", context)


@login_required
@require_POST
def token_revoke_view(request, pk: int):
    try:
        token = personal_token_get(request.user, pk)
    except Forbidden:
        return render(request, "account/token_forbidden.html", status=403)
    token = personal_token_revoke(actor=Actor.user(request.user), token=token)
    messages.success(request, f"Token {token.prefix}… ({token.name}) is revoked.")
    return redirect("account_tokens")
