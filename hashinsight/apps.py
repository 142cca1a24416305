from django.contrib.admin.apps import AdminConfig


class HashInsightAdminConfig(AdminConfig):
    default_site = "hashinsight.admin_site.HashInsightAdminSite"
