#!/usr/bin/env bash
# Cross-implementation check: writes a fixture with the Rust crate and verifies it with Go's
# reference golang.org/x/mod/sumdb/{note,tlog} (Debian packages, GOPATH mode, no network).
#
# Usage: go-verify/run.sh [fixture directory]   (default: a fresh temporary directory)
# Exits non-zero if anything fails. Installs golang-go and golang-golang-x-mod-dev with apt-get
# when they are missing and we are root (as on CI).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
crate="$(dirname "$here")"
gopath=/usr/share/gocode

if ! command -v go >/dev/null || [ ! -d "$gopath/src/golang.org/x/mod/sumdb/tlog" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go golang-golang-x-mod-dev >/dev/null
    else
        echo "go-verify: needs golang-go and golang-golang-x-mod-dev (apt-get install)" >&2
        exit 1
    fi
fi

fixture="${1:-}"
if [ -z "$fixture" ]; then
    fixture="$(mktemp -d)"
    trap 'rm -rf "$fixture"' EXIT
fi

(cd "$crate" && cargo run --quiet --example write_fixture -- "$fixture")

export GO111MODULE=off GOPATH="$gopath" GOPROXY=off GOFLAGS=
export GOCACHE="${GOCACHE:-${TMPDIR:-/tmp}/portcullis-go-verify-cache}"
go run "$here/main.go" "$fixture"
