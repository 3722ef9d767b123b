# syntax=docker/dockerfile:1
# KATO development image (PSMP phase 0): one uvicorn process, recycled after
# 50,000 requests with up to 5,000 of jitter (the container's restart policy restarts it),
# embedded storage in /data unless KATO_STORAGE / REDIS_URL say otherwise.
#   docker build -t kato:dev .   (or: docker compose up --build)

FROM python:3.11-slim

WORKDIR /app
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md* ./
COPY kato/ ./kato/
RUN pip install --no-cache-dir -e ".[dev]"

RUN groupadd --system --gid 10001 kato \
    && useradd --system --uid 10001 --gid kato --home-dir /app --shell /usr/sbin/nologin kato \
    && mkdir -p /data && chown kato:kato /data

ENV PYTHONUNBUFFERED=1 \
    KATO_DATA_DIR=/data \
    UVICORN_LIMIT_CONCURRENCY=100 \
    UVICORN_LIMIT_MAX_REQUESTS=50000

USER 10001:10001
EXPOSE 8000
VOLUME ["/data"]

HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=5).read()"]

CMD ["uvicorn", "kato.service.app:app", "--host", "0.0.0.0", "--port", "8000", "--workers", "1", "--limit-concurrency", "100", "--limit-max-requests", "50000", "--limit-max-requests-jitter", "5000", "--timeout-graceful-shutdown", "30"]
