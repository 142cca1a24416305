import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashinsight.settings")

from hashinsight.startup import refuse_without_required_settings

refuse_without_required_settings()
application = get_wsgi_application()
