from django.contrib import admin

from .models import Export


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ("id", "format", "status", "created_by", "created_at", "rows_written")
    list_filter = ("status", "format")
    readonly_fields = [field.name for field in Export._meta.fields]
