# One slim image for web, worker, beat and the migration job.
# Stage 1: the front-end libraries (D3) from the npm registry.
FROM node:20-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# Stage 2: Python dependencies into a virtualenv: requirements.txt is the runtime alone
# (test and benchmark tools are in requirements-dev.txt, which the image never installs).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /venv
COPY requirements.txt ./
RUN /venv/bin/pip install -r requirements.txt

# Stage 3: the runtime, without compilers, caches or node.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.production
# LightGBM needs the OpenMP runtime.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1000 --create-home app
WORKDIR /app
COPY --from=build /venv /venv
COPY . .
COPY --from=assets /app/node_modules/d3/dist ./node_modules/d3/dist
RUN SECRET_KEY=build-only-key-build-only-key-build-only-key-0000 python manage.py collectstatic --noinput \
    && mkdir -p /app/var/models && chown -R app /app/var
USER app
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
