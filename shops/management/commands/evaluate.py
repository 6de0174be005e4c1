import datetime as dt
import resource
import sys
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from shops.models import EvaluationRun
from shops.selectors import run_active
from shops.services.evaluation import (
    RunInProgress,
    evaluation_dry_run,
    evaluation_resume,
    evaluation_start,
    evaluation_work,
)
from shops.services.rulesets import ruleset_candidate_from_file
from shops.tasks import evaluation_dispatch


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of must be a date as YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = "Evaluate every shop, product and creator as of a date (one run at a time)."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="Date to evaluate as of (YYYY-MM-DD); default today")
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; write nothing")
        parser.add_argument("--rules", help="JSON file with a candidate rule set (with --dry-run)")
        parser.add_argument("--examples", type=int, default=10, help="Entities listed per transition (dry run)")
        parser.add_argument(
            "--workers", action="store_true", help="Hand the chunks to Celery workers and follow the run"
        )
        parser.add_argument("--resume", action="store_true", help="Resume the running or last failed run")
        parser.add_argument("--chunk-size", type=int, help="Entities per chunk (default EVALUATION_CHUNK_SIZE)")
        parser.add_argument("--report-memory", action="store_true", help="Print this process's peak memory")

    def handle(self, *args, **options):
        as_of = parse_date(options["as_of"]) if options["as_of"] else timezone.localdate()
        if options["rules"] and not options["dry_run"]:
            raise CommandError("--rules is only for --dry-run; activate a rule set to use it for real")
        if options["dry_run"]:
            return self.dry_run(as_of, options)
        if options["resume"]:
            run = self.run_to_resume()
        else:
            try:
                run = evaluation_start(as_of=as_of, chunk_size=options["chunk_size"])
            except RunInProgress as exc:
                raise CommandError(f"{exc} Use --resume to help it finish.") from None
        self.stderr.write(f"Run #{run.pk} as of {run.as_of}: {run.total} entities in chunks of {run.chunk_size}")
        if options["workers"]:
            evaluation_dispatch(run)
            run = self.follow(run)
        else:
            run = evaluation_work(run=run, progress=self.progress)
        self.report(run)
        if options["report_memory"]:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            self.stdout.write(f"peak memory (RSS): {peak:.0f} MB")
        if run.state != EvaluationRun.State.SUCCEEDED:
            raise CommandError(f"Run #{run.pk} {run.state}: {run.error}")

    def run_to_resume(self) -> EvaluationRun:
        run = run_active() or EvaluationRun.objects.filter(state=EvaluationRun.State.FAILED).first()
        if run is None:
            raise CommandError("There is no running or failed run to resume")
        try:
            return evaluation_resume(run=run)
        except (RunInProgress, ValueError) as exc:
            raise CommandError(str(exc)) from None

    def progress(self, run: EvaluationRun) -> None:
        share = 100 * run.done / run.total if run.total else 100
        phase = f"now {run.phase}s" if run.state == EvaluationRun.State.RUNNING else run.state
        self.stderr.write(f"  {run.done:>10,}/{run.total:,} evaluated ({share:.0f}%), {run.changed:,} changed; {phase}")

    def follow(self, run: EvaluationRun) -> EvaluationRun:
        last = None
        while run.state == EvaluationRun.State.RUNNING:
            time.sleep(0.5)
            run.refresh_from_db()
            if (run.phase, run.done) != last:
                self.progress(run)
                last = (run.phase, run.done)
        return run

    def report(self, run: EvaluationRun) -> None:
        seconds = run.duration.total_seconds() if run.duration else 0.0
        self.stdout.write(
            f"Run #{run.pk} as of {run.as_of} {run.state} in {seconds:.1f}s: "
            f"{run.done:,} evaluated, {run.changed:,} changed (rule sets {run.ruleset_versions})"
        )
        for entity in ("shop", "product", "creator"):
            if entity not in run.stats:
                continue
            stats = run.stats[entity]
            transitions = ", ".join(f"{k}: {v:,}" for k, v in sorted(stats["transitions"].items())) or "none"
            self.stdout.write(
                f"  {entity}: {stats['evaluated']:,} evaluated, {stats['changed']:,} changed ({transitions})"
            )

    def dry_run(self, as_of: dt.date, options) -> None:
        try:
            if options["rules"]:
                rules = ruleset_candidate_from_file(as_of=as_of, path=options["rules"])
            else:
                from shops.selectors import rulesets_in_force

                rules = rulesets_in_force(as_of=as_of)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        started = time.perf_counter()
        report = evaluation_dry_run(as_of=as_of, rules=rules, examples=options["examples"])
        out = self.stdout
        out.write(f"Dry run as of {as_of} ({time.perf_counter() - started:.1f}s); nothing was written.")
        for entity, evaluated in report.evaluated.items():
            transitions = report.transitions.get(entity, {})
            changed = sum(transitions.values())
            out.write(f"{entity}: {evaluated:,} evaluated, {changed:,} would change")
            for transition, count in sorted(transitions.items()):
                out.write(f"  {transition}: {count:,}")
                for change in report.examples[entity, transition]:
                    old = ",".join(change.old_reasons) or "-"
                    new = ",".join(change.new_reasons) or "-"
                    out.write(f"    {change.key}: {old} -> {new}")
        sys.stdout.flush()
