// `import SwiftCaffe` is all a program (or a package with its own layers) needs: the library
// re-exports the targets below it.
@_exported import SwiftCaffeCore
@_exported import SwiftCaffeData
@_exported import SwiftCaffeIO
@_exported import SwiftCaffeLayers
@_exported import SwiftCaffeSpec

/// The release: `swiftcaffe --version`, `sc_version()`, the Python package's `__version__`.
public enum SwiftCaffeVersion {
    public static let current = "0.9.0"
}
