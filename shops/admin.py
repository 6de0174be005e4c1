from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from shops.models import (
    Appeal,
    AppealEvidence,
    AuditEntry,
    Category,
    EvaluationRun,
    LicenceFlag,
    Notification,
    Override,
    Product,
    RecoveryReview,
    RuleSet,
    Seller,
    SellerMembership,
    Shop,
    ShopUnbinding,
    StatusHistory,
    User,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """History, runs and the audit log are written by the product only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = SellerMembership
    extra = 0
    autocomplete_fields = ["seller"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    search_fields = ["email"]
    inlines = [MembershipInline]
    autocomplete_fields = ["creator"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Role"), {"fields": ["role", "creator", "language"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "role", "password1", "password2"]})]


@admin.register(Seller)
class SellerAdmin(admin.ModelAdmin):
    list_display = ["key", "legal_name", "business_licence_no"]
    search_fields = ["key", "legal_name", "business_licence_no"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "name_zh", "parent", "gated", "avg_nrr_30d"]
    list_filter = ["gated"]
    search_fields = ["key", "name", "name_zh"]
    list_select_related = ["parent"]


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "market", "tier", "account_status", "sps", "orders_90d", "status"]
    list_filter = ["status", "market", "tier", "account_status", "permanently_disqualified"]
    search_fields = ["key", "name"]
    list_select_related = ["seller"]
    readonly_fields = ["status", "reasons", "status_changed_at", "permanently_disqualified", "metrics_as_of"]
    autocomplete_fields = ["seller"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["key", "title", "shop", "category", "reviews_30d", "negative_reviews_30d", "status"]
    list_filter = ["status", "listing_status"]
    search_fields = ["key", "title"]
    list_select_related = ["shop", "category"]
    readonly_fields = ["status", "reasons", "status_changed_at", "metrics_as_of"]
    raw_id_fields = ["shop", "category"]
    show_full_result_count = False


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
    list_display = ["version", "market", "effective_from", "sps_eligible", "sps_disqualify", "created_by"]
    list_filter = ["market"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(EvaluationRun)
class EvaluationRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "as_of", "trigger", "state", "phase", "done", "total", "changed", "started_at", "finished_at"]
    list_filter = ["state", "trigger"]


@admin.register(StatusHistory)
class StatusHistoryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "entity", "entity_key", "old_status", "new_status", "new_reasons", "run"]
    list_filter = ["entity", "new_status"]
    search_fields = ["entity_key"]
    show_full_result_count = False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_id", "reason"]
    list_filter = ["action"]


class EvidenceInline(admin.TabularInline):
    model = AppealEvidence
    extra = 0
    can_delete = False
    readonly_fields = ["item", "file", "original_name", "size", "uploaded_at"]

    def has_add_permission(self, request, obj=None):
        return False


# Appeals, overrides, unbinding and recovery change state only through their services (which
# check the windows, notify and audit); the admin shows them.
@admin.register(Appeal)
class AppealAdmin(ReadOnlyAdmin):
    list_display = ["id", "entity", "entity_key", "attempt", "state", "due_at", "submitted_at", "decided_at"]
    list_filter = ["state", "entity"]
    search_fields = ["entity_key"]
    inlines = [EvidenceInline]


@admin.register(Override)
class OverrideAdmin(ReadOnlyAdmin):
    list_display = ["entity", "entity_key", "status", "expires_at", "created_by", "created_at", "revoked_at"]
    list_filter = ["entity", "status"]
    search_fields = ["entity_key"]


@admin.register(LicenceFlag)
class LicenceFlagAdmin(ReadOnlyAdmin):
    list_display = ["business_licence_no", "active_shops", "flagged_at", "resolved_at"]
    search_fields = ["business_licence_no"]


@admin.register(ShopUnbinding)
class ShopUnbindingAdmin(ReadOnlyAdmin):
    list_display = ["shop", "business_licence_no", "unbound_at", "rebind_allowed_on", "created_by"]
    search_fields = ["business_licence_no", "shop__key"]


@admin.register(RecoveryReview)
class RecoveryReviewAdmin(ReadOnlyAdmin):
    list_display = ["unbinding", "state", "letter_at", "documents_at", "exam_score", "decided_at"]
    list_filter = ["state"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "subject", "read_at", "emailed_at"]
    list_filter = ["kind"]
    search_fields = ["subject", "user__email"]
    show_full_result_count = False


# Two-step sign-in: an ops admin resets a user's authenticator (a lost phone); see shops/services/auth.py.
@admin.action(description=_("Reset two-step sign-in of the selected users"))
def user_otp_reset(modeladmin, request, queryset):
    from shops.services.auth import otp_reset

    users = list(queryset)
    for user in users:
        otp_reset(actor=request.user, user=user)
    modeladmin.message_user(request, _("Two-step sign-in reset for %(count)d users.") % {"count": len(users)})


UserAdmin.actions = [*(UserAdmin.actions or []), user_otp_reset]
