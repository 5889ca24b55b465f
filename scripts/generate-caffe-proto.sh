#!/usr/bin/env bash
# Regenerates Sources/CaffeProto/caffe.pb.swift from Sources/CaffeProto/caffe.proto.
# Only needed after editing the schema; the generated file is committed, so neither builds
# nor CI run this. Needs Debian's protobuf-compiler (protoc) and builds protoc-gen-swift from
# the swift-protobuf checkout that `swift build` resolved (takes a few minutes the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc is missing: apt-get install -y protobuf-compiler" >&2; exit 1; }
swift package resolve
plugin_source=.build/checkouts/swift-protobuf
swift build -c release --package-path "$plugin_source" --scratch-path .build-protoc-gen-swift --product protoc-gen-swift
protoc --plugin=protoc-gen-swift=.build-protoc-gen-swift/release/protoc-gen-swift \
       --swift_opt=Visibility=Public \
       --proto_path=Sources/CaffeProto --swift_out=Sources/CaffeProto caffe.proto
echo "wrote Sources/CaffeProto/caffe.pb.swift"
