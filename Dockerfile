# The bot in a container: slim Python, a non-root user, the database on a volume.
#   docker build -t proxy-shop-bot .
#   docker run -d --name proxy-shop-bot --env-file deploy/proxy-shop-bot.env \
#     -e DATABASE_PATH=/data/bot.sqlite3 -e WEBHOOK_HOST=0.0.0.0 \
#     -p 127.0.0.1:8080:8080 -v proxy-shop-bot-data:/data proxy-shop-bot
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --home-dir /app --shell /usr/sbin/nologin bot

WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY handlers ./handlers
COPY keyboards ./keyboards
COPY proxy_api ./proxy_api
COPY services ./services
COPY storage ./storage
COPY views ./views
COPY sandbox ./sandbox
RUN pip install --no-cache-dir .
# `python -m bot` runs the copy in /app: its bytecode and message catalogs are built here,
# once, since PYTHONDONTWRITEBYTECODE (and /app read-only for the bot user) would otherwise
# have every start compile them again (a few tenths of a second).
RUN python -m compileall -q /app \
    && python -c "from bot.i18n import build_i18n; build_i18n()"

# The database and the generated encryption key; owner-only, owned by the bot user.
RUN mkdir -p /data && chown bot:bot /data && chmod 0700 /data
VOLUME ["/data"]

ENV DATABASE_PATH=/data/bot.sqlite3 \
    WEBHOOK_HOST=0.0.0.0 \
    WEBHOOK_PORT=8080 \
    LOG_FORMAT=json

USER bot
EXPOSE 8080

# /healthz: database writable and the API reachable. In polling mode set METRICS_PORT=8080
# so the check has something to ask.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('METRICS_PORT') or os.environ.get('WEBHOOK_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=8).status == 200 else 1)"]

# docker stop sends SIGTERM: running handlers finish, then the bot exits 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
