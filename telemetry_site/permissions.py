"""API permission (its own module: DRF imports it while ``rest_framework.views`` is loading)."""

from typing import Any

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission


class AuthenticatedOrTrustedRead(BasePermission):
    """Authenticated users; anyone for reads when ``API_ALLOW_ANONYMOUS_READ`` is on."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.user and request.user.is_authenticated:
            return True
        return request.method in SAFE_METHODS and settings.API_ALLOW_ANONYMOUS_READ
