"""/api/v1/feeds/ and /api/v1/runs/: feeds pushed by ops and imported by a task, evaluation runs."""

import copy
import datetime as dt
import io
import json
import pathlib
import zipfile

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone

from affiliate.models import Creator
from shops.feed_tasks import feed_job_task
from shops.models import Category, EvaluationRun, FeedJob, Product, Seller, Shop, ShopSnapshot, User, WebhookEvent
from shops.services import feed_jobs
from shops.services.evaluation import evaluation_start
from shops.services.feed_jobs import FEED_PUSH_DENIED, feed_job_process, feed_job_submit
from shops.services.feeds import FILE_ORDER
from tests.api.conftest import token_client
from tests.factories import make_category, make_creator, make_product, make_shop, make_user

pytestmark = pytest.mark.django_db

FEEDS = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
VALID, BAD = FEEDS / "valid", FEEDS / "bad"
DAY = dt.date(2026, 1, 5)
URL = "/api/v1/feeds/"
needs_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks, a second connection")
RUNS = "/api/v1/runs/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def oscar():
    """Another ops user."""
    return make_user(email="oscar@example.com", role=User.Role.OPS, is_staff=True)


def feed_files(folder: pathlib.Path = VALID) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.csv"))}


def csv_upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def zip_upload(members: dict[str, bytes], name: str = "feed.zip") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


def push(client, capture, data: dict, *, run_task: bool = True):
    """POST a feed; its import task (queued after commit) runs in-process when ``run_task``."""
    with capture(execute=run_task):
        return client.post(URL, data, format="multipart")


def stored_files(tmp_path) -> list[pathlib.Path]:
    return [path for path in (tmp_path / "feeds").rglob("*") if path.is_file()] if (tmp_path / "feeds").exists() else []


# Pushing a good feed --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    ["fields named like the files", "one field with the files' own names", "one zip file"],
)
def test_ops_push_a_valid_feed_and_the_job_imports_it_with_counts(
    shape, ops_api, olga, django_capture_on_commit_callbacks, tmp_path
):
    files = feed_files()
    if shape == "fields named like the files":
        data = {name: csv_upload(name, content) for name, content in files.items()}
    elif shape == "one field with the files' own names":
        data = {"files": [csv_upload(name, content) for name, content in files.items()]}
    else:
        data = {"feed": zip_upload(files)}

    response = push(ops_api, django_capture_on_commit_callbacks, {**data, "as_of": "2026-01-05"})

    assert response.status_code == 202, response.json()
    queued = response.json()
    assert queued["state"] == "queued" and queued["as_of"] == "2026-01-05"
    assert response["Location"] == queued["url"] == f"http://testserver{URL}{queued['id']}/"
    job = ops_api.get(response["Location"]).json()
    assert job["state"] == "succeeded", job["errors"]
    assert job["files"] == list(FILE_ORDER)
    assert job["errors"] == [] and job["error_count"] == 0
    assert job["submitted_by"] == olga.email
    assert job["counts"]["shops.csv"] == {
        "rows": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "snapshots_created": 3,
        "snapshots_updated": 0,
        "snapshots_unchanged": 0,
    }
    assert job["counts"]["categories.csv"] == {"rows": 6, "created": 6, "updated": 0, "unchanged": 0}
    assert job["started_at"] and job["finished_at"]
    assert list(job["counts"]) == list(FILE_ORDER)
    assert job["progress"]["stages"][-1] == {"stage": "creators.csv: written", "done": 3, "total": 3}
    assert [stage["stage"] for stage in job["progress"]["stages"]] == [
        *(f"{name}: validated" for name in FILE_ORDER),
        *(f"{name}: written" for name in FILE_ORDER),
    ]
    assert Shop.objects.count() == 3 and Seller.objects.count() == 2 and Creator.objects.count() == 3
    assert set(ShopSnapshot.objects.values_list("date", flat=True)) == {DAY}
    assert FeedJob.objects.get().token.user == olga
    # The CSV files (sellers.csv holds personal data in plain text) are gone once imported.
    assert stored_files(tmp_path) == []


def test_without_as_of_the_job_takes_the_day_it_was_pushed(ops_api, django_capture_on_commit_callbacks):
    response = push(ops_api, django_capture_on_commit_callbacks, {"shops.csv": csv_upload("x.csv", b"")})
    assert response.status_code == 202
    assert response.json()["as_of"] == timezone.localdate().isoformat()


# Refused feeds: every error, nothing written ---------------------------------------------------


def test_a_bad_feed_fails_whole_with_the_same_errors_as_the_command(
    ops_api, django_capture_on_commit_callbacks, capsys
):
    files = feed_files(BAD)
    response = push(ops_api, django_capture_on_commit_callbacks, {n: csv_upload(n, c) for n, c in files.items()})
    assert response.status_code == 202

    job = ops_api.get(response["Location"]).json()
    assert job["state"] == "failed"
    assert job["counts"] == {}
    with pytest.raises(CommandError):
        call_command("import_feed", str(BAD))
    command_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(tuple(files))]
    assert [f"{e['file']}:{e['line']}: {e['column']}: {e['message']}" for e in job["errors"]] == command_lines
    assert job["error_count"] == len(job["errors"]) == 5
    assert {
        "file": "products.csv",
        "line": 1,
        "column": "buyer_phone",
        "message": "forbidden personal data column",
    } in (job["errors"])
    assert not Shop.objects.exists() and not Product.objects.exists()


def test_a_feed_with_hundreds_of_errors_lists_every_one_and_writes_nothing(ops_api, django_capture_on_commit_callbacks):
    files = feed_files()
    header = files["products.csv"].decode().splitlines()[0]
    # Three errors a row: an unknown listing status, more negative reviews than reviews, a bad flag.
    rows = [f"P-{n},SHOP-1,SERUMS,Serum {n},sold_out,5,9,maybe,false,false,false,false" for n in range(250)]
    files["products.csv"] = "\n".join([header, *rows]).encode()

    response = push(ops_api, django_capture_on_commit_callbacks, {"feed": zip_upload(files)})

    job = ops_api.get(response["Location"]).json()
    assert job["state"] == "failed"
    assert job["error_count"] == len(job["errors"]) == 750
    assert {(e["line"], e["column"]) for e in job["errors"]} == {
        (line, column)
        for line in range(2, 252)
        for column in ("listing_status", "negative_reviews_30d", "ip_violation")
    }
    assert job["errors"][0] == {
        "file": "products.csv",
        "line": 2,
        "column": "listing_status",
        "message": "must be one of live, delisted, frozen, got 'sold_out'",
    }
    # The valid files of the same feed were not written either.
    assert not (Category.objects.exists() or Seller.objects.exists() or Shop.objects.exists())
    listed = ops_api.get(URL).json()["results"][0]
    assert listed["error_count"] == 750 and "errors" not in listed


# Refused uploads: 400 at once, no job ---------------------------------------------------------------

SHOPS_CSV = (VALID / "shops.csv").read_bytes()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (lambda: {}, "No feed files in the upload"),
        (lambda: {"orders.csv": csv_upload("orders.csv", b"a\n1\n")}, "'orders.csv' is not a feed file"),
        (lambda: {"files": [csv_upload("notes.txt", b"hi")]}, "'notes.txt' is not a CSV file"),
        (
            lambda: {"shops.csv": csv_upload("a.csv", SHOPS_CSV), "files": [csv_upload("shops.csv", SHOPS_CSV)]},
            "shops.csv is in the upload more than once",
        ),
        (lambda: {"feed": zip_upload({"../shops.csv": SHOPS_CSV})}, "'../shops.csv' points outside the archive"),
        (lambda: {"feed": zip_upload({"/etc/shops.csv": SHOPS_CSV})}, "'/etc/shops.csv' points outside the archive"),
        (lambda: {"feed": zip_upload({"feed/shops.csv": SHOPS_CSV})}, "'feed/shops.csv' is in a folder"),
        (lambda: {"feed": zip_upload({"shops.csv": SHOPS_CSV, "run.sh": b"rm"})}, "'run.sh' is not a CSV file"),
        (lambda: {"feed": zip_upload({})}, "No feed files in the zip archive"),
        (
            lambda: {"feed": zip_upload({"shops.csv": SHOPS_CSV}), "products.csv": csv_upload("p.csv", b"x")},
            "not both or several zips",
        ),
        (lambda: {"feed": SimpleUploadedFile("feed.zip", b"not a zip")}, "feed.zip is not a readable zip archive"),
    ],
    ids=[
        "nothing",
        "unknown csv",
        "not csv",
        "twice",
        "traversal",
        "absolute path",
        "folder",
        "zip with a script",
        "empty zip",
        "zip and csv",
        "not a zip",
    ],
)
def test_an_upload_that_is_not_a_feed_is_refused_with_400_and_no_job(
    data, message, ops_api, django_capture_on_commit_callbacks, tmp_path
):
    response = push(ops_api, django_capture_on_commit_callbacks, data())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_feed_upload"
    assert message in error["message"]
    assert any(message in problem for problem in error["details"])
    assert not FeedJob.objects.exists()
    assert stored_files(tmp_path) == []


def test_a_zip_with_more_files_than_a_feed_has_is_refused(ops_api, django_capture_on_commit_callbacks):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        for name in [*FILE_ORDER, "shops.csv"]:
            archive.writestr(name, b"x")
    upload = SimpleUploadedFile("feed.zip", buffer.getvalue())
    response = push(ops_api, django_capture_on_commit_callbacks, {"feed": upload})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        "The zip archive holds 6 files; a feed has at most 5.",
        "shops.csv is in the zip archive more than once.",
    ]


@pytest.mark.parametrize("zipped", [False, True])
def test_a_feed_over_the_size_limit_is_refused(zipped, ops_api, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(feed_jobs, "MAX_TOTAL_BYTES", 200)
    files = feed_files()
    data = {"feed": zip_upload(files)} if zipped else {n: csv_upload(n, c) for n, c in files.items()}
    response = push(ops_api, django_capture_on_commit_callbacks, data)
    assert response.status_code == 400
    assert "a feed may be at most 200 bytes" in response.json()["error"]["message"]
    assert not FeedJob.objects.exists()


@pytest.mark.parametrize("as_of", ["05/01/2026", "2026-13-01", "20260105", "yesterday"])
def test_a_bad_as_of_is_refused_with_400(as_of, ops_api, django_capture_on_commit_callbacks):
    data = {"shops.csv": csv_upload("shops.csv", SHOPS_CSV), "as_of": as_of}
    response = push(ops_api, django_capture_on_commit_callbacks, data)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"as_of: must be a date as YYYY-MM-DD, got '{as_of}'"
    assert not FeedJob.objects.exists()


def test_a_feed_must_be_multipart(ops_api):
    response = ops_api.post(URL, {"as_of": "2026-01-05"}, format="json")
    assert response.status_code == 415


# Who may push and see feeds --------------------------------------------------------------------------


def test_a_token_without_feeds_write_gets_403_naming_the_scope(olga, django_capture_on_commit_callbacks):
    client = token_client(olga, scopes=["eligibility:read"])
    response = push(client, django_capture_on_commit_callbacks, {"shops.csv": csv_upload("shops.csv", SHOPS_CSV)})
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "missing_scope",
        "message": "This token lacks the scope feeds:write.",
        "details": None,
    }
    assert client.get(URL).status_code == 403
    assert not FeedJob.objects.exists()


@pytest.mark.parametrize("persona", ["alice_api", "carol_api"])
def test_sellers_and_creators_cannot_push_feeds_even_with_the_scope(
    persona, request, django_capture_on_commit_callbacks
):
    client = request.getfixturevalue(persona)
    data = {"shops.csv": csv_upload("shops.csv", SHOPS_CSV), "as_of": "not a date"}
    response = push(client, django_capture_on_commit_callbacks, data)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == FEED_PUSH_DENIED
    assert not FeedJob.objects.exists()


def test_the_service_refuses_non_ops_users_too(alice):
    with pytest.raises(PermissionDenied, match="Only ops staff can push feeds"):
        feed_job_submit(user=alice, files={"shops.csv": ContentFile(SHOPS_CSV)})


def test_a_job_is_seen_by_its_submitter_and_ops_and_is_404_for_anyone_else(
    olga, oscar, alice_api, ops_api, django_capture_on_commit_callbacks
):
    response = push(ops_api, django_capture_on_commit_callbacks, {"shops.csv": csv_upload("shops.csv", SHOPS_CSV)})
    job_url = response["Location"]

    assert ops_api.get(job_url).status_code == 200
    assert alice_api.get(job_url).status_code == 404
    assert alice_api.get(URL).json()["results"] == []
    assert token_client(oscar).get(job_url).status_code == 200
    assert [job["id"] for job in token_client(oscar).get(URL).json()["results"]] == [response.json()["id"]]


def test_anonymous_requests_are_refused(client):
    assert client.get(URL, HTTP_USER_AGENT="tests").status_code in (401, 403)
    assert client.get(RUNS, HTTP_USER_AGENT="tests").status_code in (401, 403)


def test_the_job_list_is_newest_first_with_a_fixed_number_of_queries(
    olga, ops_api, django_capture_on_commit_callbacks, django_assert_num_queries
):
    def add_jobs(count):
        with django_capture_on_commit_callbacks():  # queued only
            for _ in range(count):
                feed_job_submit(user=olga, files={"shops.csv": ContentFile(SHOPS_CSV)})

    add_jobs(2)
    ops_api.get(URL)  # the token's last use is recorded once a minute at most
    with django_assert_num_queries(2):  # the token, the page of jobs (with their submitter)
        ops_api.get(URL)
    add_jobs(3)
    with django_assert_num_queries(2):
        jobs = ops_api.get(URL).json()["results"]
    assert [job["id"] for job in jobs] == sorted(FeedJob.objects.values_list("id", flat=True), reverse=True)
    assert {job["state"] for job in jobs} == {"queued"}


# The task: idempotent, one webhook event per job --------------------------------------------------------


@pytest.mark.parametrize("folder", [VALID, BAD])
def test_each_job_records_one_feed_completed_event_and_a_repeated_task_changes_nothing(
    folder, ops_api, django_capture_on_commit_callbacks
):
    files = feed_files(folder)
    response = push(ops_api, django_capture_on_commit_callbacks, {"feed": zip_upload(files)})
    job = FeedJob.objects.get(pk=response.json()["id"])
    event = WebhookEvent.objects.get(event="feed.completed")
    assert event.seller_ids == []
    assert event.payload == {
        "feed_job": job.pk,
        "state": job.state,
        "as_of": job.as_of.isoformat(),
        "counts": job.counts,
        "error_count": len(job.errors),
    }

    feed_job_task.delay(job.pk)
    feed_job_task(job.pk)

    assert WebhookEvent.objects.filter(event="feed.completed").count() == 1
    again = FeedJob.objects.get(pk=job.pk)
    assert (again.state, again.finished_at, again.counts, again.errors) == (
        job.state,
        job.finished_at,
        job.counts,
        job.errors,
    )


def test_a_job_left_running_by_a_lost_worker_is_imported_by_the_next_delivery(
    olga, django_capture_on_commit_callbacks, tmp_path
):
    with django_capture_on_commit_callbacks():  # the first delivery never ran
        job = feed_job_submit(user=olga, files={n: ContentFile(c) for n, c in feed_files().items()}, as_of=DAY)
    assert sorted(path.name for path in stored_files(tmp_path)) == sorted(FILE_ORDER)
    FeedJob.objects.filter(pk=job.pk).update(state=FeedJob.State.RUNNING)

    feed_job_task(job.pk)

    job.refresh_from_db()
    assert job.state == FeedJob.State.SUCCEEDED
    assert Shop.objects.count() == 3
    assert stored_files(tmp_path) == []


@needs_postgresql
def test_a_job_another_worker_is_importing_is_left_alone(olga, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        job = feed_job_submit(user=olga, files={"shops.csv": ContentFile(SHOPS_CSV)})
    other, key = other_connection(), [feed_jobs._ADVISORY_LOCK_CLASS, job.pk]
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)
        assert feed_job_process(job_id=job.pk).state == FeedJob.State.QUEUED
        with other.cursor() as cursor:
            # Unlocked explicitly: a closed session's locks go when its server process has ended.
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    finally:
        other.close()
    assert feed_job_process(job_id=job.pk).state == FeedJob.State.FAILED  # SEL-A is unknown


def test_a_stored_file_that_vanished_fails_the_job_with_a_message(olga, django_capture_on_commit_callbacks, tmp_path):
    with django_capture_on_commit_callbacks():
        job = feed_job_submit(user=olga, files={"shops.csv": ContentFile(SHOPS_CSV)})
    for path in stored_files(tmp_path):
        path.unlink()
    job = feed_job_process(job_id=job.pk)
    assert job.state == FeedJob.State.FAILED
    assert job.errors[0]["message"].startswith("The import failed and nothing was imported (FileNotFoundError")


def other_connection():
    """A second connection to the test database, outside the test's transaction."""
    default = connections["default"]
    return type(default)(copy.deepcopy(default.settings_dict), default.alias)


@needs_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_progress_is_visible_to_other_clients_while_the_import_is_still_open(olga, monkeypatch):
    observer = other_connection()
    seen = []
    real_import = feed_jobs.feed_import

    def observed_import(*, files, as_of, progress):
        def report(stage, done, total):
            progress(stage, done, total)
            with observer.cursor() as cursor:
                cursor.execute("SELECT state, progress FROM shops_feedjob")
                seen.append(cursor.fetchone())

        return real_import(files=files, as_of=as_of, progress=report)

    monkeypatch.setattr(feed_jobs, "feed_import", observed_import)
    try:
        job = feed_job_submit(user=olga, files={n: ContentFile(c) for n, c in feed_files().items()}, as_of=DAY)
    finally:
        observer.close()

    job.refresh_from_db()
    assert job.state == FeedJob.State.SUCCEEDED
    written = [json.loads(progress)["stage"] for state, progress in seen if state == "running"]
    assert "categories.csv: validated" in written and "creators.csv: written" in written
    assert connections["default"].in_atomic_block is False


# Runs ------------------------------------------------------------------------------------------------


def some_entities():
    shop = make_shop()
    make_product(shop=shop, category=make_category())
    make_product(shop=shop, category=make_category())
    make_creator()


def test_ops_start_a_run_and_follow_it_to_the_end(olga, ops_api, django_capture_on_commit_callbacks):
    some_entities()
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_api.post(RUNS, {"as_of": "2026-01-05"}, format="json")
    assert response.status_code == 202
    started = response.json()
    assert started["as_of"] == "2026-01-05" and started["trigger"] == "manual"
    assert started["created_by"] == olga.email
    assert response["Location"] == started["url"]

    run = ops_api.get(started["url"]).json()
    assert run["state"] == "succeeded"
    assert run["done"] == run["total"] == 4
    assert run["progress"] == 100.0
    assert run["changed"] == 4
    assert set(run["stats"]) == {"shop", "product", "creator"}
    assert run["stats"]["product"]["evaluated"] == 2
    assert run["ruleset_versions"] == {"default": 1}
    assert run["duration_seconds"] is not None and run["error"] == ""
    assert [listed["id"] for listed in ops_api.get(RUNS).json()["results"]] == [started["id"]]


def test_a_run_in_progress_shows_its_progress(ops_api):
    some_entities()
    run = evaluation_start(as_of=DAY, chunk_size=1)
    body = ops_api.get(f"{RUNS}{run.pk}/").json()
    assert (body["state"], body["phase"], body["done"], body["total"], body["progress"]) == (
        "running",
        "shop",
        0,
        4,
        0.0,
    )
    assert body["finished_at"] is None and body["duration_seconds"] is None
    assert body["created_by"] is None  # started by the schedule or a command


def test_a_second_run_while_one_is_running_gets_409(ops_api, django_capture_on_commit_callbacks):
    some_entities()
    running = evaluation_start(as_of=DAY)
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_api.post(RUNS, {}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "run_in_progress"
    assert error["message"].startswith(f"Evaluation run #{running.pk} (as of {DAY}) is already running")
    assert error["details"] == {"run": running.pk}
    assert EvaluationRun.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"as_of": "5 Jan 2026"}, "as_of: must be a date as YYYY-MM-DD, got '5 Jan 2026'"),
        ({"as_of": "1999-12-31"}, "No default rule set is in force on 1999-12-31"),
    ],
)
def test_a_run_for_a_bad_day_is_refused_with_400(body, message, ops_api):
    response = ops_api.post(RUNS, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert not EvaluationRun.objects.exists()


@pytest.mark.parametrize("persona", ["alice_api", "carol_api"])
def test_only_ops_see_and_start_runs(persona, request):
    client = request.getfixturevalue(persona)
    run = evaluation_start(as_of=DAY)
    for response in (client.get(RUNS), client.get(f"{RUNS}{run.pk}/"), client.post(RUNS, {}, format="json")):
        assert response.status_code == 403
        assert response.json()["error"]["message"] == "Only ops staff can do this."
    assert EvaluationRun.objects.count() == 1


def test_an_unknown_run_is_404(ops_api):
    assert ops_api.get(f"{RUNS}999999/").status_code == 404
    assert ops_api.get(f"{RUNS}99999999999999999999999/").status_code == 404


@needs_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_with_tasks_run_in_process_the_response_already_shows_the_outcome(olga):
    client = token_client(olga)
    files = {name: csv_upload(name, content) for name, content in feed_files().items()}
    response = client.post(URL, {**files, "as_of": "2026-01-05"}, format="multipart")
    assert response.status_code == 202
    assert response.json()["state"] == "succeeded"
    assert response.json()["progress"]["stage"] == "creators.csv: written"

    response = client.post(RUNS, {"as_of": "2026-01-05"}, format="json")
    assert response.status_code == 202
    assert response.json()["state"] == "succeeded"
