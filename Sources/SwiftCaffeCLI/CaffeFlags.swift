import ArgumentParser

/// Caffe's own spellings on the command line, rewritten into SwiftCaffe's before parsing, so
/// that `swiftcaffe train -solver S`, `swiftcaffe test -model M -weights W -iterations 100`
/// and `swiftcaffe time -model M -phase TEST` do what they do in `caffe`.
///
/// Caffe's flags take one dash or two, with the value after a space or an `=`:
/// - `-solver` and `-model` name the net file, our positional argument;
/// - `-weights`, `-iterations`, `-phase`, `-level` and `-stage` are our options of those names;
/// - `-snapshot` is our `--resume`;
/// - `-gpu` is refused: SwiftCaffe runs on the CPU.
///
/// Any other word of one dash and several letters is refused too. Left to the parser it
/// would read as a bundle of one-letter flags, and `-weights` as one holding `-h`, which
/// printed the help and exited 0.
enum CaffeFlags {
    /// Caffe's flag → our spelling; nil for the net's positional argument.
    static let renamed: [String: String?] = [
        "solver": nil, "model": nil, "weights": "--weights", "iterations": "--iterations", "snapshot": "--resume",
        "phase": "--phase", "level": "--level", "stage": "--stage",
    ]

    static func translate(_ arguments: [String]) throws -> [String] {
        var result: [String] = [], index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" {  // the rest are arguments, whatever they look like
                result += arguments[(index - 1)...]
                break
            }
            guard argument.hasPrefix("-"), argument.count > 2, Double(argument) == nil else {
                result.append(argument)
                continue
            }
            let doubleDash = argument.hasPrefix("--")
            let body = argument.dropFirst(doubleDash ? 2 : 1)
            let name = String(body.prefix { $0 != "=" })
            var value = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
            if name == "gpu" {
                throw ValidationError("SwiftCaffe runs on the CPU only; drop '\(argument)' (--threads sets how many cores it uses)")
            }
            guard let renamed = renamed[name], doubleDash ? (renamed == nil || ["solver", "model", "snapshot"].contains(name)) : true else {
                if doubleDash {
                    result.append(argument)
                    continue
                }
                throw ValidationError("unknown option '\(argument)': SwiftCaffe's options start with '--' (see 'swiftcaffe help <command>')")
            }
            if value == nil {
                guard index < arguments.count else { throw ValidationError("'\(argument)' needs a value") }
                value = arguments[index]
                index += 1
            }
            if let renamed {
                // Caffe writes phases in capitals (TRAIN, TEST); ours are lower case.
                result += [renamed, name == "phase" ? value!.lowercased() : value!]
            } else {
                result.append(value!)
            }
        }
        return result
    }
}
