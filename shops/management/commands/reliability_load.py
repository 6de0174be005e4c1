import contextlib
import socket
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from shops import benchmark, reliability
from shops.models import EvaluationRun, SellerMembership, Shop, User
from shops.services.evaluation import RunInProgress
from shops.services.tokens import api_token_create

# The portfolio page (a seller's session), the shop detail and the product list of the API (a token).
DEFAULT_PATHS = ["/shops/", "/api/v1/shops/{shop}/", "/api/v1/products/?page_size=50"]


class Command(BaseCommand):
    help = (
        "Open-loop load test (a fixed arrival rate, as wrk2 does; latency counted from when each request was "
        "due): serves this database with gunicorn and prints, per path, throughput, p50/p95/p99 and errors, "
        "idle and while evaluation runs are in progress. Paths may use {shop}, a shop of the signed-in seller; "
        "requests carry an ops API token and a seller's session cookie."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS, help="e.g. /shops/ /api/v1/shops/{shop}/")
        parser.add_argument("--rate", type=float, default=50, help="Requests per second, per path")
        parser.add_argument("--duration", type=float, default=20, help="Seconds per path")
        parser.add_argument("--server-workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--base-url", help="Load this server instead of starting gunicorn (http://host:port)")
        parser.add_argument("--during-run", action="store_true", help="Also measure while runs are in progress")
        parser.add_argument(
            "--run-with",
            choices=["celery", "evaluate"],
            default="celery",
            help="Runs on Celery worker processes (--run-workers), or one `manage.py evaluate` process at a time",
        )
        parser.add_argument("--run-workers", type=int, default=2, help="Celery worker processes for the runs")
        parser.add_argument("--chunk-size", type=int, default=10_000, help="Entities per chunk of the runs")
        parser.add_argument(
            "--changing",
            action="store_true",
            help="Before each run, move ~5%% of the benchmark's entities across a threshold (bench_evaluate's "
            "daily change), so that every run writes; without it a run of the same day again writes nothing",
        )
        parser.add_argument("--max-error-rate", type=float, default=0.01, help="Fail above this share of errors")
        parser.add_argument("--broker", default=None, help="Redis URL (default CELERY_BROKER_URL or local db 14)")

    def handle(self, *args, **opts):
        shop = Shop.objects.filter(seller__isnull=False).order_by("id").first()
        if shop is None:
            raise CommandError("The database has no shops: run bench_evaluate or seed_demo first")
        if opts["during_run"] and EvaluationRun.objects.filter(state=EvaluationRun.State.RUNNING).exists():
            raise CommandError("An evaluation run is already in progress; wait for it or resume it first")
        seller_user, _ = User.objects.get_or_create(
            email="load-seller@reliability.invalid",
            defaults={"role": User.Role.SELLER, "password": "!"},  # nosec B105 # '!' is Django's unusable-password marker
        )
        SellerMembership.objects.get_or_create(user=seller_user, seller_id=shop.seller_id)
        ops, _ = User.objects.get_or_create(
            email="load-ops@reliability.invalid",
            defaults={"role": User.Role.OPS, "password": "!"},  # nosec B105 # '!' is Django's unusable-password marker
        )
        _, token = api_token_create(user=ops, scopes=["eligibility:read"], purpose="Open-loop load test")
        headers = {
            "Authorization": f"Bearer {token}",
            "Cookie": reliability.session_cookie(seller_user),
            "User-Agent": "reliability-load/1.0",
        }
        paths = [path.format(shop=shop.key) for path in opts["paths"]]
        self.stdout.write(
            f"seller {seller_user.email}: {Shop.objects.filter(seller_id=shop.seller_id).count()} shops; "
            f"shop {shop.key}"
        )
        results = []
        if opts["base_url"]:
            host, port = opts["base_url"].split("//", 1)[-1].rstrip("/").rsplit(":", 1)
            results += self.measure_all("idle", host, int(port), paths, headers, opts)
        else:
            env = {"API_RATE_ELIGIBILITY_PER_MINUTE": "100000000", "API_RATE_BULK_PER_HOUR": "100000000"}
            with reliability.gunicorn(workers=opts["server_workers"], env=env) as port:
                results += self.measure_all("idle", "127.0.0.1", port, paths, headers, opts)
                if opts["during_run"]:
                    if opts["run_with"] == "evaluate":
                        results += self.measure_all("during runs", "127.0.0.1", port, paths, headers, opts)
                    else:
                        broker = opts["broker"] or reliability.broker_url()
                        with reliability.workers(opts["run_workers"], broker=broker):
                            results += self.measure_all("during runs", "127.0.0.1", port, paths, headers, opts)
        failed = [(label, r) for label, r in results if sum(r.errors.values()) > opts["max_error_rate"] * r.sent]
        if failed:
            raise CommandError(
                f"error rate above {opts['max_error_rate']:.0%}: {[(name, r.path) for name, r in failed]}"
            )

    def measure_all(self, label, host, port, paths, headers, opts):
        results = []
        during = label != "idle"
        how = ""
        if during:
            how = (
                " (runs in one `manage.py evaluate` process)"
                if opts["run_with"] == "evaluate"
                else f" (runs on {opts['run_workers']} Celery worker processes)"
            )
        self.stdout.write(f"\n{label}{how}: open loop at {opts['rate']:.0f} req/s per path for {opts['duration']:.0f}s")
        self.stdout.write(
            "| path | req/s offered | req/s answered | p50 ms | p95 ms | p99 ms | max ms | errors | client lag p99 ms |"
            + (" run in progress | runs finished |" if during else "")
        )
        self.stdout.write("|---|---:|---:|---:|---:|---:|---:|---|---:|" + ("---:|---:|" if during else ""))
        keeper = RunKeeper(opts) if during else None
        if keeper is not None:
            keeper.start()
            keeper.wait_running()
        try:
            for path in paths:
                before = keeper.counts() if keeper is not None else None
                result = reliability.open_loop(
                    host=host, port=port, path=path, rate=opts["rate"], seconds=opts["duration"], headers=headers
                )
                extra = ""
                if keeper is not None:
                    samples, busy, finished = (now - then for now, then in zip(keeper.counts(), before, strict=True))
                    extra = f" {busy / max(samples, 1):.0%} | {finished} |"
                errors = ", ".join(f"{k} {v}" for k, v in sorted(result.errors.items())) or "0"
                self.stdout.write(
                    f"| {path} | {opts['rate']:.0f} | {result.throughput:.1f} | {result.percentile(0.5):.1f} | "
                    f"{result.percentile(0.95):.1f} | {result.percentile(0.99):.1f} | "
                    f"{max(result.latencies_ms, default=float('nan')):.1f} | {errors} | "
                    f"{result.send_lag_p99:.1f} |{extra}"
                )
                results.append((label, result))
                self.drain(host, port)
        finally:
            if keeper is not None:
                self.stdout.write("(waiting for the last run to finish)")
                keeper.stop()
                self.stdout.write(f"{keeper.finished} runs finished while measuring and after")
        return results

    def drain(self, host: str, port: int, *, limit: float = 300) -> None:
        """Wait until the server answers at once again: requests the client gave up on stay in
        the listen queue and are still served, and would count against the next path."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            sent = time.monotonic()
            with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=30) as sock:
                sock.sendall(f"GET /livez HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
                sock.settimeout(30)
                sock.recv(64)
            if time.monotonic() - sent < 0.5:
                break
        waited = time.monotonic() - started
        if waited > 1:
            self.stdout.write(f"(the server took {waited:.0f}s to work through the requests left in its queue)")


class RunKeeper:
    """Keeps an evaluation run in progress (a new one as soon as one ends) until stopped, and
    counts the share of the time a run was in progress."""

    def __init__(self, opts):
        self.opts = opts
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.keep, daemon=True)
        self.samples = self.busy = self.finished = 0
        self.day = EvaluationRun.objects.count()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.thread.start()

    def wait_running(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not EvaluationRun.objects.filter(state=EvaluationRun.State.RUNNING).exists():
            if time.monotonic() > deadline:
                raise CommandError("no evaluation run started")
            time.sleep(0.1)

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join()

    def counts(self) -> tuple[int, int, int]:
        """(samples, samples with a run in progress, runs finished) so far."""
        return self.samples, self.busy, self.finished

    def next_run(self) -> None:
        from django.utils import timezone

        if self.opts["changing"]:
            self.day += 1
            benchmark.change_share(day=self.day, as_of=timezone.localdate())
        if self.opts["run_with"] == "evaluate":
            self.process = subprocess.Popen(  # noqa: S603 - our own manage.py  # nosec B603 # a fixed argument list of our own tools, no shell
                [
                    sys.executable,
                    str(settings.BASE_DIR / "manage.py"),
                    "evaluate",
                    "--chunk-size",
                    str(self.opts["chunk_size"]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            return
        with contextlib.suppress(RunInProgress):
            reliability.start_run(as_of=timezone.localdate(), chunk_size=self.opts["chunk_size"])

    def keep(self) -> None:
        """Start a run whenever none is in progress, until told to stop; the last one is let finish."""
        from django.db import connection

        try:
            while True:
                running = EvaluationRun.objects.filter(state=EvaluationRun.State.RUNNING).exists()
                if self.process is not None and self.process.poll() is not None:
                    self.process, running = None, False
                    self.finished += 1
                if self.stop_event.is_set():
                    break
                self.samples += 1
                self.busy += running
                if not running and self.process is None:
                    if self.samples > 1 and self.opts["run_with"] == "celery":
                        self.finished += 1
                    self.next_run()
                self.stop_event.wait(0.25)
            while EvaluationRun.objects.filter(state=EvaluationRun.State.RUNNING).exists() or (
                self.process is not None and self.process.poll() is None
            ):
                time.sleep(0.25)
        finally:
            connection.close()
