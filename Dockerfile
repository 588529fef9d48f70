# The image every service of docker-compose.yml runs: the oceane-ticket command, the Celery worker
# and beat, Flower and the sandbox.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package needs, so an edit to the tests does not invalidate the install layer.
COPY pyproject.toml README.md ./
COPY oceane_ticket ./oceane_ticket
COPY producer ./producer
COPY worker ./worker
RUN pip install . && rm -rf /src

# A non-root user: nothing in the service needs root. Writable: its home, and /metrics (a volume
# shared by the worker and the metrics exporter).
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin oceane \
    && mkdir /metrics && chown oceane /metrics
USER oceane
WORKDIR /home/oceane

# Each compose service gives its own command.
CMD ["oceane-ticket", "--help"]
