"""``manage.py seed_demo [--if-empty] [--days 90] [--seed 7] [--shops 50] [--products 2000] [--creators 500]``.

The data and its story live in ``shops/demo.py``; this command only parses and prints.
"""

import argparse
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shops.demo import DEMO_OTP_SECRET, DEMO_PASSWORD, DayReport, DemoConfig, DemoSummary, demo_seed
from shops.models import Shop
from shops.rules import codes as c

BASE_URL = "http://127.0.0.1:8000"
ADMIN_URL = f"{BASE_URL}/admin/"
# Each run logs its start and end, and each in-process task its success; the command already
# prints one line per day.
QUIET_LOGGERS = ("shops.services.evaluation", "celery.app.trace", "shops.services.webhooks")


def _at_least(minimum: int):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
        return number

    return parse


@contextmanager
def _quiet(names: tuple[str, ...], *, unless: bool) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    previous = [logger.level for logger in loggers]
    if not unless:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, previous, strict=True):
            logger.setLevel(level)


def _counts(counter: Counter, statuses: tuple[str, ...]) -> str:
    return ", ".join(f"{counter.get(status, 0):,} {status}" for status in statuses)


class Command(BaseCommand):
    help = "Load a demo portfolio (feeds imported and evaluated day by day) and demo users into an empty database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any shop exists.")
        parser.add_argument("--days", type=_at_least(1), default=90, help="Days of history, ending today.")
        parser.add_argument("--seed", type=int, default=7, help="The same seed gives the same data.")
        parser.add_argument("--shops", type=_at_least(1), default=50)
        parser.add_argument("--products", type=_at_least(1), default=2000)
        parser.add_argument("--creators", type=_at_least(2), default=500)

    def handle(self, *args, if_empty: bool, days: int, seed: int, shops: int, products: int, creators: int, **opts):
        verbosity: int = opts["verbosity"]
        if Shop.objects.exists():
            if if_empty:
                self.stdout.write("Shops already exist: demo data not loaded.")
                return
            raise CommandError("The database already has shops; seed_demo loads demo data into an empty database only.")
        config = DemoConfig(days=days, seed=seed, shops=shops, products=products, creators=creators)
        self.stdout.write(
            f"Loading {days} days of demo data (seed {seed}): {shops:,} shops, {products:,} products, "
            f"{creators:,} creators, {config.first_day} to {config.last_day}."
        )
        with _quiet(QUIET_LOGGERS, unless=verbosity >= 2):
            summary = demo_seed(config=config, progress=self._day)
        self._summary(summary)

    def _day(self, report: DayReport) -> None:
        self.stdout.write(
            f"day {report.index}/{report.total} {report.day}: "
            f"imported {report.rows:,} rows, {report.changed:,} verdicts changed"
        )

    def _summary(self, summary: DemoSummary) -> None:
        write = self.stdout.write
        write("")
        write(self.style.SUCCESS(f"Demo data loaded in {summary.seconds:.1f} s"))
        write(f"  period      {summary.first_day} to {summary.last_day}, every day imported and evaluated")
        write(f"  shops       {_counts(summary.shops, c.SHOP_STATUSES)}")
        write(f"  products    {_counts(summary.products, c.PRODUCT_STATUSES)}")
        write(f"  creators    {_counts(summary.creators, c.CREATOR_STATUSES)}")
        write(
            f"  plans       {summary.plans} created, {summary.plans_terminated} terminated; "
            f"{summary.memberships_removed:,} of {summary.memberships:,} plan products removed"
        )
        write(f"  history     {summary.history_rows:,} status changes")
        write("")
        write(
            f"Demo logins (demo data only; every password is {DEMO_PASSWORD}), sign in at {BASE_URL}/accounts/login/:"
        )
        width = max(len(login.email) for login in summary.logins)
        write(f"  {'email':<{width}}  {'password':<{len(DEMO_PASSWORD)}}  {'role':<9}  who")
        for login in summary.logins:
            write(f"  {login.email:<{width}}  {DEMO_PASSWORD}  {login.role:<9}  {login.note}")
        write("")
        write(f"Ops logins then ask for a one-time code; the secret of both (demo data only) is {DEMO_OTP_SECRET}")
        write("  add it to an authenticator app, or get the current code:")
        write(f"  code: run `.venv/bin/python -c 'import pyotp; print(pyotp.TOTP(\"{DEMO_OTP_SECRET}\").now())'`")
        write("")
        if summary.policy_version is not None:
            write(
                f"Privacy policy version {summary.policy_version} is in force and accepted by every demo login: "
                "nobody is stopped on the acceptance page."
            )
            write("")
        write("Where to look (each login lands on its home page at /):")
        who_width = max(len(stop.who) for stop in summary.tour)
        url_width = max(len(stop.url) for stop in summary.tour)
        for stop in summary.tour:
            write(f"  {stop.who:<{who_width}}  {stop.url:<{url_width}}  {stop.what}")
        write(f"  and the Django admin at {ADMIN_URL} (admin@demo.test)")
