"""Apply the retention policies now (the daily task does the same)."""

from django.core.management.base import BaseCommand

from privacy.services.retention import retention_apply


class Command(BaseCommand):
    help = "Remove the data older than its retention policy allows, and log what was removed."

    def handle(self, *args, **options):
        run = retention_apply()
        for data_class, outcome in sorted(run.removed.items()):
            self.stdout.write(f"{data_class}: {outcome['removed']} removed (older than {outcome['days']} days)")
