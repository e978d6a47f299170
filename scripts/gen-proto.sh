#!/usr/bin/env bash
# Regenerates the committed Go code of every .proto in the repository.
# Needs protoc (Debian: protobuf-compiler); installs protoc-gen-go at the
# version go.mod pins for google.golang.org/protobuf. The build never runs it.
# Each .proto is compiled from its own directory; actors/actorspb is on the
# include path too, so that others can import its envelope.proto.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "gen-proto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
version=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@${version}"
for proto in $(git ls-files '*.proto'); do
  dir=$(dirname "$proto")
  include=(--proto_path="$dir")
  [ "$dir" = actors/actorspb ] || include+=(--proto_path=actors/actorspb)
  PATH="$bin:$PATH" protoc "${include[@]}" \
    --go_out="$dir" --go_opt=paths=source_relative "$proto"
  echo "generated from $proto"
done
