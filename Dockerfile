# precode: CPU image, runs as a non-root user, with the built-in model trained at build time so the
# container never downloads anything. Build: docker build -t precode .
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    PRECODE_HOME=/var/lib/precode \
    PRECODE_CACHE_DIR=/opt/precode-cache

RUN useradd --create-home --uid 10001 precode

WORKDIR /app
COPY pyproject.toml README.md ./
COPY corpus ./corpus
COPY models ./models
COPY training ./training
COPY eval ./eval
COPY service ./service

# CPU build of PyTorch first, so no CUDA packages are pulled in; then precode with pinned deps.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install .

# Bake the built-in model into the image (trained from the shipped seed corpus) in the machine's
# cache, outside PRECODE_HOME: a volume mounted on PRECODE_HOME gets its own copy from the cache
# at the first start (seconds), and the server answers /healthz meanwhile.
RUN mkdir -p "$PRECODE_HOME" "$PRECODE_CACHE_DIR" \
 && precode train --builtin \
 && chown -R precode:precode "$PRECODE_HOME" "$PRECODE_CACHE_DIR"

USER precode
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["precode", "serve", "--host", "0.0.0.0", "--port", "8000"]
