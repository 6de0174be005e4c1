import csv
import json

from django.core.management.base import BaseCommand

from shops.selectors import verdicts_export


class Command(BaseCommand):
    help = "Print every entity's current verdict (shops, products, creators) as JSON or CSV."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "csv"], default="json")

    def handle(self, *args, **options):
        rows = verdicts_export()
        if options["format"] == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerow(["entity", "id", "status", "reasons", "can_add_to_affiliate"])
            for row in rows:
                can_add = row.get("can_add_to_affiliate")
                writer.writerow(
                    [
                        row["entity"],
                        row["id"],
                        row["status"] or "",
                        ";".join(row["reasons"]),
                        "" if can_add is None else str(can_add).lower(),
                    ]
                )
            return
        # Streamed: the list can hold millions of entities.
        self.stdout.write("[", ending="")
        for index, row in enumerate(rows):
            self.stdout.write(("," if index else "") + "\n" + json.dumps(row, ensure_ascii=False), ending="")
        self.stdout.write("\n]\n", ending="")
