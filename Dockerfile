# epd-gateway: the Swiss EPR community gateway in a container.
#
#   docker build -t epd-gateway .
#   docker run -d -p 8080:8080 -v epd-data:/var/lib/epd-gateway epd-gateway
#
# SQLite under the data volume by default; set EPD_DATABASE_URL for PostgreSQL (deploy/compose.yaml).
# The process runs as the unprivileged user "epd" (uid 10001); the volume holds the SQLite file,
# the document blobs and the upload spool. Configuration: EPD_* variables or a TOML file (EPD_CONFIG).

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY gateway ./gateway
COPY profiles ./profiles
COPY conformance ./conformance
COPY wsdl ./wsdl
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
RUN groupadd --system --gid 10001 epd \
 && useradd --system --uid 10001 --gid epd --home-dir /var/lib/epd-gateway --shell /usr/sbin/nologin epd \
 && install -d -o epd -g epd -m 0750 /var/lib/epd-gateway
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
ENV EPD_DATA_DIR=/var/lib/epd-gateway \
    EPD_HOST=0.0.0.0 \
    EPD_PORT=8080 \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/epd-gateway"]
WORKDIR /var/lib/epd-gateway
USER epd
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('EPD_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["epd-gateway"]
CMD ["serve"]
