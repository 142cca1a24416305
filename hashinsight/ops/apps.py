from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "hashinsight.ops"
    label = "ops"
    verbose_name = "Operations"
