import ArgumentParser
import Foundation

/// `--json` on the commands that report results (`test`, `summary`, `time`, `classify`): the
/// result as one JSON object on standard output, keys sorted, so that scripts read fields
/// rather than scrape text. Warnings and errors still go to standard error; an error exits
/// non-zero and prints no object. docs/commands.md lists every field.
struct JSONOption: ParsableArguments {
    @Flag(help: "Print the result as one JSON object (its fields: docs/commands.md).")
    var json = false
}

/// A JSON number for a measured value: JSON has no NaN or infinity, so those are null (a
/// result that is not a number is already an error where a net computes it). A Float goes
/// through its shortest decimal form, so 0.8775 prints as 0.8775, not 0.8774999976158142.
func jsonNumber(_ value: Float) -> Any { value.isFinite ? (Double("\(value)") ?? Double(value)) : NSNull() }
func jsonNumber(_ value: Double) -> Any { value.isFinite ? value : NSNull() }

func printJSON(_ object: [String: Any]) {
    // Every value above is a string, number, bool, null, array or object, which cannot fail.
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    printLine(String(decoding: data, as: UTF8.self))
}
