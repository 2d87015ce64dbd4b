#!/usr/bin/env bash
# The whole test suite: unit, integration, doc and compile-fail tests of every crate.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --workspace "$@"
