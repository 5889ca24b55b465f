/// One record of a data set decoded for a batch: C×H×W values and the label.
struct DecodedRecord {
    enum Pixels {
        case bytes([UInt8])
        /// Caffe's `float_data` Datums.
        case floats([Float])
    }

    var pixels: Pixels
    var channels: Int, height: Int, width: Int
    var label: Int
}

/// The batch loop of the data layers that decode their records as they go (ImageData from a
/// list file, Data from an LMDB database): records are decoded and transformed on a background
/// thread while the net computes (`BatchPrefetcher`), so at steady state a training iteration
/// does not wait for them. A decoding error is kept and reported by the forward that serves
/// its batch (`ForwardFailing`).
///
/// The layer supplies the record count, the sample shape (from its first record) and `decode`,
/// which runs on the prefetch thread and must throw for a record of another shape.
final class RecordFeeder: @unchecked Sendable {
    let transform: DataTransform
    let batchSize: Int
    let channels: Int, height: Int, width: Int
    /// A transformed sample's shape.
    let servedShape: [Int]
    private let decode: (Int) throws -> DecodedRecord

    /// The data order as the prefetch thread advances it, and as it stood after the last
    /// batch served (what a snapshot saves and a rewind returns to).
    private var order: SampleOrder
    private(set) var servedOrder: SampleOrder
    private let prefetcher = BatchPrefetcher()
    /// The batch the prefetch thread fills, the error it met, and whether it holds a batch.
    private var buffer: [Float] = [], labelBuffer: [Float] = []
    private var fillError: SwiftCaffeError?
    private var forwardError: SwiftCaffeError?
    private var bufferReady = false

    init(count: Int, keys: DatasetKeys, transform: DataTransform, sample: (channels: Int, height: Int, width: Int),
         layer: some Layer, decode: @escaping (Int) throws -> DecodedRecord) throws {
        guard count < Int(Int32.max) else { throw layer.error("\(count) records; SwiftCaffe numbers samples with 32 bits", hint: "split the data set") }
        self.transform = transform
        self.decode = decode
        batchSize = keys.batchSize
        (channels, height, width) = sample
        servedShape = try transform.outputShape(channels: channels, height: height, width: width, layer: layer)
        order = keys.order(count: count)
        servedOrder = order
        let floats = Double(batchSize) * Double(servedShape.reduce(1, *))
        // The prefetch buffer is a second copy of the batch, allocated here, before the net's plan.
        try MemoryBudget.require(floats: floats + Double(batchSize), for: "the prefetch buffer of \(batchSize) samples")
        buffer = [Float](repeating: 0, count: Int(floats))
        labelBuffer = [Float](repeating: 0, count: batchSize)
    }

    deinit { prefetcher.stop() }

    var epoch: Int { servedOrder.epoch }

    /// Decodes and transforms the next batch into the buffer (on the prefetch thread).
    private func fillBuffer() {
        let sampleSize = servedShape.reduce(1, *)
        for item in 0..<batchSize {
            let sample = order.next()
            guard fillError == nil else { continue }  // keep the order moving; the batch is lost anyway
            let record: DecodedRecord
            do { record = try decode(sample) } catch let error as SwiftCaffeError { fillError = error; continue } catch { continue }
            labelBuffer[item] = Float(record.label)
            buffer.withUnsafeMutableBufferPointer { output in
                let target = output.baseAddress! + item * sampleSize
                switch record.pixels {
                case .bytes(let values):
                    values.withUnsafeBufferPointer {
                        transform.apply($0.baseAddress!, channels: channels, height: height, width: width, into: target, draw: order.lastDraw)
                    }
                case .floats(let values):
                    values.withUnsafeBufferPointer {
                        transform.apply($0.baseAddress!, channels: channels, height: height, width: width, into: target, draw: order.lastDraw)
                    }
                }
            }
        }
    }

    /// Serves the prepared batch into `top` (data, and labels when there are two tops) and
    /// starts preparing the next.
    func forward(top: [Blob]) {
        if prefetcher.isFilling {
            prefetcher.waitUntilFilled()
        } else if !bufferReady {
            fillBuffer()  // the first batch, or the first after a rewind: nothing to overlap with
        }
        buffer.withUnsafeBufferPointer { top[0].data.update(from: $0.baseAddress!, count: top[0].count) }
        if top.count == 2 { labelBuffer.withUnsafeBufferPointer { top[1].data.update(from: $0.baseAddress!, count: batchSize) } }
        forwardError = fillError
        fillError = nil
        servedOrder = order
        bufferReady = false
        prefetcher.startFilling { [self] in
            fillBuffer()
            bufferReady = true
        }
    }

    func takeForwardError() -> SwiftCaffeError? {
        defer { forwardError = nil }
        return forwardError
    }

    /// Drops the batch being prepared and puts the order back to where the last batch served
    /// left it (or, for a rewind, to the start).
    private func discardPrefetched() {
        prefetcher.waitUntilFilled()
        order = servedOrder
        bufferReady = false
        fillError = nil
    }

    func rewind() {
        discardPrefetched()
        order.rewind()
        servedOrder = order
    }

    func saveState() -> LayerState { servedOrder.save() }

    /// False when the state does not fit this data set.
    func restoreState(_ state: LayerState) -> Bool {
        discardPrefetched()
        guard order.restore(state) else { return false }
        servedOrder = order
        return true
    }

    var statistics: (batches: Int, preparingSeconds: Double, waitingSeconds: Double) {
        let statistics = prefetcher.statistics
        return (statistics.fills, statistics.fillSeconds, statistics.waitSeconds)
    }
}

/// A data layer that decodes its records as it goes, through a `RecordFeeder` (ImageData,
/// Data): everything but reading its source at set-up follows from the feeder and its keys.
protocol RecordLayer: DataSource, StatefulLayer, ForwardFailing, PrefetchingDataSource {
    var keys: DatasetKeys { get }
    /// Made at set-up.
    var feeder: RecordFeeder? { get }
    /// What a record is called in messages ("images", "records").
    static var recordNoun: String { get }
}

extension RecordLayer {
    public static var bottomCount: ClosedRange<Int> { 0...0 }
    public static var topCount: ClosedRange<Int> { 1...2 }
    public var dataSource: DataSource? { self }
    public var batchSize: Int { keys.batchSize }
    public var labelNames: [String] { keys.labelNames }
    public var epoch: Int { feeder?.epoch ?? 0 }

    public func forward(bottom: [Blob], top: [Blob]) -> Float {
        feeder!.forward(top: top)
        return 0
    }

    public func takeForwardError() -> SwiftCaffeError? { feeder?.takeForwardError() }

    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}

    public func rewind() { feeder?.rewind() }

    public func saveState() -> LayerState { feeder!.saveState() }

    public func restoreState(_ state: LayerState) throws {
        guard feeder!.restoreState(state) else {
            throw error("the saved data position does not fit this data set (\(sampleCount) \(Self.recordNoun))",
                        hint: "resume with the net file and data the snapshot was trained with")
        }
    }

    public var prefetchStatistics: (batches: Int, preparingSeconds: Double, waitingSeconds: Double) { feeder?.statistics ?? (0, 0, 0) }
}
