// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "SwiftCaffe",
    products: [
        .library(name: "SwiftCaffe", targets: ["SwiftCaffe"]),
        .library(name: "SwiftCaffeCLI", targets: ["SwiftCaffeCLI"]),
        .library(name: "SwiftCaffeDistributed", targets: ["SwiftCaffeDistributed"]),
        .executable(name: "swiftcaffe", targets: ["swiftcaffe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries: each is a module map over a Debian -dev package.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "COpenMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // Open MPI's handles are C macros Swift cannot import: a few C functions over them.
        .target(name: "CMPI", dependencies: ["COpenMPI"]),
        // What Swift cannot ask the processor itself: the SSE control register, CPU features.
        .target(name: "CMachine"),
        .target(
            name: "SwiftCaffe",
            dependencies: ["CYAML", "CBLAS", "CZlib", "CPNG", "CJPEG", "CMachine"]
        ),
        // Data-parallel training over MPI; the library itself knows only `GradientSync`.
        .target(name: "SwiftCaffeDistributed", dependencies: ["SwiftCaffe", "CMPI"]),
        // The subcommands live in a library so that a package with its own layers can
        // register them and hand control to the very same command line (see README).
        .target(
            name: "SwiftCaffeCLI",
            dependencies: ["SwiftCaffe", "SwiftCaffeDistributed", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(name: "swiftcaffe", dependencies: ["SwiftCaffe", "SwiftCaffeCLI"]),
        // FuzzCorpus/ holds inputs the fuzzer caught, replayed by FuzzTests; CaffeReference/ what
        // real Caffe computed, for comparison (data, not sources).
        .testTarget(name: "SwiftCaffeTests", dependencies: ["SwiftCaffe", "SwiftCaffeCLI"], exclude: ["FuzzCorpus", "CaffeReference"]),
    ]
)
