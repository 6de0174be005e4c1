from django.contrib import admin

from affiliate.models import AffiliatePlan, Creator, CreatorAdd, PlanInvitation, PlanProduct


@admin.register(Creator)
class CreatorAdmin(admin.ModelAdmin):
    list_display = ["key", "handle", "pps", "chr", "account_status", "status"]
    list_filter = ["status", "account_status"]
    search_fields = ["key", "handle"]
    readonly_fields = ["status", "reasons", "status_changed_at", "metrics_as_of"]
    show_full_result_count = False


class PlanProductInline(admin.TabularInline):
    model = PlanProduct
    extra = 0
    raw_id_fields = ["product"]
    readonly_fields = ["added_at", "removed_at", "removal_reasons", "removed_by_run"]


@admin.register(AffiliatePlan)
class AffiliatePlanAdmin(admin.ModelAdmin):
    list_display = ["name", "shop", "kind", "status", "created_at", "terminated_at"]
    list_filter = ["status", "kind"]
    search_fields = ["name", "shop__key", "shop__name"]
    raw_id_fields = ["shop"]
    readonly_fields = ["status", "terminated_at", "termination_reasons", "terminated_by_run"]
    inlines = [PlanProductInline]


class InvitationInline(admin.TabularInline):
    model = PlanInvitation
    extra = 0
    raw_id_fields = ["creator"]


AffiliatePlanAdmin.inlines = [PlanProductInline, InvitationInline]


@admin.register(CreatorAdd)
class CreatorAddAdmin(admin.ModelAdmin):
    list_display = ["created_at", "creator", "product", "placement", "accepted", "reasons"]
    list_filter = ["accepted", "placement"]
    raw_id_fields = ["creator", "product"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
