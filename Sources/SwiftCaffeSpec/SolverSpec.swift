import SwiftCaffeCore

/// Solver settings with Caffe's names and defaults (`solver.prototxt`), read from a net file's
/// `solver:` section or a separate solver file.
public struct SolverSpec: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case sgd = "SGD", nesterov = "Nesterov", adaGrad = "AdaGrad", rmsProp = "RMSProp", adaDelta = "AdaDelta"
        case adam = "Adam", adamW = "AdamW"

        /// History buffers per parameter.
        package var historyCount: Int { [.adaDelta, .adam, .adamW].contains(self) ? 2 : 1 }
    }
    public enum Policy: String, Sendable, CaseIterable { case fixed, step, multistep, exp, inv, poly, sigmoid, cosine }
    public enum Regularization: String, Sendable, CaseIterable { case l2 = "L2", l1 = "L1" }

    public var type: Kind = .sgd
    public var baseLR: Float = 0.01
    public var momentum: Float = 0
    public var weightDecay: Float = 0
    public var lrPolicy: Policy = .fixed
    public var gamma: Float = 0.1
    public var power: Float = 1
    public var stepSize: Int = 0
    public var stepValues: [Int] = []
    /// Stop after this many iterations; nil when `epochs` decides.
    public var maxIter: Int?
    /// Stop after this many passes over the training set.
    public var epochs: Double?
    /// Where `epochs` is written, for errors that only the data set's size reveals.
    public var epochsLocation: FileLocation?
    /// Test every this many iterations (and at the end); 0 tests only at the end.
    public var testInterval: Int = 0
    /// Batches per test; nil tests the whole test set.
    public var testIter: Int?
    public var display: Int = 100
    public var randomSeed: UInt64?
    public var snapshotPrefix: String?
    /// Snapshot every this many iterations (0: only at the end and on Ctrl-C).
    public var snapshot: Int = 0
    public var momentum2: Float = 0.999
    public var rmsDecay: Float = 0.99
    public var delta: Float = 1e-8
    public var regularization: Regularization = .l2
    /// Scale gradients down to this global L2 norm when above it; 0 disables.
    public var clipGradients: Float = 0
    /// Forward/backward passes accumulated per update (an effective batch of iter_size × batch).
    public var iterSize: Int = 1
    /// Display the mean of the last this many losses.
    public var averageLoss: Int = 1
    /// Ramp the learning rate linearly from ~0 over this many iterations.
    public var warmupIter: Int = 0

    public init() {}

    /// The most iterations any count may name (max_iter, snapshot, stepsize, ...): 2⁴⁰, about
    /// a trillion, years of training; it keeps every product of iterations, batch and
    /// `iter_size` far inside an Int and exact in a Double.
    public static let iterationLimit = 1 << 40

    public init(_ mapping: SpecMapping) throws {
        let iterations = 0...Self.iterationLimit
        type = Kind(rawValue: try mapping.choice("type", from: Kind.allCases.map(\.rawValue), default: "SGD"))!
        baseLR = try mapping.float("base_lr", default: type == .adaDelta ? 1 : (type == .adam || type == .adamW ? 0.001 : 0.01), in: 0...1e6)
        // Caffe's defaults: Adam's β₁ is `momentum` (0.9); AdaDelta's decay is `momentum` (0.95).
        let defaultMomentum: Float = switch type {
        case .adam, .adamW: 0.9
        case .adaDelta: 0.95
        default: 0
        }
        momentum = try mapping.float("momentum", default: defaultMomentum, in: 0...1)
        momentum2 = try mapping.float("momentum2", default: 0.999, in: 0...0.999999)
        rmsDecay = try mapping.float("rms_decay", default: 0.99, in: 0...0.999999)
        delta = try mapping.float("delta", default: type == .adaDelta ? 1e-6 : 1e-8, in: 0...1)
        regularization = Regularization(rawValue: try mapping.choice("regularization_type", from: Regularization.allCases.map(\.rawValue), default: "L2"))!
        clipGradients = try mapping.float("clip_gradients", default: 0, in: -1...Float.greatestFiniteMagnitude)
        iterSize = try mapping.int("iter_size", default: 1, in: 1...1_000_000)
        averageLoss = try mapping.int("average_loss", default: 1, in: 1...1_000_000)
        warmupIter = try mapping.int("warmup_iter", default: 0, in: iterations)
        snapshot = try mapping.int("snapshot", default: 0, in: iterations)
        if [.adaGrad, .rmsProp].contains(type) && momentum != 0 {
            throw mapping.error("\(type.rawValue) does not use 'momentum'", at: mapping.node("momentum"), hint: "remove 'momentum' (Caffe rejects it too)")
        }
        if momentum == 1 {
            throw mapping.error("'momentum' is 1, which never forgets a gradient and diverges", at: mapping.node("momentum"),
                                hint: "use a value below 1 such as 0.9")
        }
        weightDecay = try mapping.float("weight_decay", default: 0, in: 0...1e3)
        lrPolicy = Policy(rawValue: try mapping.choice("lr_policy", from: Policy.allCases.map(\.rawValue), default: "fixed"))!
        gamma = try mapping.float("gamma", default: 0.1)
        power = try mapping.float("power", default: 1)
        stepSize = try mapping.int("stepsize", default: 0, in: iterations)
        stepValues = try mapping.intList("stepvalue", in: 1...Self.iterationLimit)
        maxIter = try mapping.optionalInt("max_iter", in: 1...Self.iterationLimit)
        epochs = try mapping.optionalFloat("epochs", in: 0...1e6).map(Double.init)
        epochsLocation = mapping.node("epochs")?.location
        if epochs == 0 { throw mapping.error("'epochs' is 0", at: mapping.node("epochs"), hint: "train for a positive number of epochs") }
        testInterval = try mapping.int("test_interval", default: 0, in: iterations)
        testIter = try mapping.optionalInt("test_iter", in: 1...Self.iterationLimit)
        display = try mapping.int("display", default: 100, in: iterations)
        randomSeed = try mapping.optionalInt("random_seed", in: 0...Int.max).map { UInt64($0) }
        snapshotPrefix = try mapping.optionalString("snapshot_prefix").map { SpecMapping.resolve($0, against: mapping.baseDirectory) }

        if lrPolicy == .step && stepSize == 0 {
            throw mapping.error("lr_policy 'step' needs 'stepsize'", at: mapping.node("lr_policy"), hint: "add 'stepsize: <iterations>'")
        }
        if lrPolicy == .multistep && stepValues.isEmpty {
            throw mapping.error("lr_policy 'multistep' needs 'stepvalue'", at: mapping.node("lr_policy"), hint: "add 'stepvalue: [iterations, ...]'")
        }
        if stepValues != stepValues.sorted() {
            throw mapping.error("'stepvalue' must be increasing", at: mapping.node("stepvalue"))
        }
    }
}
