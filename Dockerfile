# One image for every cluster role: worker, writer, scheduler, migrate, enqueue.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY danescan ./danescan
COPY producer ./producer
COPY workers ./workers
COPY queries ./queries
COPY lab ./lab
RUN pip install --no-cache-dir . && useradd --create-home danescan
USER danescan
ENTRYPOINT ["danescan"]
CMD ["--help"]
