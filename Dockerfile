# opsbot server image: `docker build -t opsbot .` then `docker run -p 8080:8080 opsbot`.
# Configuration comes from the environment (see deploy/k8s/base/configmap.yaml and
# secret.yaml). The image holds no embedded Redis or Prometheus: REDIS_URL and
# PROMETHEUS_URL point at the real ones, and in a pod KUBERNETES_IN_CLUSTER=true.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Sources only (no tests, no local state): the wheel is built from these.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY graph ./graph
COPY tools ./tools
COPY knowledge ./knowledge
# pip compiles the bytecode here, so that the read-only root filesystem in the pod does
# not cost a recompile on every start.
RUN python -m venv /opt/opsbot && /opt/opsbot/bin/pip install .

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 opsbot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/opsbot --create-home \
       --shell /usr/sbin/nologin opsbot \
    && install -d -o opsbot -g opsbot /var/lib/opsbot
COPY --from=build /opt/opsbot /opt/opsbot
ENV PATH=/opt/opsbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OPSBOT_STATE_DIR=/var/lib/opsbot \
    SERVE_HOST=0.0.0.0 \
    SERVE_PORT=8080
USER 10001:10001
WORKDIR /home/opsbot
EXPOSE 8080
# The process answers; readiness of the backends is /readyz, for the orchestrator.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SERVE_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["opsbot"]
CMD ["serve"]
