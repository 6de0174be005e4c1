import datetime as dt
import tempfile

from django.core.management.base import BaseCommand, CommandError

from shops import reliability


class Command(BaseCommand):
    help = (
        "Serve the API with gunicorn against a Redis of its own, stop that Redis, and check that pages and "
        "API reads keep answering, that a feed push and a run start answer within a second, and that both "
        "are delivered exactly once after Redis returns. Builds its own data: use a dedicated database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--shops", type=int, default=200)
        parser.add_argument("--products", type=int, default=2_000)
        parser.add_argument("--creators", type=int, default=2_000)
        parser.add_argument("--reset", action="store_true", help="Delete the data of this database first")

    def handle(self, *args, **opts):
        try:
            reliability.prepare_database(reset=opts["reset"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        reliability.seed(
            shops=opts["shops"], products=opts["products"], creators=opts["creators"], as_of=dt.date.today()
        )
        with tempfile.TemporaryDirectory(prefix="cp-redis-down-") as media:
            problems, _figures = reliability.redis_down_scenario(out=self.stdout.write, media_root=media)
        for problem in problems:
            self.stdout.write(f"BROKEN: {problem}")
        if problems:
            raise CommandError(f"{len(problems)} invariants broken with Redis down")
        self.stdout.write("Redis down: reads answered, actions answered within 1 s, nothing lost after Redis returned")
