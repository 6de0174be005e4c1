"""Read-only admin views of the privacy records: every change goes through the services."""

from django.contrib import admin

from privacy.models import (
    AccessLog,
    ConsentEvent,
    ErasureReceipt,
    PolicyVersion,
    RetentionPolicy,
    RetentionRun,
    RightsRequest,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ["version", "effective_from", "significant", "published_at"]


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ["user", "purpose", "granted", "at", "source"]
    list_filter = ["purpose", "granted", "source"]


@admin.register(RightsRequest)
class RightsRequestAdmin(ReadOnlyAdmin):
    list_display = ["reference", "kind", "state", "received_at", "due_at", "closed_at"]
    list_filter = ["kind", "state"]
    exclude = ["code_hash", "verified_credentials", "correction"]


@admin.register(ErasureReceipt)
class ErasureReceiptAdmin(ReadOnlyAdmin):
    list_display = ["pseudonym", "created_at"]


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(ReadOnlyAdmin):
    list_display = ["data_class", "days", "minimum_days", "enabled", "updated_at"]


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "finished_at"]


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "channel", "method", "path", "status_code", "ip"]
    list_filter = ["channel"]
