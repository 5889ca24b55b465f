import Foundation
import SwiftCaffeCore
import SwiftCaffeIO
import SwiftCaffeSpec

/// Caffe's image list file, as `ImageData` and `convert-imageset` read it: one `path label`
/// line per image (the label after the last space or tab, so paths may hold spaces); blank
/// lines are skipped; paths are relative to `rootFolder`.
package enum ImageList {
    package typealias Entry = (path: String, label: Int, line: Int)

    /// Every entry; a line without a label or with a bad one, or naming a file that does not
    /// exist, is an error at its line. `rootGiven` says whether the user named `rootFolder`
    /// (or it is the list's folder), for the hint; `layer` names the owner in errors.
    package static func read(_ listPath: String, rootFolder: String, rootGiven: Bool, layer: String?) throws -> [Entry] {
        try MemoryBudget.require(toRead: listPath, copies: 4, for: "reading the list '\(listPath)'")
        let data: Data
        do { data = try FileChecks.contents(of: listPath, what: "the list file") } catch let error as SwiftCaffeError {
            throw SwiftCaffeError(error.message, layer: layer, hint: "check 'source' (relative paths start at the net file's folder)")
        }
        var entries: [Entry] = []
        // On any line break: "\r\n" is one Character in Swift, so splitting on "\n" alone would
        // see a list written on Windows as one line.
        for (index, line) in String(decoding: data, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            func failure(_ message: String, hint: String) -> SwiftCaffeError {
                SwiftCaffeError(message, at: FileLocation(file: listPath, line: index + 1, column: 1), layer: layer, hint: hint)
            }
            guard let space = line.lastIndex(where: { $0 == " " || $0 == "\t" }) else {
                throw failure("'\(line)' has no label", hint: "write each line as 'path label', e.g. 'images/cat.png 3'")
            }
            let name = line[..<space].trimmingCharacters(in: .whitespaces), labelText = line[line.index(after: space)...]
            guard let label = Int(labelText), (0..<Int(Int32.max)).contains(label) else {
                throw failure("the label '\(labelText)' is not a class number", hint: "labels are whole numbers from 0")
            }
            guard !name.isEmpty else { throw failure("the line has a label but no image", hint: "write each line as 'path label'") }
            let path = SpecMapping.resolve(name, against: rootFolder)
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else {
                throw failure("no image '\(path)'", hint: rootGiven ? "check the path and the root folder"
                                                                   : "paths are relative to the list file's folder unless a root folder is given")
            }
            entries.append((path, label, index + 1))
        }
        guard !entries.isEmpty else {
            throw SwiftCaffeError("the list file '\(listPath)' names no images", layer: layer, hint: "write one 'path label' line per image")
        }
        return entries
    }
}
