import Foundation
import XCTest
import TestSupport
@testable import ByteLatentEval

/// The document reader: streams read piece by piece give exactly what a mapped file gives, and a
/// document (a text input, a JSONL line) is bounded, so an endless input ends in an error.
final class DocumentReaderTests: ScratchTestCase {


    /// What the reader reports, in a comparable form.
    enum Seen: Equatable {
        case document(ordinal: Int, name: String, bytes: [UInt8], range: Range<Int>)
        case bad(ordinal: Int, line: Int, reason: String)
    }

    func record(_ event: DocumentReader.Event, into seen: inout [Seen]) {
        switch event {
        case .document(let d): seen.append(.document(ordinal: d.ordinal, name: d.name, bytes: d.bytes, range: d.inputRange))
        case .badLine(let b): seen.append(.bad(ordinal: b.ordinal, line: b.line, reason: b.reason))
        }
    }

    func testJSONLInPiecesOfAnySizeEqualsTheMappedFile() throws {
        let lines = ["{\"text\": \"first\"}", "", "{\"text\": \"crlf\"}\r", "   ", "{\"text\": oops}",
                     "{\"text\": \"\(String(repeating: "long ", count: 20))\"}", "{\"text\": \"after\"}", "{\"text\": \"no newline\"}"]
        let bytes = Array(lines.joined(separator: "\n").utf8)
        let path = scratch.appendingPathComponent("d.jsonl").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let reader = DocumentReader(inputs: [DocumentInput(path: path)], skipBadLines: true, maxDocumentBytes: 60)
        var mapped: [Seen] = []
        try reader.forEach { record($0, into: &mapped) }
        XCTAssertEqual(mapped, [
            .document(ordinal: 0, name: "\(path):1", bytes: Array("first".utf8), range: 0 ..< 18),
            .document(ordinal: 1, name: "\(path):3", bytes: Array("crlf".utf8), range: 19 ..< 37),
            .bad(ordinal: 2, line: 5, reason: "not valid JSON at byte 10 of the line: unexpected character"),
            .bad(ordinal: 3, line: 6, reason: "longer than 60 bytes, the most one document may hold"),
            .document(ordinal: 4, name: "\(path):7", bytes: Array("after".utf8), range: 169 ..< 187),
            .document(ordinal: 5, name: "\(path):8", bytes: Array("no newline".utf8), range: 187 ..< bytes.count),
        ])
        for size in [1, 2, 3, 7, 19, 64, bytes.count] {
            var lines = JSONLines(reader: reader, input: DocumentInput(path: path), ordinal: 0, offset: 0)
            var streamed: [Seen] = []
            try bytes.withUnsafeBufferPointer { all in
                var start = 0
                while start < all.count {
                    let end = min(all.count, start + size)
                    try lines.take(UnsafeBufferPointer(rebasing: all[start ..< end]), final: false) { record($0, into: &streamed) }
                    start = end
                }
                try lines.take(UnsafeBufferPointer(rebasing: all[all.count...]), final: true) { record($0, into: &streamed) }
            }
            XCTAssertEqual(streamed, mapped, "pieces of \(size) bytes")
            XCTAssertEqual(lines.offset, bytes.count)
            XCTAssertEqual(lines.ordinal, 6)
        }
    }

    func testDocumentsAreBoundedSoEndlessInputsEndInAnError() throws {
        let limit = 1 << 20
        // An endless stream read as one text document, and as JSONL with no newline ever.
        XCTAssertThrowsError(try DocumentReader(inputs: [DocumentInput(path: "/dev/zero", format: .text)], maxDocumentBytes: limit).forEach { _ in }) {
            XCTAssertEqual($0 as? DocumentError, .tooLarge(path: "/dev/zero", limit: limit))
            XCTAssertTrue("\($0)".contains("1048576 bytes"), "\($0)")
        }
        XCTAssertThrowsError(try DocumentReader(inputs: [DocumentInput(path: "/dev/zero", format: .jsonl)], maxDocumentBytes: limit).forEach { _ in }) {
            XCTAssertEqual($0 as? DocumentError, .malformedLine(file: "/dev/zero", line: 1, reason: "longer than 1048576 bytes, the most one document may hold"))
        }
        // A mapped text file over the limit, and one at it.
        let path = scratch.appendingPathComponent("big.txt").path
        try Data(repeating: 0x61, count: 101).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try DocumentReader(inputs: [DocumentInput(path: path)], maxDocumentBytes: 100).forEach { _ in }) {
            XCTAssertEqual($0 as? DocumentError, .tooLarge(path: path, limit: 100))
        }
        var sizes: [Int] = []
        try DocumentReader(inputs: [DocumentInput(path: path)], maxDocumentBytes: 101).forEach {
            if case .document(let d) = $0 { sizes.append(d.bytes.count) }
        }
        XCTAssertEqual(sizes, [101])
        XCTAssertThrowsError(try DocumentReader(inputs: [DocumentInput(path: path)], maxDocumentBytes: 0).checkInputs()) {
            XCTAssertEqual($0 as? DocumentError, .badLimit(0))
        }
        XCTAssertEqual(DocumentReader.defaultMaxDocumentBytes, 64 << 20)
    }
}
