import csv
import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from shops.models import Shop
from shops.services.integrity import business_history_report

CSV_COLUMNS = (
    "section",
    "date",
    "entity",
    "key",
    "old_status",
    "new_status",
    "reasons",
    "ruleset_version",
    "sps",
    "orders_90d",
    "details",
)


class Command(BaseCommand):
    help = (
        "Print a shop's business history (verdicts of the shop and its products, daily snapshots, "
        "affiliate plans, unbindings) as JSON or CSV; it works after an unbinding too."
    )

    def add_arguments(self, parser):
        parser.add_argument("shop_id", help="The shop id of the feed (Shop.key)")
        parser.add_argument("--format", choices=["json", "csv"], default="json")

    def handle(self, *args, **options):
        shop = Shop.objects.filter(key=options["shop_id"]).first()
        if shop is None:
            raise CommandError(f"Unknown shop {options['shop_id']!r}")
        report = business_history_report(shop=shop)
        if options["format"] == "json":
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
            return
        writer = csv.DictWriter(self.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in csv_rows(report):
            writer.writerow(row)


def _day(moment: str | None) -> str:
    """The local day of an ISO timestamp, as the ban and the runs count days."""
    return timezone.localdate(dt.datetime.fromisoformat(moment)).isoformat() if moment else ""


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def csv_rows(report: dict):
    """One table for every section; what does not fit a column goes to ``details`` as JSON."""
    shop = report["shop"]
    yield {
        "section": "shop",
        "entity": "shop",
        "key": shop["key"],
        "new_status": shop["status"] or "",
        "reasons": ";".join(shop["reasons"]),
        "sps": shop["sps"] or "",
        "orders_90d": shop["orders_90d"],
        "details": _json({name: shop[name] for name in shop if name not in {"key", "status", "reasons", "sps"}}),
    }
    for row in report["history"]:
        yield {
            "section": "history",
            "date": row["date"],
            "entity": row["entity"],
            "key": row["key"],
            "old_status": row["old_status"] or "",
            "new_status": row["new_status"],
            "reasons": ";".join(row["reasons"]),
            "ruleset_version": row["ruleset_version"],
            "details": _json({name: row[name] for name in ("old_reasons", "inputs", "baseline", "run", "recorded_at")}),
        }
    for row in report["snapshots"]:
        yield {
            "section": "snapshot",
            "date": row["date"],
            "entity": "shop",
            "key": shop["key"],
            "sps": row["sps"] or "",
            "orders_90d": row["orders_90d"],
            "details": _json({"account_status": row["account_status"]}),
        }
    for plan in report["plans"]:
        yield {
            "section": "plan",
            "date": _day(plan["created_at"]),
            "entity": "plan",
            "key": plan["name"],
            "new_status": plan["status"],
            "reasons": ";".join(plan["end_reasons"]),
            "details": _json({name: plan[name] for name in ("kind", "terminated_at", "products")}),
        }
    for unbinding in report["unbindings"]:
        yield {
            "section": "unbinding",
            "date": _day(unbinding["unbound_at"]),
            "entity": "shop",
            "key": shop["key"],
            "reasons": "SHOP_UNBOUND",
            "details": _json({name: value for name, value in unbinding.items() if name != "unbound_at"}),
        }
