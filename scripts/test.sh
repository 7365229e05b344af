#!/usr/bin/env bash
# The one test command. On a fresh Debian machine it installs what the tests need (Debian
# packages, a Python venv at .venv, npm packages for tests/js), then runs every stage and stops at
# the first that fails:
#   fmt -> clippy -> build -> Rust tests (nextest, else cargo test) -> pytest -> node --test
# Re-runs skip installs that are already done.
#
# Environment:
#   FJORD_SKIP_INSTALL=1   skip the install stage (apt, venv, npm)
#   CARGO_TARGET_DIR       respected (the tests find the broker binary there)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export DEBIAN_FRONTEND=noninteractive
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

SCRIPT_START=$(date +%s)
STAGE=""
STAGE_START=0
TIMINGS=()

stage() {
    end_stage
    STAGE="$1"
    STAGE_START=$(date +%s)
    printf '\n==================== [test.sh] %s ====================\n' "$STAGE"
}
end_stage() {
    if [ -n "$STAGE" ]; then
        TIMINGS+=("$(printf '%-28s %5ss' "$STAGE" "$(($(date +%s) - STAGE_START))")")
        STAGE=""
    fi
}
on_exit() {
    rc=$?
    if [ "$rc" -ne 0 ] && [ -n "$STAGE" ]; then
        printf '\n==================== [test.sh] FAILED: %s (exit %s) ====================\n' "$STAGE" "$rc"
    fi
    end_stage
    printf '\n[test.sh] stage timings:\n'
    for t in "${TIMINGS[@]}"; do printf '  %s\n' "$t"; done
    printf '[test.sh] total %ss, exit %s\n' "$(($(date +%s) - SCRIPT_START))" "$rc"
}
trap on_exit EXIT

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "[test.sh] need root (or sudo) to run: $*" >&2
        return 1
    fi
}

# Debian packages the tests and the bundled librdkafka build (rdkafka-sys, libz-sys, zstd-sys) need;
# `prometheus` brings prometheus (tests/tests/dashboards.rs) and promtool (the alert rule tests).
APT_PACKAGES=(kcat build-essential pkg-config zlib1g-dev python3 python3-venv python3-pip ca-certificates prometheus)

install_apt() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "[test.sh] Debian packages present: ${APT_PACKAGES[*]}"
        return
    fi
    echo "[test.sh] installing Debian packages: ${missing[*]}"
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
}

python_test_files() {
    find tests/python \( -name 'test_*.py' -o -name '*_test.py' \) -not -path '*/.venv/*' 2>/dev/null | head -1
}

install_venv() {
    local py
    py="$(command -v python3)"
    if [ ! -x .venv/bin/python ]; then
        echo "[test.sh] creating .venv with $py"
        "$py" -m venv .venv || { rm -rf .venv; /usr/bin/python3 -m venv .venv; }
    fi
    shopt -s nullglob
    local reqs=(tests/python/requirements*.txt)
    shopt -u nullglob
    local stamp=.venv/.fjord-requirements.sha256
    local want
    want="$(cat /dev/null "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c 'import pytest' 2>/dev/null; then
        echo "[test.sh] .venv is up to date (${reqs[*]:-no requirements files})"
        return
    fi
    local args=()
    for r in "${reqs[@]}"; do args+=(-r "$r"); done
    .venv/bin/python -m pip install -q --upgrade pip
    if [ "${#args[@]}" -gt 0 ]; then
        echo "[test.sh] pip install ${args[*]}"
        .venv/bin/python -m pip install -q "${args[@]}"
    fi
    .venv/bin/python -c 'import pytest' 2>/dev/null || .venv/bin/python -m pip install -q pytest
    echo "$want" >"$stamp"
}

install_npm() {
    [ -f tests/js/package.json ] || { echo "[test.sh] no tests/js/package.json: skipping npm"; return; }
    local stamp=tests/js/node_modules/.fjord-package.sha256
    local want
    want="$(cat tests/js/package.json tests/js/package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "[test.sh] tests/js/node_modules is up to date"
        return
    fi
    if [ -f tests/js/package-lock.json ]; then
        (cd tests/js && npm ci --no-audit --no-fund)
    else
        (cd tests/js && npm install --no-audit --no-fund)
    fi
    echo "$want" >"$stamp"
}

if [ "${FJORD_SKIP_INSTALL:-0}" != 1 ]; then
    stage "install"
    install_apt
    install_venv
    install_npm
fi

stage "cargo fmt --check"
cargo fmt --all -- --check

stage "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

stage "promtool: alerting rules"
if command -v promtool >/dev/null 2>&1; then
    promtool check rules helm/fjord-operator/files/rules/fjord-alerts.yaml
    promtool test rules helm/fjord-operator/files/rules/tests/*.yaml
else
    echo "[test.sh] promtool missing (Debian package prometheus): cannot check the alerting rules" >&2
    exit 1
fi

stage "cargo build (binaries)"
cargo build --workspace --bins

stage "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi

stage "pytest tests/python"
if [ -n "$(python_test_files)" ]; then
    set +e
    .venv/bin/python -m pytest tests/python
    rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then
        echo "[test.sh] pytest collected no tests (exit 5): nothing to run"
    elif [ "$rc" -ne 0 ]; then
        exit "$rc"
    fi
else
    echo "[test.sh] no tests/python/test_*.py: skipping pytest"
fi

stage "node --test tests/js"
if [ -d tests/js ] && [ -n "$(find tests/js -path tests/js/node_modules -prune -o \( -name '*.js' -o -name '*.mjs' -o -name '*.cjs' \) -print 2>/dev/null | head -1)" ]; then
    (cd tests/js && node --test)
else
    echo "[test.sh] no tests/js test files: skipping node --test"
fi

end_stage
printf '\n==================== [test.sh] all stages passed ====================\n'
