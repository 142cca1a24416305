from tenants.models import Collector


class CollectorStatus(Collector):
    """The admin's read-only Collector status page: tenants' Collector row seen with its upload,
    poll, device and unknown-ACK figures (control.selectors_collector_status). No table."""

    class Meta:
        proxy = True
        verbose_name = "collector status"
        verbose_name_plural = "collector status"
