"""``manage.py create_api_token USERNAME``: print the API token of a user, creating both if needed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Print USERNAME's API token (Authorization: Token <key>), creating the user and the token if needed."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--staff", action="store_true", help="also let the user open the ops views")
        parser.add_argument("--rotate", action="store_true", help="replace an existing token")

    def handle(self, *args: Any, **options: Any) -> None:
        from rest_framework.authtoken.models import Token

        username = options["username"].strip()
        if not username:
            raise CommandError("USERNAME must not be empty.")
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
        if options["staff"] and not user.is_staff:
            user.is_staff = True
        user.save()
        if options["rotate"]:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
