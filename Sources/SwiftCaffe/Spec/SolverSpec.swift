/// Solver settings with Caffe's names and defaults (`solver.prototxt`), read from a net file's
/// `solver:` section or a separate solver file.
public struct SolverSpec: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case sgd = "SGD" }
    public enum Policy: String, Sendable, CaseIterable { case fixed, step, multistep, exp, inv, poly, sigmoid }

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
    /// Test every this many iterations (and at the end); 0 tests only at the end.
    public var testInterval: Int = 0
    /// Batches per test; nil tests the whole test set.
    public var testIter: Int?
    public var display: Int = 100
    public var randomSeed: UInt64?
    public var snapshotPrefix: String?

    public init() {}

    public init(_ mapping: SpecMapping) throws {
        type = Kind(rawValue: try mapping.choice("type", from: Kind.allCases.map(\.rawValue), default: "SGD"))!
        baseLR = try mapping.float("base_lr", default: 0.01, in: 0...1e6)
        momentum = try mapping.float("momentum", default: 0, in: 0...1)
        if momentum == 1 {
            throw mapping.error("'momentum' is 1, which never forgets a gradient and diverges", at: mapping.node("momentum"),
                                hint: "use a value below 1 such as 0.9")
        }
        weightDecay = try mapping.float("weight_decay", default: 0, in: 0...1e3)
        lrPolicy = Policy(rawValue: try mapping.choice("lr_policy", from: Policy.allCases.map(\.rawValue), default: "fixed"))!
        gamma = try mapping.float("gamma", default: 0.1)
        power = try mapping.float("power", default: 1)
        stepSize = try mapping.int("stepsize", default: 0, in: 0...Int.max)
        stepValues = try mapping.intList("stepvalue", in: 1...Int.max)
        maxIter = try mapping.optionalInt("max_iter", in: 1...Int.max)
        epochs = try mapping.optionalFloat("epochs", in: 0...1e6).map(Double.init)
        if epochs == 0 { throw mapping.error("'epochs' is 0", at: mapping.node("epochs"), hint: "train for a positive number of epochs") }
        testInterval = try mapping.int("test_interval", default: 0, in: 0...Int.max)
        testIter = try mapping.optionalInt("test_iter", in: 1...Int.max)
        display = try mapping.int("display", default: 100, in: 0...Int.max)
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
