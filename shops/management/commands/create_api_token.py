from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from shops.models import User
from shops.services.tokens import SCOPES, api_token_create


def _split(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = "Create an API token for a user; the token is printed once and only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="E-mail of the user the client acts as")
        parser.add_argument("--scopes", required=True, action="append", help=f"Comma-separated: {', '.join(SCOPES)}")
        parser.add_argument("--purpose", required=True, help="What the client uses the data for")
        parser.add_argument("--allow-ip", action="append", default=[], help="Client address or network (repeatable)")

    def handle(self, *args, **options):
        user = User.objects.filter(email__iexact=options["user"]).first()
        if user is None:
            raise CommandError(f"No user with e-mail {options['user']}")
        try:
            token, raw = api_token_create(
                user=user,
                scopes=_split(options["scopes"]),
                purpose=options["purpose"],
                allowed_ips=_split(options["allow_ip"]),
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stdout.write(raw)
        self.stderr.write(
            f"Token {token.prefix}… for {user.email} with scopes {', '.join(token.scopes)}. "
            "Store it now: it cannot be shown again."
        )
