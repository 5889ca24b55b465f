// swift-tools-version:6.0
// A package that adds its own layer to SwiftCaffe: the library `CustomLayers` holds the layer,
// the executable `my-caffe` registers it and runs SwiftCaffe's full command line.
import PackageDescription

let package = Package(
    name: "CustomLayer",
    products: [
        .executable(name: "my-caffe", targets: ["my-caffe"]),
        .library(name: "CustomLayers", targets: ["CustomLayers"]),
    ],
    dependencies: [
        .package(name: "SwiftCaffe", path: "../.."),
    ],
    targets: [
        .target(name: "CustomLayers", dependencies: [.product(name: "SwiftCaffe", package: "SwiftCaffe"), .product(name: "ONNXInterop", package: "SwiftCaffe")]),
        .executableTarget(name: "my-caffe", dependencies: [
            "CustomLayers", .product(name: "SwiftCaffe", package: "SwiftCaffe"), .product(name: "SwiftCaffeCLI", package: "SwiftCaffe"),
        ]),
        .testTarget(name: "CustomLayersTests", dependencies: ["CustomLayers", .product(name: "SwiftCaffe", package: "SwiftCaffe"),
                                                              .product(name: "ONNXInterop", package: "SwiftCaffe")]),
    ]
)
