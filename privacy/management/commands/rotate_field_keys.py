"""Re-encrypt every encrypted field under the first key of FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy,
run this command, then remove the old keys. ``--rehash`` also recomputes the keyed hashes
(after FIELD_HASH_KEY changed).
"""

from django.core.management.base import BaseCommand

from privacy.services.keys import hashes_recompute, keys_rotate


class Command(BaseCommand):
    help = "Re-encrypt encrypted fields under the first FIELD_ENCRYPTION_KEYS key (and optionally rehash)."

    def add_arguments(self, parser):
        parser.add_argument("--rehash", action="store_true", help="Recompute the keyed hashes of exact lookups too.")

    def handle(self, *args, rehash: bool = False, **options):
        rotated = keys_rotate(report=lambda label, count: self.stdout.write(f"{label}: {count} re-encrypted"))
        self.stdout.write(self.style.SUCCESS(f"{sum(rotated.values())} values re-encrypted under the first key."))
        if rehash:
            for label, count in hashes_recompute().items():
                self.stdout.write(f"{label}: {count} keyed hashes recomputed")
