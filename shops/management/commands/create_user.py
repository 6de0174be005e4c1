"""``manage.py create_user EMAIL --role ROLE --password PASSWORD [--seller ID ...] [--creator ID]``."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from shops.models import User
from shops.services.users import user_create


class Command(BaseCommand):
    help = "Create a portal user: a seller member, a creator, an ops reviewer or an ops admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--role", required=True, help=f"One of {', '.join(User.Role.values)}.")
        parser.add_argument(
            "--seller",
            action="append",
            default=[],
            metavar="SELLER_ID",
            help="Seller id of a seller user; repeat it or separate ids with commas.",
        )
        parser.add_argument("--creator", metavar="CREATOR_ID", help="Creator id of a creator user.")
        parser.add_argument("--password", required=True)

    def handle(self, *args, email: str, role: str, seller: list[str], creator: str | None, password: str, **options):
        seller_keys = [key.strip() for value in seller for key in value.split(",") if key.strip()]
        try:
            user = user_create(email=email, role=role, password=password, seller_keys=seller_keys, creator_key=creator)
        except ValidationError as error:
            raise CommandError(_describe(error)) from None

        message = f"Created {user.role} user {user.email}"
        if user.role == User.Role.SELLER:
            message += f" (sellers: {', '.join(s.key for s in user.sellers.order_by('key'))})"
        elif user.creator is not None:
            message += f" (creator: {user.creator.key})"
        self.stdout.write(self.style.SUCCESS(message))


def _describe(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "\n".join(
            f"{field}: {message}" for field, messages in error.message_dict.items() for message in messages
        )
    return "\n".join(error.messages)
