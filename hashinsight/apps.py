from django.contrib.admin.apps import AdminConfig


class HashInsightAdminConfig(AdminConfig):
    default_site = "hashinsight.admin_site.HashInsightAdminSite"

    def ready(self):
        super().ready()
        from hashinsight import checks  # noqa: F401 — registers the configuration checks
