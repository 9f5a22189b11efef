#!/usr/bin/env bash
# Installs Kubo v0.43.1, the reference IPFS node (`ipfs`), into $(go env GOPATH)/bin for the Kubo
# tests (tests/cli/kubo.rs), built with the machine's Go from the Go module proxy. Does nothing
# when that binary is already v0.43.1.
#
# `go install github.com/ipfs/kubo/cmd/ipfs@v0.43.1` refuses Kubo's module because its go.mod has
# a replace directive, and the fork it names (github.com/lidel/go-libp2p) is not served by the
# proxy (403). The replace exists, as its comment says, until "a go-libp2p release requires
# quic-go >= v0.62.0 and webtransport-go >= v0.13.0": go-libp2p v0.50.0 is that release. So this
# builds Kubo's own module with that one replace pointed at go-libp2p v0.50.0.
set -euo pipefail
version=0.43.1
libp2p=v0.50.0
bin="$(go env GOPATH)/bin"
if [ "$("$bin/ipfs" version --number 2>/dev/null)" = "$version" ]; then
    exit 0
fi
go mod download "github.com/ipfs/kubo@v$version"
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$(go env GOMODCACHE)/github.com/ipfs/kubo@v$version" "$work/kubo"
chmod -R u+w "$work/kubo"
cd "$work/kubo"
go mod edit -replace "github.com/libp2p/go-libp2p=github.com/libp2p/go-libp2p@$libp2p"
mkdir -p "$bin"
go build -mod=mod -trimpath -buildvcs=false -o "$bin/ipfs.partial" ./cmd/ipfs
mv "$bin/ipfs.partial" "$bin/ipfs"
"$bin/ipfs" version --number
