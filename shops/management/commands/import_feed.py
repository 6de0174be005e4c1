"""Import a daily metrics feed folder; the service does the work (shops/services/feeds.py)."""

import argparse
import pathlib
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from shops.services.feeds import (
    PROGRESS_EVERY,
    FeedValidationError,
    feed_directory_files,
    feed_import,
    parse_as_of,
)


def _as_of(value: str) -> date:
    try:
        return parse_as_of(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _summary(name: str, counts: dict[str, int]) -> str:
    """products.csv: 10 rows, 3 created, 2 updated, 5 unchanged; snapshots: 4 created, 0 updated, 6 unchanged"""
    line = f"{name}: {counts['rows']} rows, " + ", ".join(
        f"{counts[outcome]} {outcome}" for outcome in ("created", "updated", "unchanged")
    )
    if "snapshots_created" in counts:
        line += "; snapshots: " + ", ".join(
            f"{counts[f'snapshots_{outcome}']} {outcome}" for outcome in ("created", "updated", "unchanged")
        )
    return line


class Command(BaseCommand):
    help = "Validate and import a folder of feed CSV files (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=pathlib.Path, help="Folder holding categories.csv, shops.csv, ...")
        parser.add_argument(
            "--as-of", type=_as_of, default=None, help="Date of rows without an as_of cell (YYYY-MM-DD); default today"
        )

    def handle(self, *args, directory: pathlib.Path, as_of: date | None, verbosity: int, **options):
        if not directory.exists():
            raise CommandError(f"{directory} does not exist")
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory")
        files, ignored = feed_directory_files(directory)
        if ignored:
            self.stderr.write(f"Note: ignoring what is not a CSV file: {', '.join(ignored)}")
        self.verbosity = verbosity
        try:
            result = feed_import(files=files, as_of=as_of, progress=self.progress)
        except FeedValidationError as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(str(exc)) from None
        except DatabaseError as exc:
            raise CommandError(f"The database refused the import; nothing was imported: {exc}") from exc
        for name, counts in result.counts.items():
            self.stdout.write(_summary(name, counts))
        dates = ", ".join(day.isoformat() for day in result.as_of_dates) or "-"
        self.stdout.write(self.style.SUCCESS(f"Imported as of {dates}."))

    def progress(self, stage: str, done: int, total: int) -> None:
        # Small feeds finish at once; progress lines only help on large ones.
        if total >= PROGRESS_EVERY or self.verbosity >= 2:
            self.stderr.write(f"{stage} {done}/{total}", style_func=lambda text: text)
