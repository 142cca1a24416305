# HashInsight Cloud image: one image, three processes (web, worker, beat; see docker-compose.yml).
# Built the way `make run` builds a box — the same Makefile targets:
#   make venv    .venv from requirements.lock (exact pins)
#   make static  collectstatic into var/static (served by WhiteNoise)
# and, on start, web runs `manage.py migrate --noinput` and `manage.py seed_demo --if-empty`
# before gunicorn, as `make run` does (docker-compose.yml, service web).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# make: the build targets; pango + DejaVu: WeasyPrint renders the SLA report PDFs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.lock changes.
COPY Makefile requirements.lock ./
RUN make venv PYTHON=python3.11

COPY . .
# collectstatic touches neither PostgreSQL nor Redis; DEBUG=True only lets settings load
# without the production secrets, which the image must never contain.
RUN DEBUG=True ENV_FILE= make static PYTHON=python3.11

RUN useradd --system --uid 10001 --home-dir /app hashinsight \
 && mkdir -p var/media \
 && chown -R hashinsight var
USER hashinsight

# Configuration comes from the environment only (docker-compose.yml passes .env); no .env file is read.
ENV ENV_FILE= \
    HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000
CMD [".venv/bin/gunicorn", "hashinsight.wsgi", "-c", "gunicorn.conf.py"]
