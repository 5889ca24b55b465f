
/// Which of a Caffe net's layers exist beyond the phase: Caffe's `NetState` (`level` and
/// `stage`), matched against each layer's `include`/`exclude` rules (`min_level`,
/// `max_level`, `stage`, `not_stage`). It comes from the net file's `state`, the solver's
/// `train_state`/`test_state`, and the command line's `--stage`/`--level`, merged in that
/// order. SwiftCaffe builds one net per phase itself, so the phase is not part of it.
public struct NetState: Equatable, Sendable {
    public var level: Int
    public var stages: [String]

    public init(level: Int = 0, stages: [String] = []) {
        self.level = level
        self.stages = stages
    }

    /// This (an earlier) state with `other` merged over it: its level when it sets one, and
    /// both stage lists.
    public func merged(over other: NetState) -> NetState {
        NetState(level: other.level != 0 ? other.level : level, stages: stages + other.stages)
    }
}
