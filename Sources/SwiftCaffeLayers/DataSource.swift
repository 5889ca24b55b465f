import SwiftCaffeData

/// A layer that reads a data set (it has no bottoms): how big an epoch is, and where it
/// stands in it. The first data source of a net defines its epoch.
public protocol DataSource: Layer {
    var sampleCount: Int { get }
    var batchSize: Int { get }
    /// The largest label in the data set, if it has labels; the net checks it against the
    /// number of classes of every loss or accuracy layer the labels feed.
    var labelMaximum: Int? { get }
    /// Names of the classes by label, if the net file gives them (`label_names:`).
    var labelNames: [String] { get }
    /// Restarts at the first sample of the pass (used before each full test pass).
    func rewind()
    /// What a sample is, plural, for progress lines and reports: "images" (the default),
    /// "rows", "characters".
    var sampleNoun: String { get }
    /// What preparing batches in the background cost, for a layer that does (ImageData, Data).
    var prefetchStatistics: PrefetchStatistics? { get }
    /// The axis of top `index` along which its samples lie: 0 (N×…) for most data, 1 for
    /// sequences served time steps first (T×N×…). A deploy net's `Input` keeps it, so that
    /// `Predictor` splits and joins samples along the right axis.
    func batchAxis(ofTop index: Int) -> Int
}

extension DataSource {
    public var sampleNoun: String { "images" }
    public var prefetchStatistics: PrefetchStatistics? { nil }
    public func batchAxis(ofTop index: Int) -> Int { 0 }
}
