"""The admin site's titles."""

from django.contrib import admin

admin.site.site_header = "WhatsApp MPM campaigns"
admin.site.site_title = "MPM campaigns"
admin.site.index_title = "Catalog, templates and campaigns"
