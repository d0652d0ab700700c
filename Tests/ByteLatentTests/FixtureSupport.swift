import Foundation
import XCTest
@testable import ByteLatent

/// Locates committed fixtures relative to this file, so tests need no resources or Python.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static func json(_ relative: String) throws -> JSONValue {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path(relative)), "missing fixture \(relative)")
        return try JSONValue.parse(data)
    }
}

extension JSONValue {
    subscript(key: String) -> JSONValue {
        if case .object(let o) = self { return o[key] ?? .null }
        return .null
    }
    var array: [JSONValue] { if case .array(let a) = self { return a }; return [] }
    var double: Double? { if case .number(let n) = self { return n }; return nil }
    var int: Int? { double.map { Int($0) } }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var ints: [Int] { array.compactMap(\.int) }
    var floats: [Float] { array.compactMap { $0.double.map(Float.init) } }
    var keys: [String] { if case .object(let o) = self { return o.keys.sorted() }; return [] }
}
