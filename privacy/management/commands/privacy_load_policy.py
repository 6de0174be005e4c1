"""Publish version 1 of the privacy policy from privacy/policies/ when none exists."""

from django.core.management.base import BaseCommand

from privacy.services.policies import policy_load_initial
from privacy.services.retention import retention_policies_ensure


class Command(BaseCommand):
    help = "Publish the first privacy policy version (English and Chinese) and the default retention policies."

    def handle(self, *args, **options):
        version = policy_load_initial()
        retention_policies_ensure()
        self.stdout.write(
            self.style.SUCCESS(f"Privacy policy v{version.version} in force from {version.effective_from}.")
        )
