# The image every service of docker-compose.yml runs: the oceane-ticket command, the Celery worker
# and beat, Flower and the sandbox. Built once (the `migrate` service builds it; the others reuse
# the tag). The README's "The image's choices" says which lines below matter and why.

# The base: Python 3.11 on Debian slim, the Python the project is tested with. For a byte-identical
# base, pin it by digest: --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11-slim

# --- build stage: wheels and the virtualenv; nothing of it but /opt/venv reaches the image ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The constraints first, on their own layer: the dependency install below is redone only when the
# pinned versions change, not at every edit of the code.
COPY constraints.txt ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --only-binary=:all: -r constraints.txt
# Only what the package needs, so an edit to the tests does not invalidate the install layer.
COPY pyproject.toml README.md ./
COPY oceane_ticket ./oceane_ticket
COPY producer ./producer
COPY worker ./worker
COPY cli ./cli
COPY intake ./intake
# Our own package as a wheel, then installed against the constraints: a dependency that is not
# pinned there, or a version that disagrees, fails the build here instead of drifting.
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --only-binary=:all: -c constraints.txt /wheels/*.whl \
    && /opt/venv/bin/pip uninstall -y -q pip \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

# --- the image ---
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
COPY --from=build /opt/venv /opt/venv

# A non-root user: nothing in the service needs root. Writable: its home, and /metrics (a volume
# shared by the worker and the metrics exporter).
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin oceane \
    && mkdir /metrics && chown oceane /metrics
USER oceane
WORKDIR /home/oceane

# Each compose service gives its own command.
CMD ["oceane-ticket", "--help"]
