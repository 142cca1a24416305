"""DRF permission classes; each one asks tenants.scoping, nothing else."""

from rest_framework.permissions import BasePermission

from tenants.scoping import scope_for


class IsOperator(BasePermission):
    """Operator staff (any operator role) or platform superuser. Customers get 403 FORBIDDEN."""

    message = "operators only"

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and scope_for(request.user).is_operator)
