# The Python image of every gateway process: `python -m paygate api|worker|dispatcher|projector|...`.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY schema.sql ./
COPY ledger ledger
COPY commands commands
COPY projections projections
COPY workers workers
COPY api api
COPY paygate paygate
COPY audit audit
# Editable, so schema.sql is found next to the packages (paygate.database reads it from the source tree).
RUN pip install --no-deps -e . \
    && useradd --system --no-create-home --uid 10001 paygate
USER paygate

# The same image runs every part, so the health check lives in docker-compose.yml, on the api service only.
EXPOSE 8000
CMD ["python", "-m", "paygate", "api"]
