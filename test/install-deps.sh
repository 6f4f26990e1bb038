#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian 12 (as root):
# PostgreSQL 15 with its server headers, cJSON, ICU, the sequential OpenBLAS,
# zlib and ONNX's backend test data (make check-onnx), and the Python
# packages of the end-to-end tests (the client package clients/python among them).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    build-essential postgresql-15 postgresql-server-dev-15 \
    libcjson-dev libicu-dev libopenblas0 libopenblas0-serial libopenblas-serial-dev \
    postgresql-plpython3-15 python3-numpy zlib1g-dev libonnx-testdata >/dev/null
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore pytest 'psycopg[binary]' asyncpg numpy \
    'sqlalchemy[asyncio]' django tqdm
# the reference the C tokenizer is checked against, id for id (test/text)
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore 'tokenizers==0.23.3'
# the Python client package, which the end-to-end tests use
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "$(dirname "$0")/../clients/python"
