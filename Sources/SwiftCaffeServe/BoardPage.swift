/// The board's one page, compiled into the program (Package.swift embeds BoardPage/ as
/// code): its style and script are put inline, so it needs nothing but the board, and works
/// offline.
enum BoardPage {
    static let html: String = {
        func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
        return text(PackageResources.board_html)
            .replacingOccurrences(of: "/*STYLE*/", with: text(PackageResources.board_css))
            .replacingOccurrences(of: "/*SCRIPT*/", with: text(PackageResources.board_js))
    }()
}
