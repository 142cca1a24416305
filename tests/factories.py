"""factory_boy factories for the whole suite. Inventory is made through the ORM (test set-up);
what a test checks is always done through services or HTTP."""

import factory
from django.contrib.auth import get_user_model

from tenants.models import Collector, Miner, MinerOwnership, Site, Tenant, Zone


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.Sequence(lambda n: f"Tenant {n}")


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    code = factory.Sequence(lambda n: f"SITE-{n}")
    name = factory.Sequence(lambda n: f"Site {n}")


class ZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Zone

    site = factory.SubFactory(SiteFactory)
    code = factory.Sequence(lambda n: f"Z{n}")


class CollectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Collector

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"collector-{n}")


class MinerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Miner
        skip_postgeneration_save = True

    site = factory.SubFactory(SiteFactory)
    tenant = factory.SubFactory(TenantFactory)
    miner_id = factory.Sequence(lambda n: f"S21_{n:04d}")
    model = "S21"
    nominal_hashrate_ths = 200
    nominal_power_w = 3500

    @factory.post_generation
    def ownership(obj, create, extracted, **kwargs):
        if create:
            MinerOwnership.objects.create(miner=obj, tenant=obj.tenant, valid_from=obj.created_at)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-Secret-123")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()
