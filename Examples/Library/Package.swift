// swift-tools-version:6.0
// SwiftCaffe used as a library (docs/library.md): train a net from Swift, load the weights
// back as a `Predictor`, and run tensors through it. CI builds and runs it (scripts/test.sh).
import PackageDescription

let package = Package(
    name: "Library",
    dependencies: [
        .package(name: "SwiftCaffe", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "iris-from-code", dependencies: [.product(name: "SwiftCaffe", package: "SwiftCaffe")]),
    ]
)
