import XCTest
@testable import Safetensors
import JSONSupport

/// The one JSON stack: strict and lenient parsing, and the output formats. The expected texts of
/// `.report` and `.sortedLine` are what Foundation's JSONEncoder (prettyPrinted, sortedKeys,
/// withoutEscapingSlashes) and JSONSerialization (sortedKeys) printed for the same values on Swift
/// 6.3.1 / Linux, the formats earlier versions wrote; `.python` is Python's `json.dumps(indent=2)`
/// (ensure_ascii off) for these values.
final class JSONTests: XCTestCase {
    static let doubles: [Double] = [1.0, 0.1, 1e-9, 1e20, 1.2345678901234567e+19, 100.0, 1e16, 1e15, 123456789012.5, -0.0,
                                    2.81130051612854, 1e-5, 1e-4, 1.7976931348623157e308, 4.0e-7, 12345678.0, 0.001]
    static let text = "a/b tab\t nl\n cr\r q\" bs\\ bel\u{7} bsp\u{8} ff\u{c} us\u{1f} del\u{7f} é 😀 \u{0}"

    static var sample: JSONValue {
        .object([("s", .string(text)), ("d", .array(doubles.map { .double($0) })), ("e", .array([])), ("b", .bool(true)),
                 ("n", .null), ("eo", .object([("x", .array([]))])), ("i", .array([.int(1), .int(-5)])),
                 ("keys", .object([("bytes", .int(0)), ("by_chunk", .int(1)), ("bytes_per_second", .int(2)), ("a", .int(4))]))])
    }

    func testReportFormatIsJSONEncodersPrettySortedLayout() {
        let expected = """
        {
          "b" : true,
          "d" : [
            1,
            0.1,
            1e-09,
            1e+20,
            1.2345678901234567e+19,
            100,
            1e+16,
            1000000000000000,
            123456789012.5,
            -0,
            2.81130051612854,
            1e-05,
            0.0001,
            1.7976931348623157e+308,
            4e-07,
            12345678,
            0.001
          ],
          "e" : [

          ],
          "eo" : {
            "x" : [

            ]
          },
          "i" : [
            1,
            -5
          ],
          "keys" : {
            "a" : 4,
            "by_chunk" : 1,
            "bytes" : 0,
            "bytes_per_second" : 2
          },
          "n" : null,
          "s" : "a/b tab\\t nl\\n cr\\r q\\" bs\\\\ bel\\u0007 bsp\\b ff\\f us\\u001f del\u{7f} é 😀 \\u0000"
        }
        """
        XCTAssertEqual(Self.sample.serialized(.report), expected)
    }

    func testSortedLineFormatIsJSONSerializationsLayout() {
        let expected = #"{"b":true,"d":[1,0.1,1e-09,1e+20,1.2345678901234567e+19,100,1e+16,1000000000000000,123456789012.5,-0,"#
            + #"2.81130051612854,1e-05,0.0001,1.7976931348623157e+308,4e-07,12345678,0.001],"e":[],"eo":{"x":[]},"i":[1,-5],"#
            + #""keys":{"a":4,"by_chunk":1,"bytes":0,"bytes_per_second":2},"n":null,"#
            + #""s":"a\/b tab\t nl\n cr\r q\" bs\\ bel\u0007 bsp\b ff\f us\u001f del"# + "\u{7f} é 😀 " + #"\u0000"}"#
        XCTAssertEqual(Self.sample.serialized(.sortedLine), expected)
    }

    func testPythonFormatsKeepOrderAndPythonFloats() {
        let value = JSONValue.object([("z", .double(1)), ("a", .array([.double(1e-5), .double(1e16), .double(.nan), .int(3)])),
                                      ("e", .object([]))])
        XCTAssertEqual(value.serialized(), "{\n  \"z\": 1.0,\n  \"a\": [\n    1e-05,\n    1e+16,\n    NaN,\n    3\n  ],\n  \"e\": {}\n}")
        XCTAssertEqual(value.serialized(.line), #"{"z":1.0,"a":[1e-05,1e+16,NaN,3],"e":{}}"#)
    }

    func parse(_ text: String, _ options: JSONParser.Options) throws -> JSONValue {
        try Array(text.utf8).withUnsafeBufferPointer { try JSONParser.parse($0, options: options) }
    }

    func parseError(_ text: String, _ options: JSONParser.Options) -> String {
        do { return "parsed: \(try parse(text, options))" } catch { return "\(error)" }
    }

    func testStrictAndLenientModes() throws {
        // Duplicates: all kept (strict), the last (lenient), the first (report), at the first position.
        let dup = #"{"a":1,"b":2,"a":3}"#
        XCTAssertEqual(try parse(dup, .strict).objectItems?.map(\.0), ["a", "b", "a"])
        XCTAssertEqual(try parse(dup, .lenient), .object([("a", .int(3)), ("b", .int(2))]))
        XCTAssertEqual(try parse(dup, .report), .object([("a", .int(1)), ("b", .int(2))]))
        // Python's literals and loose numbers only when lenient.
        for text in ["NaN", "-Infinity", "+1", ".5", "01"] {
            XCTAssertNoThrow(try parse(text, .lenient), text)
            XCTAssertThrowsError(try parse(text, .strict), text)
        }
        XCTAssertEqual(try parse("01", .lenient), .int(1))
        // Integers stay exact beyond Double, with their text beyond Int.
        guard case .number(let big) = try parse("18446744073709551615", .strict) else { return XCTFail() }
        XCTAssertNil(big.int)
        XCTAssertEqual(big.text, "18446744073709551615")
        XCTAssertEqual(try parse("9223372036854775807", .strict), .int(Int.max))
        XCTAssertNotEqual(try parse("1", .strict), try parse("1.0", .strict))
        XCTAssertEqual(try parse("1e0", .strict), .double(1))
        // Control characters and lone surrogates.
        XCTAssertEqual(parseError("\"a\u{1}\"", .strict), "unescaped control character in string at byte 2")
        XCTAssertEqual(try parse("\"a\u{1}\"", .lenient), .string("a\u{1}"))
        XCTAssertEqual(try parse(#""\ud800x""#, .lenient), .string("\u{FFFD}x"))
        XCTAssertEqual(try parse(#""\ud83d\ude00""#, .strict), .string("😀"))
        XCTAssertEqual(parseError(#""\ud800x""#, .strict), "unpaired surrogate in \\u escape at byte 7")
        // Depth: 64 levels strict, 512 lenient.
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        XCTAssertEqual(parseError(deep, .strict), "nesting deeper than 64 at byte 64")
        XCTAssertNoThrow(try parse(deep, .lenient))
        // Errors name the offset; the lenient entry point names the source.
        XCTAssertEqual(parseError("{\"a\":1,}", .lenient), "expected a string key at byte 7")
        XCTAssertThrowsError(try JSONValue.parse(Array("[1,".utf8), path: "request")) {
            XCTAssertEqual($0 as? JSONError, JSONError(path: "request", reason: "invalid JSON at byte 3: unexpected end of input"))
        }
    }

    func testRoundTripsThroughEveryFormat() throws {
        let value = Self.sample
        for format in [JSONFormat.python, .line] {
            XCTAssertEqual(try parse(value.serialized(format), .lenient), value)
        }
        // The Foundation-style formats drop ".0" from floats, so integral floats read back as integers.
        XCTAssertEqual(try parse(value.serialized(.report), .report)["s"], .string(Self.text))
        XCTAssertEqual(try parse(value.serialized(.sortedLine), .strict)["s"], .string(Self.text))
    }
}
