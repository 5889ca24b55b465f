import SwiftCaffeCore

/// One record of a data set decoded for a batch: C×H×W values and the label.
package struct DecodedRecord {
    package enum Pixels {
        case bytes([UInt8])
        /// Caffe's `float_data` Datums.
        case floats([Float])
    }

    package var pixels: Pixels
    package var channels: Int, height: Int, width: Int
    package var label: Int

    package init(pixels: Pixels, channels: Int, height: Int, width: Int, label: Int) {
        self.pixels = pixels
        (self.channels, self.height, self.width) = (channels, height, width)
        self.label = label
    }
}

/// The batch loop of the data layers that decode their records as they go (ImageData from a
/// list file, Data from an LMDB database): records are decoded and transformed on a background
/// thread while the net computes (`BatchPrefetcher`), so at steady state a training iteration
/// does not wait for them. A decoding error is kept and thrown by the forward that serves
/// its batch.
///
/// The layer supplies the record count, the sample shape (from its first record) and `decode`,
/// which runs on the prefetch thread and must throw for a record of another shape.
package final class RecordFeeder: DataCursor, @unchecked Sendable {
    let transform: DataTransform
    let batchSize: Int
    let channels: Int, height: Int, width: Int
    /// A transformed sample's shape.
    package let servedShape: [Int]
    private let decode: (Int) throws -> DecodedRecord

    /// The data order as the prefetch thread advances it, and as it stood after the last
    /// batch served (what a snapshot saves and a rewind returns to).
    private var order: SampleOrder
    private(set) var servedOrder: SampleOrder
    private let prefetcher = BatchPrefetcher()
    /// The batch the prefetch thread fills, the error it met, and whether it holds a batch.
    private var buffer: [Float] = [], labelBuffer: [Float] = []
    private var fillError: SwiftCaffeError?
    private var bufferReady = false

    /// Serves `order`'s samples in batches of its `batchSize`, each decoded by `decode` and
    /// transformed by `transform`; every sample must be `sample`'s shape.
    package init(order: SampleOrder, transform: DataTransform, sample: (channels: Int, height: Int, width: Int),
                 decode: @escaping (Int) throws -> DecodedRecord) throws {
        guard order.count < Int(Int32.max) else { throw SwiftCaffeError("\(order.count) records; SwiftCaffe numbers samples with 32 bits", hint: "split the data set") }
        self.transform = transform
        self.decode = decode
        batchSize = order.batchSize
        (channels, height, width) = sample
        servedShape = try transform.outputShape(channels: channels, height: height, width: width)
        self.order = order
        servedOrder = order
        let floats = Double(batchSize) * Double(servedShape.reduce(1, *))
        // The prefetch buffer is a second copy of the batch, allocated here, before the net's plan.
        try MemoryBudget.require(floats: floats + Double(batchSize), for: "the prefetch buffer of \(batchSize) samples")
        buffer = [Float](repeating: 0, count: Int(floats))
        labelBuffer = [Float](repeating: 0, count: batchSize)
    }

    deinit { prefetcher.stop() }

    package var count: Int { servedOrder.count }
    package var epoch: Int { servedOrder.epoch }

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
    /// starts preparing the next. Throws what decoding the batch met (a damaged image).
    package func forward(top: [Blob]) throws {
        if prefetcher.isFilling {
            prefetcher.waitUntilFilled()
        } else if !bufferReady {
            fillBuffer()  // the first batch, or the first after a rewind: nothing to overlap with
        }
        buffer.withUnsafeBufferPointer { top[0].data.update(from: $0.baseAddress!, count: top[0].count) }
        if top.count == 2 { labelBuffer.withUnsafeBufferPointer { top[1].data.update(from: $0.baseAddress!, count: batchSize) } }
        let failure = fillError
        fillError = nil
        servedOrder = order
        bufferReady = false
        prefetcher.startFilling { [self] in
            fillBuffer()
            bufferReady = true
        }
        if let failure { throw failure }
    }

    /// Drops the batch being prepared and puts the order back to where the last batch served
    /// left it (or, for a rewind, to the start).
    private func discardPrefetched() {
        prefetcher.waitUntilFilled()
        order = servedOrder
        bufferReady = false
        fillError = nil
    }

    package func rewind() {
        discardPrefetched()
        order.rewind()
        servedOrder = order
    }

    package func save() -> LayerState { servedOrder.save() }

    /// False when the state does not fit this data set.
    package func restore(_ state: LayerState) -> Bool {
        discardPrefetched()
        guard order.restore(state) else { return false }
        servedOrder = order
        return true
    }

    package var statistics: PrefetchStatistics {
        let statistics = prefetcher.statistics
        return PrefetchStatistics(batches: statistics.fills, preparingSeconds: statistics.fillSeconds, waitingSeconds: statistics.waitSeconds)
    }
}
