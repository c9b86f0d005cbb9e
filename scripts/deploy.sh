#!/bin/sh
# Thin wrapper around the Go deploy tool (see scripts/deploy/main.go):
#   scripts/deploy.sh hosting
#   scripts/deploy.sh functions -project P [-region R] [-only a,b] [-dry-run]
#   scripts/deploy.sh all -project P [-region R] [-dry-run]
set -eu
cd "$(dirname "$0")/.."
exec go run ./scripts/deploy "$@"
