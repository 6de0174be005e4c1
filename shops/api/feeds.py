"""Feeds pushed through the API (/api/v1/feeds/) and the evaluation runs (/api/v1/runs/).

The views only translate HTTP: the upload rules, the import and who may push a feed live in
shops/services/feed_jobs.py; runs are started by the same service as the daily task.
"""

from django.db import transaction
from django.db.models import Func, IntegerField
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, permissions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from shops.api.errors import error_response
from shops.api.pagination import IdCursorPagination
from shops.api.permissions import HasScope, IsOps
from shops.models import ApiToken, EvaluationRun, FeedJob, RuleSet
from shops.services.evaluation import RunInProgress, evaluation_start
from shops.services.feed_jobs import (
    FEED_PUSH_DENIED,
    MAX_FILES,
    MAX_TOTAL_BYTES,
    FeedUploadRefused,
    feed_job_submit,
    feed_jobs_visible,
    feed_push_allowed,
)
from shops.services.feeds import FILE_ORDER, parse_as_of
from shops.tasks import evaluation_dispatch

# Schemas ----------------------------------------------------------------------------------------


class FeedsApiErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(allow_null=True)


class FeedsApiErrorSerializer(serializers.Serializer):
    """The API's one error format (shops/api/errors.py)."""

    error = FeedsApiErrorDetailSerializer()


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Refused input; the message says what to change.",
        401: "No valid token or session.",
        403: "The token lacks the scope, or the user the role.",
        404: "No such object, or not yours to see.",
        409: "An evaluation run is already in progress.",
        429: "Rate limit reached; see Retry-After.",
    }
    return {code: OpenApiResponse(FeedsApiErrorSerializer, description=descriptions[code]) for code in codes}


class FeedDateField(serializers.DateField):
    """Strictly YYYY-MM-DD, as the feed's own as_of column and the import command read it."""

    def to_internal_value(self, value):
        try:
            return parse_as_of(str(value).strip())
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


# Feeds ------------------------------------------------------------------------------------------


class FeedUploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        required=False,
        help_text=(
            f"The feed's CSV files ({', '.join(FILE_ORDER)}), at most {MAX_FILES}, or one .zip file holding them "
            "at its top level. A field named like a file (e.g. `shops.csv` or `feed.zip`) names its upload; "
            f"any other field (such as this one) takes the uploaded file's own name. At most "
            f"{MAX_TOTAL_BYTES // (1024 * 1024)} MB in all, uncompressed."
        ),
    )
    as_of = FeedDateField(
        required=False, allow_null=True, help_text="Day of rows without an as_of cell (YYYY-MM-DD); default today."
    )


class FeedErrorSerializer(serializers.Serializer):
    file = serializers.CharField()
    line = serializers.IntegerField(help_text="0 for an error about the whole file or upload")
    column = serializers.CharField(help_text="'-' when no single column is at fault")
    message = serializers.CharField()


@extend_schema_field({"type": "string", "description": "queued, running, succeeded or failed"})
class FeedJobStateField(serializers.ChoiceField):
    """In the list the state is a plain string: the enum is the job's own (FeedJobStateEnum); one
    choice set in two components would get a name that collides with the other 'state' enums."""

    def __init__(self, **kwargs):
        super().__init__(choices=FeedJob.State.choices, read_only=True, **kwargs)


class FeedJobSummarySerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    state = FeedJobStateField()
    files = serializers.SerializerMethodField()
    counts = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="Per file: rows, created/updated/unchanged and, for daily entities, snapshots_* counts.",
    )
    progress = serializers.JSONField(
        help_text="{stage, done, total, stages: [{stage, done, total}]}: the current stage and every stage so "
        "far, '<file>: validated' for each file, then '<file>: written' for each file."
    )
    error_count = serializers.SerializerMethodField()
    submitted_by = serializers.SlugRelatedField(slug_field="email", read_only=True)

    class Meta:
        model = FeedJob
        fields = [
            "id",
            "url",
            "state",
            "as_of",
            "files",
            "counts",
            "progress",
            "error_count",
            "submitted_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, job: FeedJob) -> str:
        return _absolute(self.context.get("request"), "api:feed-job-detail", job.pk)

    def get_files(self, job: FeedJob) -> list[str]:
        return _in_feed_order(job.files)

    def to_representation(self, job: FeedJob) -> dict:
        data = super().to_representation(job)
        data["counts"] = {name: data["counts"][name] for name in _in_feed_order(data["counts"])}
        return data

    def get_error_count(self, job: FeedJob) -> int:
        count = getattr(job, "error_total", None)
        return count if count is not None else len(job.errors)


class FeedJobSerializer(FeedJobSummarySerializer):
    state = serializers.ChoiceField(choices=FeedJob.State.choices, read_only=True)
    errors = FeedErrorSerializer(many=True, read_only=True, help_text="Every error of a refused feed, in file order.")

    class Meta(FeedJobSummarySerializer.Meta):
        fields = [*FeedJobSummarySerializer.Meta.fields, "errors"]
        read_only_fields = fields


class _JsonArrayLength(Func):
    function = "jsonb_array_length"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="json_array_length", **extra)


class NewestFirstPagination(IdCursorPagination):
    ordering = "-id"


class CanPushFeeds(permissions.BasePermission):
    message = FEED_PUSH_DENIED

    def has_permission(self, request, view):
        return request.method != "POST" or feed_push_allowed(user=request.user)


class FeedJobViewMixin:
    required_scopes = {"*": ApiToken.Scope.FEEDS_WRITE}
    throttle_scope = "bulk"
    permission_classes = [permissions.IsAuthenticated, HasScope, CanPushFeeds]

    def get_queryset(self):
        return feed_jobs_visible(user=self.request.user)


class FeedJobListView(FeedJobViewMixin, generics.ListAPIView):
    serializer_class = FeedJobSummarySerializer
    pagination_class = NewestFirstPagination
    parser_classes = [MultiPartParser]

    def get_queryset(self):
        # A refused feed may list many thousands of errors: the list shows their number only.
        return super().get_queryset().defer("errors").annotate(error_total=_JsonArrayLength("errors"))

    @extend_schema(
        summary="Feed jobs",
        description="Your feed jobs (ops: everyone's), newest first; each job's errors are at its own URL.",
        responses={200: FeedJobSummarySerializer(many=True), **_errors(401, 403, 429)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Push a feed",
        description=(
            "Ops only. Multipart: the CSV files of the feed format, or one .zip file holding them. The upload "
            "is checked at once (file names, archive layout, size: 400); the rows are validated and imported "
            "by a background job with the rules of the import command: all or nothing, with every error listed "
            "on the job. Returns the job (202) and its URL in Location."
        ),
        request={"multipart/form-data": FeedUploadSerializer},
        responses={202: FeedJobSerializer, **_errors(400, 401, 403, 429)},
    )
    def post(self, request, *args, **kwargs):
        form = FeedUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            job = feed_job_submit(
                user=request.user,
                token=request.auth if isinstance(request.auth, ApiToken) else None,
                files=_uploads(request),
                as_of=form.validated_data.get("as_of"),
            )
        except FeedUploadRefused as exc:
            return error_response(code="invalid_feed_upload", message=" ".join(exc.problems), details=exc.problems)
        # With tasks run in-process (local, tests) the import has already finished.
        job.refresh_from_db()
        data = FeedJobSerializer(job, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class FeedJobDetailView(FeedJobViewMixin, generics.RetrieveAPIView):
    serializer_class = FeedJobSerializer

    @extend_schema(
        summary="A feed job",
        description="State, counts, progress and every error of one feed job.",
        responses={200: FeedJobSerializer, **_errors(401, 403, 404, 429)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def _uploads(request) -> list[tuple[str, object]]:
    """(file name, upload) pairs: a field named like a file (``shops.csv``, ``feed.zip``) names
    its upload; any other field (e.g. ``files``) takes the uploaded file's own name."""
    return [
        (field if field.lower().endswith((".csv", ".zip")) else upload.name, upload)
        for field, uploads in request.FILES.lists()
        for upload in uploads
    ]


# Runs -------------------------------------------------------------------------------------------


class RunStartSerializer(serializers.Serializer):
    as_of = FeedDateField(required=False, allow_null=True, help_text="Evaluate as of this day; default today.")


class EvaluationRunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField(help_text="Percent of the run's entities evaluated (0-100).")
    duration_seconds = serializers.SerializerMethodField()
    stats = serializers.JSONField(
        help_text="Per entity type: evaluated, changed, transitions (old->new: count), timings."
    )
    ruleset_versions = serializers.DictField(
        child=serializers.IntegerField(), help_text="Rule-set version in force per market ('default' for the rest)."
    )
    created_by = serializers.SlugRelatedField(
        slug_field="email", read_only=True, allow_null=True, help_text="Null for scheduled runs."
    )

    class Meta:
        model = EvaluationRun
        fields = [
            "id",
            "url",
            "as_of",
            "trigger",
            "state",
            "phase",
            "done",
            "total",
            "progress",
            "changed",
            "stats",
            "ruleset_versions",
            "started_at",
            "finished_at",
            "duration_seconds",
            "error",
            "created_by",
        ]
        read_only_fields = fields

    def get_url(self, run: EvaluationRun) -> str:
        return _absolute(self.context.get("request"), "api:run-detail", run.pk)

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_progress(self, run: EvaluationRun) -> float:
        return round(run.progress * 100, 1)

    @extend_schema_field({"type": "number", "format": "double", "nullable": True})
    def get_duration_seconds(self, run: EvaluationRun) -> float | None:
        return round(run.duration.total_seconds(), 3) if run.duration is not None else None


class RunViewMixin:
    permission_classes = [permissions.IsAuthenticated, HasScope, IsOps]
    queryset = EvaluationRun.objects.select_related("created_by")
    serializer_class = EvaluationRunSerializer


class RunListView(RunViewMixin, generics.ListAPIView):
    pagination_class = NewestFirstPagination

    @extend_schema(
        summary="Evaluation runs",
        description="Ops only. Every run, newest first, with its progress.",
        responses={200: EvaluationRunSerializer(many=True), **_errors(401, 403)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Start an evaluation run",
        description=(
            "Ops only. Evaluates every shop, product and creator as of the day given (default today) in "
            "background chunks; follow it at its URL. Only one run executes at a time (409)."
        ),
        request=RunStartSerializer,
        responses={202: EvaluationRunSerializer, **_errors(400, 401, 403, 409)},
    )
    def post(self, request, *args, **kwargs):
        form = RunStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            run = evaluation_start(as_of=form.validated_data.get("as_of") or timezone.localdate(), user=request.user)
        except RunInProgress as exc:
            return error_response(
                code="run_in_progress",
                message=str(exc),
                details={"run": exc.run.pk},
                status_code=status.HTTP_409_CONFLICT,
            )
        except RuleSet.DoesNotExist as exc:
            return error_response(code="no_ruleset", message=str(exc))
        transaction.on_commit(lambda: evaluation_dispatch(run))
        # With tasks run in-process (local, tests) the run has already finished.
        run.refresh_from_db()
        data = EvaluationRunSerializer(run, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class RunDetailView(RunViewMixin, generics.RetrieveAPIView):
    @extend_schema(
        summary="An evaluation run",
        description="Ops only. State, phase, done/total, progress, changes and statistics per entity type.",
        responses={200: EvaluationRunSerializer, **_errors(401, 403, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


def _in_feed_order(names) -> list[str]:
    return sorted(names, key=lambda name: FILE_ORDER.index(name) if name in FILE_ORDER else len(FILE_ORDER))


def _absolute(request, name: str, pk: int) -> str:
    path = reverse(name, args=[pk])
    return request.build_absolute_uri(path) if request is not None else path
