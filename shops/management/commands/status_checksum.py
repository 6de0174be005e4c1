import json

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from shops.reliability import status_checksum


class Command(BaseCommand):
    help = (
        "Print a checksum of every shop's, product's and creator's status and reasons, computed in SQL: "
        "equal checksums mean equal verdicts (compare runs made with other worker counts or chunk sizes)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the checksums as JSON")
        parser.add_argument("--expect", help="Exit non-zero unless the combined checksum is this one")

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("status_checksum is computed in PostgreSQL SQL; set DATABASE_URL to PostgreSQL")
        result = status_checksum()
        if options["json"]:
            self.stdout.write(json.dumps(result, sort_keys=True))
        else:
            for entity in ("shop", "product", "creator"):
                figures = result[entity]
                statuses = ", ".join(f"{status} {count:,}" for status, count in figures["statuses"].items())
                self.stdout.write(f"{entity:<8} {figures['entities']:>10,}  md5 {figures['md5']}  ({statuses})")
            self.stdout.write(f"checksum {result['checksum']}")
        if options["expect"] and options["expect"] != result["checksum"]:
            raise CommandError(f"checksum {result['checksum']} differs from the expected {options['expect']}")
