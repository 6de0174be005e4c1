import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from affiliate.models import Creator
from shops.models import Product, Shop, User
from shops.services.tokens import api_token_create

WRK_LINE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$")
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Command(BaseCommand):
    help = (
        "Serve the configured database with gunicorn and measure requests per second and p50/p99 "
        "latency (wrk) of the shop detail and product list endpoints next to a bare Django view."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
        parser.add_argument("--connections", type=int, default=16)
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--duration", type=int, default=15, help="seconds per endpoint")
        parser.add_argument("--page-size", type=int, default=50)

    def handle(self, *args, **opts):
        if shutil.which("wrk") is None:
            raise CommandError("wrk is not installed (Debian package 'wrk')")
        shop = Shop.objects.order_by("id").values_list("key", flat=True).first()
        if shop is None:
            raise CommandError("The database has no shops: run bench_evaluate or seed_demo first")
        user, _ = User.objects.get_or_create(
            email="api-bench@localhost", defaults={"role": User.Role.OPS, "is_active": True}
        )
        _, token = api_token_create(
            user=user, scopes=["eligibility:read"], purpose="Load test of the eligibility endpoints"
        )
        port = free_port()
        env = os.environ | {"DEBUG": "0", "LOG_LEVEL": "WARNING", "API_RATE_ELIGIBILITY_PER_MINUTE": "100000000"}
        server = subprocess.Popen(  # noqa: S603 - fixed arguments  # nosec B603 # a fixed argument list of our own tools, no shell
            [
                sys.executable,
                "-m",
                "gunicorn",
                "compliance_portal.wsgi:application",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(opts["workers"]),
                "--access-logfile",
                "/dev/null",
            ],
            cwd=settings.BASE_DIR,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            self.wait_for(base)
            self.stdout.write(
                f"gunicorn {opts['workers']} workers, wrk {opts['threads']} threads x {opts['connections']} "
                f"connections, {opts['duration']} s each; {Shop.objects.count():,} shops, "
                f"{Product.objects.count():,} products, {Creator.objects.count():,} creators"
            )
            targets = [
                ("bare Django view (/livez)", f"{base}/livez"),
                ("shop detail", f"{base}/api/v1/shops/{shop}/"),
                (
                    f"product list (page of {opts['page_size']})",
                    f"{base}/api/v1/products/?page_size={opts['page_size']}",
                ),
            ]
            for label, url in targets:
                self.measure(label, url, token, opts)
        finally:
            server.terminate()
            server.wait(timeout=30)

    def wait_for(self, base: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{base}/livez", timeout=2)  # noqa: S310 - our own local server  # nosec B310 # urlopen of our own server on 127.0.0.1
                return
            except OSError:
                time.sleep(0.3)
        raise CommandError("gunicorn did not start")

    def measure(self, label: str, url: str, token: str, opts) -> None:
        command = [
            "wrk",
            "--latency",
            f"-t{opts['threads']}",
            f"-c{opts['connections']}",
            f"-d{opts['duration']}s",
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            "User-Agent: bench-api/1.0",
            url,
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603  # nosec B603 # a fixed argument list of our own tools, no shell
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
        percentiles = {}
        for line in output.splitlines():
            match = WRK_LINE.match(line)
            if match:
                percentiles[match.group(1)] = float(match.group(2)) * UNITS[match.group(3)]
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
        errors = int(non2xx.group(1)) if non2xx else 0
        socket_errors = re.search(r"Socket errors: (.*)", output)
        self.stdout.write(
            f"  {label:<34} {rps:>8.0f} req/s   p50 {percentiles.get('50', 0):7.1f} ms   "
            f"p99 {percentiles.get('99', 0):7.1f} ms   non-2xx {errors}"
            + (f"   socket errors: {socket_errors.group(1)}" if socket_errors else "")
        )
