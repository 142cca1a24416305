"""The signed-in person's own API tokens: /api/v1/me/tokens (list, create) and
/api/v1/me/tokens/<id> (DELETE revokes). A session or a personal token; nobody reaches
another person's tokens (403 FORBIDDEN, as for a missing id)."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from core.api.pagination import PAGE_PARAMETERS, PageSchema, paginated
from tenants.models import PersonalToken
from tenants.personal_tokens import personal_token_create, personal_token_get, personal_token_revoke, personal_tokens_of

ORDERING = ("-created_at", "-id")


class TokenOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="the token's first characters, to tell tokens apart")
    read_only = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    last_used_ip = serializers.CharField(allow_null=True)


class TokenCreatedOut(TokenOut):
    token = serializers.CharField(help_text="the plaintext, shown this once and never again")


def _created_by_token(request) -> PersonalToken | None:
    return request.auth if isinstance(request.auth, PersonalToken) else None


class MyTokenListApi(APIView):
    """GET: my tokens, newest first (revoked and expired ones too). POST: a new token."""

    pagination_class = PageSchema  # the schema's page shape; the view answers with `paginated`

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=128, trim_whitespace=False)  # the service strips
        expires_in_days = serializers.IntegerField(
            help_text="required; from 1 to PERSONAL_TOKEN_MAX_DAYS (default 90)",
            min_value=1,
            max_value=settings.PERSONAL_TOKEN_MAX_DAYS,
        )
        read_only = serializers.BooleanField(default=False, help_text="GET, HEAD and OPTIONS only")

    @extend_schema(parameters=PAGE_PARAMETERS, responses=TokenOut(many=True))
    def get(self, request):
        qs = personal_tokens_of(request.user)
        return paginated(request, qs, lambda rows: TokenOut(rows, many=True).data, ordering=ORDERING)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: TokenCreatedOut,
            400: OpenApiResponse(description="INVALID_PARAMETER / INVALID_EXPIRY (beyond PERSONAL_TOKEN_MAX_DAYS)"),
            403: OpenApiResponse(description="TOKEN_READ_ONLY: a read-only token creates nothing"),
        },
        description="The plaintext `token` is in this answer only. Created with a token, the new one expires "
        "no later than that token.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parent = _created_by_token(request)
        token, plaintext = personal_token_create(
            actor=Actor.user(request.user),
            user=request.user,
            not_after=parent.expires_at if parent else None,
            **data.validated_data,
        )
        body = TokenOut(token).data | {"token": plaintext}
        return Response(body, status=status.HTTP_201_CREATED)


class MyTokenRevokeApi(APIView):
    """DELETE /api/v1/me/tokens/<id>: revoke one of my tokens (at once; revoking twice is fine)."""

    @extend_schema(responses={200: TokenOut, 403: OpenApiResponse(description="FORBIDDEN: not one of your tokens")})
    def delete(self, request, token_id):
        token = personal_token_get(request.user, token_id)
        token = personal_token_revoke(actor=Actor.user(request.user), token=token)
        return Response(TokenOut(token).data)
