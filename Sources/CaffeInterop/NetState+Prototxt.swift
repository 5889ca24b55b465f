import SwiftCaffe

extension NetState {
    /// Caffe's `NetState.MergeFrom` of a `state { ... }` message: a set level replaces, stages add up.
    func merging(_ fields: [PrototxtField]) throws -> NetState {
        var merged = self
        for field in fields {
            switch field.name {
            case "level": merged.level = try CaffeNetTranslation.integer(field)
            case "stage": merged.stages += try CaffeNetTranslation.strings(field)
            default: break  // phase: the command decides which phase it builds
            }
        }
        return merged
    }
}
