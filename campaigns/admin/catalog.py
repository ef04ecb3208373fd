"""The catalog and the WhatsApp templates campaigns are built from."""

from django.contrib import admin
from django.db import models

from campaigns.forms import MessageTemplateForm
from campaigns.models import MessageTemplate, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["retailer_id", "name", "price_display", "availability", "active"]
    list_filter = ["availability", "active", "currency"]
    search_fields = ["retailer_id", "name"]
    list_per_page = 50
    # The catalog may hold 100,000 products: no second COUNT over the whole table per page.
    show_full_result_count = False
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="price", ordering="price")
    def price_display(self, product):
        return f"{product.price} {product.currency}"


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = [
        "name",
        "language",
        "category",
        "status",
        "header_variables",
        "body_variables",
    ]
    list_filter = ["status", "category", "language"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="header variables")
    def header_variables(self, template):
        return template.header_variable_count

    @admin.display(description="body variables")
    def body_variables(self, template):
        return template.body_variable_count
