/// Tops of fixed shapes that the caller fills (Caffe's `Input`, for deploy nets and tests):
/// `shape: [1, 1, 28, 28]` for every top, or one shape per top as a list of lists.
public final class InputLayer: Layer {
    public let spec: LayerSpec
    public var params: [Blob] = []
    public static var bottomCount: ClosedRange<Int> { 0...0 }
    public static var topCount: ClosedRange<Int> { 1...Int.max }
    let shapes: [[Int]]

    public init(spec: LayerSpec, context: LayerContext) throws {
        self.spec = spec
        let items = spec.list("shape")
        guard !items.isEmpty else { throw spec.missing("shape", "list of dimensions") }
        if items.allSatisfy({ $0.sequence != nil }) {
            shapes = try items.map { item in try item.sequence!.map { try SpecMapping.int($0, key: "shape", in: 1...Int(Int32.max), owner: spec) } }
        } else {
            shapes = [try spec.intList("shape", in: 1...Int(Int32.max))]
        }
    }

    public func setUp(bottom: [Blob], top: [Blob]) throws {
        guard shapes.count == 1 || shapes.count == top.count else {
            throw error("\(shapes.count) shapes for \(top.count) tops", hint: "give one shape, or one per top")
        }
        for (index, blob) in top.enumerated() {
            try blob.reshape(shapes[shapes.count == 1 ? 0 : index])
        }
    }

    public func forward(bottom: [Blob], top: [Blob]) -> Float { 0 }
    public func backward(topDiff top: [Blob], bottomDiff bottom: [Blob]) {}
}
