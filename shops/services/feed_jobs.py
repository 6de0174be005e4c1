"""Feeds pushed through the API: the upload is checked for its shape, stored, and imported by a
Celery task with the validation of the ``import_feed`` command (shops/services/feeds.py).

- Only ops push feeds: a feed is platform data (every seller's shops, the category tree, the
  creators), so a seller's token could otherwise overwrite another seller's metrics.
- The files are kept under ``feeds/<job id>/`` of the default storage until the job has
  finished, then deleted: ``sellers.csv`` carries personal data in plain text, which the
  database only keeps encrypted. The job row keeps the outcome (counts or every error).
- The import, the job's outcome and its ``feed.completed`` webhook event commit together.
  Progress is written meanwhile by short updates on a connection of its own, so that clients
  polling the job see it move while the import's transaction is still open (PostgreSQL only;
  on SQLite progress is stored with the outcome).
- A re-delivered task for a finished job does nothing; a job left running by a worker that
  died is imported again by the next delivery (the import is all or nothing).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from shops.models import ApiToken, FeedJob, User, WebhookSubscription
from shops.services.feeds import FILE_ORDER, NO_COLUMN, FeedValidationError, feed_import
from shops.services.webhooks import webhook_event_record

logger = logging.getLogger(__name__)

FEED_STORAGE_DIR = "feeds"
MAX_FILES = len(FILE_ORDER)
MAX_TOTAL_BYTES = 200 * 1024 * 1024  # uncompressed, all files of one feed together
PROGRESS_WRITE_SECONDS = 0.5
_ADVISORY_LOCK_CLASS = 0x0FEED  # pg_try_advisory_lock(class, job id): one worker per job


class FeedUploadRefused(Exception):
    """The upload is not a feed (names, archive layout, size); nothing was stored."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


FEED_PUSH_DENIED = "Only ops staff can push feeds: a feed holds platform data of every seller."


# Reads and access --------------------------------------------------------------------------------


def feed_push_allowed(*, user: User) -> bool:
    return user.is_authenticated and user.is_ops


def feed_jobs_visible(*, user: User) -> QuerySet[FeedJob]:
    """Ops see every job; anyone else the jobs they submitted."""
    jobs = FeedJob.objects.select_related("submitted_by")
    return jobs if user.is_ops else jobs.filter(submitted_by=user)


# Submitting ---------------------------------------------------------------------------------------


def feed_job_submit(
    *,
    user: User,
    files: Mapping[str, File] | Iterable[tuple[str, File]],
    token: ApiToken | None = None,
    as_of: date | None = None,
) -> FeedJob:
    """Check and store an upload, then queue its import once the job is committed.

    ``files`` maps each feed file name (``shops.csv``) to its content, or holds one
    ``*.zip`` file with the CSV files at its top level. Raises FeedUploadRefused.
    """
    if not feed_push_allowed(user=user):
        raise PermissionDenied(FEED_PUSH_DENIED)
    uploads = list(files.items()) if isinstance(files, Mapping) else list(files)
    archive = _archive_of(uploads)
    members = _archive_members(archive) if archive is not None else _checked_files(uploads)
    folder = None
    try:
        with transaction.atomic():
            job = FeedJob.objects.create(
                submitted_by=user, token=token, as_of=as_of or timezone.localdate(), state=FeedJob.State.QUEUED
            )
            folder = _job_folder(job.pk)
            for name, content in members:
                job.files[name] = default_storage.save(f"{folder}/{name}", content)
            job.save(update_fields=["files"])
            transaction.on_commit(lambda: _enqueue(job.pk))
    except BaseException:
        if folder is not None:
            _delete_folder(folder)
        raise
    finally:
        if archive is not None:
            archive.close()
    logger.info("Feed job #%s submitted by %s: %s", job.pk, user, ", ".join(job.files))
    return job


def _enqueue(job_id: int) -> None:
    from shops.feed_tasks import feed_job_task

    feed_job_task.delay(job_id)


def _archive_of(uploads: list[tuple[str, File]]) -> zipfile.ZipFile | None:
    zips = [(name, upload) for name, upload in uploads if name.lower().endswith(".zip")]
    if not zips:
        return None
    if len(uploads) > 1:
        raise FeedUploadRefused(["Send either CSV files or one .zip file holding them, not both or several zips."])
    name, upload = zips[0]
    if (upload.size or 0) > MAX_TOTAL_BYTES:
        limit = _megabytes(MAX_TOTAL_BYTES)
        raise FeedUploadRefused([f"{name} has {_megabytes(upload.size)}; a feed may be at most {limit}."])
    try:
        upload.seek(0)
        return zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise FeedUploadRefused([f"{name} is not a readable zip archive."]) from None


def _checked_files(uploads: list[tuple[str, File]]) -> list[tuple[str, File]]:
    problems = _name_problems([name for name, _ in uploads])
    total = sum(upload.size or 0 for _, upload in uploads)
    if total > MAX_TOTAL_BYTES:
        limit = _megabytes(MAX_TOTAL_BYTES)
        problems.append(f"The files add up to {_megabytes(total)}; a feed may be at most {limit}.")
    if problems:
        raise FeedUploadRefused(problems)
    for _, upload in uploads:
        upload.seek(0)
    return uploads


def _archive_members(archive: zipfile.ZipFile) -> list[tuple[str, File]]:
    """The archive's CSV files; it must hold nothing else, and only at its top level."""
    problems: list[str] = []
    infos = archive.infolist()
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(parts[0]) == 2 and parts[0][1] == ":"):
            problems.append(f"Zip member {name!r} points outside the archive (path traversal).")
        elif info.is_dir() or len(parts) > 1:
            problems.append(f"Zip member {name!r} is in a folder; zip the CSV files themselves, not a folder.")
        elif info.flag_bits & 0x1:
            problems.append(f"Zip member {name!r} is encrypted.")
    if problems:
        raise FeedUploadRefused(problems)
    problems = _name_problems([info.filename for info in infos], within="the zip archive")
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        problems.append(
            f"The zipped files add up to {_megabytes(total)} uncompressed; "
            f"a feed may be at most {_megabytes(MAX_TOTAL_BYTES)}."
        )
    if problems:
        raise FeedUploadRefused(problems)
    # zipfile never reads past a member's declared size, so the total above is a real bound.
    return [(info.filename, _ZipMember(archive, info)) for info in infos]


def _name_problems(names: list[str], within: str = "the upload") -> list[str]:
    problems = []
    expected = ", ".join(FILE_ORDER)
    if not names:
        problems.append(f"No feed files in {within}; send the CSV files ({expected}) or one .zip file holding them.")
    if len(names) > MAX_FILES:
        problems.append(f"{within.capitalize()} holds {len(names)} files; a feed has at most {MAX_FILES}.")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.append(f"{name} is in {within} more than once.")
        seen.add(name)
        if name not in FILE_ORDER:
            kind = "feed file" if name.lower().endswith(".csv") else "CSV file"
            problems.append(f"{name!r} is not a {kind} (expected one of {expected}).")
    return list(dict.fromkeys(problems))


class _ZipMember(File):
    """One archive member, streamed into storage without unpacking it on disk first."""

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
        self._archive, self._info = archive, info
        super().__init__(None, name=info.filename)

    @property
    def size(self) -> int:
        return self._info.file_size

    def chunks(self, chunk_size: int | None = None):
        try:
            with self._archive.open(self._info) as source:
                while data := source.read(chunk_size or self.DEFAULT_CHUNK_SIZE):
                    yield data
        except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as exc:
            raise FeedUploadRefused([f"Zip member {self._info.filename!r} cannot be read ({exc})."]) from None


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size} bytes"


# Processing ---------------------------------------------------------------------------------------


def feed_job_process(*, job_id: int) -> FeedJob:
    """Import a queued job's files: succeeded with counts, or failed with every error."""
    with _job_lock(job_id) as acquired:
        job = FeedJob.objects.get(pk=job_id)
        if not acquired or job.state in (FeedJob.State.SUCCEEDED, FeedJob.State.FAILED):
            logger.info("Feed job #%s: nothing to do (%s)", job_id, "busy elsewhere" if not acquired else job.state)
            return job
        job.state, job.started_at, job.progress = FeedJob.State.RUNNING, timezone.now(), {}
        job.save(update_fields=["state", "started_at", "progress"])
        progress = _ProgressRecorder(job.pk)
        sources: dict[str, File] = {}
        try:
            for name, path in job.files.items():
                sources[name] = default_storage.open(path, "rb")
            with transaction.atomic():
                result = feed_import(files=sources, as_of=job.as_of, progress=progress)
                _finish(job, state=FeedJob.State.SUCCEEDED, counts=result.counts, progress=progress.state)
        except FeedValidationError as exc:
            errors = [asdict(error) for error in exc.errors]
            _finish(job, state=FeedJob.State.FAILED, errors=errors, progress=progress.state)
        except Exception as exc:
            logger.exception("Feed job #%s failed", job.pk)
            message = f"The import failed and nothing was imported ({type(exc).__name__}: {exc})"[:2000]
            error = {"file": NO_COLUMN, "line": 0, "column": NO_COLUMN, "message": message}
            _finish(job, state=FeedJob.State.FAILED, errors=[error], progress=progress.state)
        finally:
            progress.close()
            for source in sources.values():
                source.close()
    _delete_folder(_job_folder(job.pk))
    return job


def _finish(job: FeedJob, *, state: str, progress: dict, counts: dict | None = None, errors: list | None = None):
    with transaction.atomic():
        job.state, job.counts, job.errors = state, counts or {}, errors or []
        job.progress, job.finished_at = progress, timezone.now()
        job.save(update_fields=["state", "counts", "errors", "progress", "finished_at"])
        # Ops-only event (no seller ids): a feed spans many sellers and only ops push feeds.
        webhook_event_record(
            event=WebhookSubscription.Event.FEED_COMPLETED,
            payload={
                "feed_job": job.pk,
                "state": state,
                "as_of": job.as_of.isoformat() if job.as_of else None,
                "counts": job.counts,
                "error_count": len(job.errors),
            },
            dedupe_key=f"feed:{job.pk}:completed",
        )
    logger.info("Feed job #%s %s (%s errors)", job.pk, state, len(job.errors))


@contextlib.contextmanager
def _job_lock(job_id: int) -> Iterator[bool]:
    """A session advisory lock on PostgreSQL, released even when the worker process dies."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = (_ADVISORY_LOCK_CLASS, job_id % 2**31)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


class _ProgressRecorder:
    """The import's progress callback: {stage, done, total, stages: [{stage, done, total}, ...]}."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.state: dict[str, Any] = {"stage": None, "done": 0, "total": 0, "stages": []}
        self._stages: dict[str, dict] = {}
        self._connection = None
        self._written_at = 0.0
        self._enabled = connection.vendor == "postgresql"

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.state.update(stage=stage, done=done, total=total)
        if stage not in self._stages:
            self._stages[stage] = {"stage": stage}
            self.state["stages"].append(self._stages[stage])
        self._stages[stage].update(done=done, total=total)
        now = time.monotonic()
        if self._enabled and (done == total or now - self._written_at >= PROGRESS_WRITE_SECONDS):
            self._written_at = now
            self._write()

    def _write(self) -> None:
        table = connection.ops.quote_name(FeedJob._meta.db_table)
        try:
            if self._connection is None:
                # The same database as the import, outside its transaction (autocommit).
                default = connections[DEFAULT_DB_ALIAS]
                self._connection = type(default)(copy.deepcopy(default.settings_dict), default.alias)
                with self._connection.cursor() as cursor:
                    cursor.execute("SET lock_timeout = '1s'")
            with self._connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET progress = %s::jsonb WHERE id = %s",  # noqa: S608 - the model's table  # nosec B608 # table names from model metadata, values are query parameters
                    [json.dumps(self.state), self.job_id],
                )
        except DatabaseError as exc:
            # Progress is a courtesy to pollers: it never fails the import.
            logger.warning("Feed job #%s: progress not written (%s)", self.job_id, exc)
            self._enabled = False

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _job_folder(job_id: int) -> str:
    return f"{FEED_STORAGE_DIR}/{job_id}"


def _delete_folder(folder: str) -> None:
    """The job's files (also a half-written one) and their folder."""
    try:
        _folders, names = default_storage.listdir(folder)
        for name in names:
            default_storage.delete(f"{folder}/{name}")
        default_storage.delete(folder)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("Could not delete the stored feed files in %s: %s", folder, exc)
