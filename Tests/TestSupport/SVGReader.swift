// The SVG plots read back with a real XML parser, for the plot tests and the CLI tests.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// What an SVG holds, read back with a real XML parser (any well-formedness error is thrown).
public struct ParsedSVG {
    public var boundaries: [Int] = []     // data-index of every patch-start rule
    public var points = 0
    public var byteLabels: [String] = []
    public var rows = 0
    public var width = 0.0
    public var title = ""

    init() {}

    public init(_ svg: String) throws {
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = Collector()
        parser.delegate = collector
        guard parser.parse() else {
            throw TestSupportError("not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)")
        }
        self = collector.parsed
    }

    /// Patch starts of `patchLengths` as target indices (id position − 1), the BOS's patch and a
    /// zero-length tail left out.
    public static func patchStarts(_ patchLengths: [Int]) -> [Int] {
        var starts: [Int] = []
        var position = 0
        for length in patchLengths {
            if length > 0, position >= 1 { starts.append(position - 1) }
            position += length
        }
        return starts
    }

    final class Collector: NSObject, XMLParserDelegate {
        var parsed = ParsedSVG()
        var text: String?
        var inTitle = false
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            switch (name, attributes["class"]) {
            case ("svg", _): parsed.width = Double(attributes["width"] ?? "") ?? 0
            case ("title", _): inTitle = true; parsed.title = ""
            case ("line", "boundary"): parsed.boundaries.append(Int(attributes["data-index"] ?? "") ?? -1)
            case ("circle", "point"): parsed.points += 1
            case ("text", "byte"): text = ""
            case ("g", "row"): parsed.rows += 1
            default: break
            }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if inTitle { parsed.title += string }
            text? += string
        }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "title" { inTitle = false }
            if name == "text", let text { parsed.byteLabels.append(text); self.text = nil }
        }
    }
}
