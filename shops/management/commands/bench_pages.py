import time

from django.core.management.base import BaseCommand, CommandError

from shops import bench_pages


class Command(BaseCommand):
    help = (
        "Time the server side of the web pages on the configured database (bench_evaluate's data set): "
        "portfolio, shop detail, product table (first, sorted, filtered, searched and deep pages), CSV export, "
        "creator page and ops pages, in-process with Django's test client. Prints median/p95/max ms and the "
        "SQL queries of each page; exits non-zero when a page does not answer 200."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repeats", type=int, default=20, help="Timed requests per page")
        parser.add_argument("--warmups", type=int, default=2, help="Untimed requests per page first")
        parser.add_argument("--seller", help="Seller key of the seller user (default: the seller with most shops)")
        parser.add_argument(
            "--group-shops",
            type=int,
            default=1000,
            help="Also time a member of several sellers holding this many shops (0: not)",
        )
        parser.add_argument("--only", help="Only the pages whose name contains this")
        parser.add_argument(
            "--extra",
            action="append",
            default=[],
            metavar="[USER:]PATH",
            help="Also time this path (repeatable), as seller (default), group, creator or ops",
        )

    def handle(self, *args, **opts):
        out = self.stdout.write
        try:
            planned = bench_pages.plan(
                seller_key=opts["seller"], group_shops=opts["group_shops"], only=opts["only"], extra=opts["extra"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for line in planned.described():
            out(line)
        out(f"\n{opts['repeats']} timed requests per page after {opts['warmups']} warm-ups; server time in ms")
        out("| page | user | median ms | p95 ms | max ms | SQL queries | KB | status |")
        out("|---|---|---:|---:|---:|---:|---:|---|")
        failed = []
        started = time.perf_counter()
        for timing in bench_pages.time_pages(planned, repeats=opts["repeats"], warmups=opts["warmups"]):
            spec = timing.spec
            out(
                f"| {spec.name} | {spec.user} | {timing.median:.1f} | {timing.p95:.1f} | {timing.max:.1f} | "
                f"{timing.queries_shown} | {timing.size / 1024:.0f} | {timing.status} |"
            )
            if not timing.ok:
                failed.append(f"{spec.name} ({spec.path}): {timing.status}")
        out(f"\n{len(planned.specs)} pages in {time.perf_counter() - started:.0f}s")
        if failed:
            raise CommandError("pages that did not answer 200: " + "; ".join(failed))
