import Foundation
import Safetensors
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

/// Test-side accessors: `json["a"]["b"].ints` reads nested fixture fields, giving empty/nil
/// values for anything missing (the assertions then fail with a readable message).
extension Optional where Wrapped == JSONValue {
    subscript(key: String) -> JSONValue? { self.flatMap { $0[key] } }
    var array: [JSONValue] { if case .array(let a)? = self { return a }; return [] }
    var double: Double? { self?.doubleValue }
    var int: Int? { self?.intValue }
    var string: String? { self?.stringValue }
    var ints: [Int] { array.compactMap(\.intValue) }
    var floats: [Float] { array.compactMap { $0.doubleValue.map(Float.init) } }
    var keys: [String] { self?.objectItems?.map(\.0).sorted() ?? [] }
}
