import Foundation
import XCTest
@testable import Safetensors

/// One test per documented error case, asserting the specific `SafetensorsError` case and
/// that the message names the file (and tensor).
final class ErrorTests: TempDirTestCase {
    let okEntry = #""w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
    let okData = bytesOf([Float(1), 2])

    func open(_ name: String, header: String, data: [UInt8]? = nil) throws -> SafetensorsFile {
        let p = try writeFile(name, header: header, data: data ?? okData)
        return try SafetensorsFile(path: p)
    }

    func testValidBaselineOpens() throws {
        XCTAssertEqual(try open("ok.safetensors", header: "{\(okEntry)}").tensorInfos.count, 1)
    }

    func testFileShorterThan8Bytes() throws {
        for n in [0, 1, 7] {
            let p = try writeRaw("short\(n).safetensors", [UInt8](repeating: 1, count: n))
            assertThrows(try SafetensorsFile(path: p), mentions: ["short\(n).safetensors"]) {
                if case .fileTooSmall(_, n) = $0 { return true }; return false
            }
        }
    }

    func testHeaderLengthPastEndOfFile() throws {
        let p = try writeFile("past.safetensors", header: "{}", headerLength: 1000)
        assertThrows(try SafetensorsFile(path: p), mentions: ["past.safetensors"]) {
            if case .headerPastEndOfFile(_, 1000, 10) = $0 { return true }; return false
        }
    }

    func testHeaderLengthAbsurd() throws {
        for n: UInt64 in [100_000_001, UInt64.max, 1 << 63] {
            let p = try writeFile("huge.safetensors", header: "{}", headerLength: n)
            assertThrows(try SafetensorsFile(path: p), mentions: ["huge.safetensors"]) {
                if case .headerTooLarge(_, n, 100_000_000) = $0 { return true }; return false
            }
        }
    }

    func testHeaderNotUTF8() throws {
        var raw = rawFile(header: #"{"w\#u{E9}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#)
        // Replace the 2-byte UTF-8 é with a lone continuation byte + invalid lead.
        let i = raw.firstIndex(of: 0xC3)!
        raw[i] = 0xFF
        let p = try writeRaw("utf8.safetensors", raw)
        assertThrows(try SafetensorsFile(path: p), mentions: ["utf8.safetensors"]) {
            if case .headerNotUTF8 = $0 { return true }; return false
        }
    }

    func testHeaderNotJSON() throws {
        let cases = ["", "{", #"{"w":}"#, "{\(okEntry),}", "{\(okEntry)} x", #"{'w':1}"#, String(repeating: "[", count: 10_000),
                     #"{"a\u12"}"#, "{\"a\u{1}\":1}", #"{"w":{"dtype":"F32","shape":[01],"data_offsets":[0,8]}}"#, "nul", "-"]
        for (k, h) in cases.enumerated() {
            assertThrows(try open("json\(k).safetensors", header: h), mentions: ["json\(k).safetensors"]) {
                if case .headerNotJSON = $0 { return true }; return false
            }
        }
    }

    func testHeaderNotAnObjectOrBadMetadata() throws {
        let cases = ["[]", "3", #""str""#, "null",
                     "{\"__metadata__\":[],\(okEntry)}", "{\"__metadata__\":{\"a\":1},\(okEntry)}",
                     "{\(okEntry),\(okEntry)}", // duplicate tensor
                     "{\"__metadata__\":{},\"__metadata__\":{},\(okEntry)}"]
        for (k, h) in cases.enumerated() {
            assertThrows(try open("obj\(k).safetensors", header: h), mentions: ["obj\(k).safetensors"]) {
                if case .invalidHeader = $0 { return true }; return false
            }
        }
    }

    func testEntryMissingFieldsOrWrongTypes() throws {
        let cases = [#""w":{"shape":[2],"data_offsets":[0,8]}"#, #""w":{"dtype":"F32","data_offsets":[0,8]}"#,
                     #""w":{"dtype":"F32","shape":[2]}"#, #""w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}"#,
                     #""w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}"#, #""w":{"dtype":"F32","shape":[2],"data_offsets":"0,8"}"#,
                     #""w":{"dtype":"F32","shape":[2],"data_offsets":[0]}"#, #""w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}"#,
                     #""w":{"dtype":"F32","shape":[2],"data_offsets":[-1,8]}"#, #""w":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}"#,
                     #""w":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}"#, #""w":[1,2]"#, #""w":null"#,
                     #""w":{"dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999]}"#]
        for (k, e) in cases.enumerated() {
            assertThrows(try open("entry\(k).safetensors", header: "{\(e)}"), mentions: ["entry\(k).safetensors", "'w'"]) {
                if case .invalidTensorEntry(_, "w", _) = $0 { return true }; return false
            }
        }
    }

    func testUnknownDType() throws {
        for dt in ["F8_E4M3", "U16", "f32", "", "FLOAT"] {
            let h = #"{"w":{"dtype":"\#(dt)","shape":[2],"data_offsets":[0,8]}}"#
            assertThrows(try open("dt.safetensors", header: h), mentions: ["dt.safetensors", "'w'", "'\(dt)'"]) {
                if case .unknownDType(_, "w", dt) = $0 { return true }; return false
            }
        }
    }

    func testInvalidShape() throws {
        let shapes = ["[-2]", "[2.0]", "[2e0]", #"["2"]"#, "[null]", "[[2]]", "[99999999999999999999]",
                      "[4294967296,4294967296]", "[9223372036854775807,2]", "[2305843009213693952]" /* ×4 bytes overflows */,
                      "[0,4611686018427387904,4611686018427387904]" /* no elements, but rowLength would overflow */]
        for (k, s) in shapes.enumerated() {
            let h = #"{"w":{"dtype":"F32","shape":\#(s),"data_offsets":[0,8]}}"#
            assertThrows(try open("shape\(k).safetensors", header: h), mentions: ["shape\(k).safetensors", "'w'"]) {
                if case .invalidShape(_, "w", _) = $0 { return true }; return false
            }
        }
    }

    func testByteCountMismatch() throws {
        let h = #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        assertThrows(try open("count.safetensors", header: h), mentions: ["count.safetensors", "'w'"]) {
            if case .byteCountMismatch(_, "w", 12, 8) = $0 { return true }; return false
        }
        let h2 = #"{"w":{"dtype":"BF16","shape":[2,0],"data_offsets":[0,8]}}"#
        assertThrows(try open("count2.safetensors", header: h2)) {
            if case .byteCountMismatch(_, "w", 0, 8) = $0 { return true }; return false
        }
    }

    func testOffsetsOutsideDataSection() throws {
        let h = #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#
        assertThrows(try open("oob.safetensors", header: h), mentions: ["oob.safetensors", "'w'"]) {
            if case .offsetsOutOfBounds(_, "w", 0, 12, 8) = $0 { return true }; return false
        }
        let h2 = #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[100,100]}}"#
        assertThrows(try open("oob2.safetensors", header: h2)) {
            if case .offsetsOutOfBounds(_, "w", 100, 100, 8) = $0 { return true }; return false
        }
    }

    func testOffsetsReversed() throws {
        let h = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#
        assertThrows(try open("rev.safetensors", header: h), mentions: ["rev.safetensors", "'w'"]) {
            if case .offsetsReversed(_, "w", 8, 4) = $0 { return true }; return false
        }
    }

    func testOverlappingTensors() throws {
        let h = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        assertThrows(try open("overlap.safetensors", header: h), mentions: ["overlap.safetensors", "'a'", "'b'"]) {
            if case .overlappingTensors(_, "a", "b") = $0 { return true }; return false
        }
        // Identical spans overlap too; empty tensors never do.
        let h2 = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#
        assertThrows(try open("overlap2.safetensors", header: h2)) {
            if case .overlappingTensors = $0 { return true }; return false
        }
        let h3 = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"z":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}}"#
        XCTAssertEqual(try open("overlap3.safetensors", header: h3).tensorInfos.count, 3)
    }

    // MARK: Paths

    func testPathDoesNotExist() throws {
        assertThrows(try SafetensorsFile(path: path("nope.safetensors")), mentions: ["nope.safetensors"]) {
            if case .fileNotFound = $0 { return true }; return false
        }
        assertThrows(try SafetensorsCheckpoint(path: path("nope")), mentions: ["nope"]) {
            if case .fileNotFound = $0 { return true }; return false
        }
    }

    func testPathNotReadable() throws {
        // A symlink loop fails to open for every user (root included).
        try FileManager.default.createSymbolicLink(atPath: path("loop1"), withDestinationPath: path("loop2"))
        try FileManager.default.createSymbolicLink(atPath: path("loop2"), withDestinationPath: path("loop1"))
        assertThrows(try SafetensorsFile(path: path("loop1")), mentions: ["loop1"]) {
            if case .cannotOpen(_, ELOOP) = $0 { return true }; return false
        }
        assertThrows(try SafetensorsCheckpoint(path: path("loop1"))) {
            if case .cannotOpen = $0 { return true }; return false
        }
        if geteuid() != 0 {
            let p = try writeFile("private.safetensors", header: "{}")
            chmod(p, 0)
            assertThrows(try SafetensorsFile(path: p)) {
                if case .cannotOpen(_, EACCES) = $0 { return true }; return false
            }
        }
    }

    func testDirectoryWithoutCheckpoints() throws {
        try FileManager.default.createDirectory(atPath: path("empty"), withIntermediateDirectories: false)
        try Data("x".utf8).write(to: URL(fileURLWithPath: path("empty/readme.txt")))
        assertThrows(try SafetensorsCheckpoint(path: path("empty")), mentions: ["empty"]) {
            if case .noCheckpointInDirectory = $0 { return true }; return false
        }
        assertThrows(try SafetensorsFile(path: path("empty"))) {
            if case .isDirectory = $0 { return true }; return false
        }
        // Several candidate files and no index: ambiguous.
        try writeFile("empty/a.safetensors", header: "{}")
        try writeFile("empty/b.safetensors", header: "{}")
        assertThrows(try SafetensorsCheckpoint(path: path("empty"))) {
            if case .ambiguousCheckpointDirectory(_, ["a.safetensors", "b.safetensors"]) = $0 { return true }; return false
        }
        // Exactly one: used.
        try FileManager.default.removeItem(atPath: path("empty/b.safetensors"))
        XCTAssertEqual(try SafetensorsCheckpoint(path: path("empty")).files.count, 1)
        // model.safetensors preferred over other files.
        try writeFile("empty/model.safetensors", header: "{\(okEntry)}", data: okData)
        XCTAssertEqual(try SafetensorsCheckpoint(path: path("empty")).names, ["w"])
    }

    // MARK: Checkpoints

    func makeShard(_ name: String, _ tensors: [String]) throws {
        try SafetensorsWriter.write(path: path(name), floats: tensors.map { (name: $0, shape: [1], values: [1]) })
    }

    func writeIndex(_ json: String) throws {
        try writeBytes(Array(json.utf8), to: path("model.safetensors.index.json"))
    }

    func testIndexMalformed() throws {
        try makeShard("s1.safetensors", ["a"])
        let cases = ["", "{", "[]", #"{"metadata":{}}"#, #"{"weight_map":[]}"#, #"{"weight_map":{"a":1}}"#,
                     #"{"weight_map":{"a":"s1.safetensors","a":"s1.safetensors"}}"#, #"{"weight_map":{"a":"/etc/passwd"}}"#,
                     #"{"weight_map":{"a":"../s1.safetensors"}}"#, #"{"metadata":3,"weight_map":{"a":"s1.safetensors"}}"#,
                     "{\"weight_map\":{\"a\u{FF}\":\"s1\"}}"]
        for (k, j) in cases.enumerated() {
            if k == cases.count - 1 {
                var b = Array(j.utf8); b[b.firstIndex(of: 0xC3)!] = 0xFF
                try writeBytes(b, to: path("model.safetensors.index.json"))
            } else {
                try writeIndex(j)
            }
            assertThrows(try SafetensorsCheckpoint(path: tmp), mentions: ["model.safetensors.index.json"]) {
                if case .invalidIndex = $0 { return true }; return false
            }
        }
        // A valid one for contrast (metadata values of any scalar type become strings).
        try writeIndex(#"{"metadata":{"total_size":4,"flag":true,"nested":{"x":1}},"weight_map":{"a":"s1.safetensors"}}"#)
        let ck = try SafetensorsCheckpoint(path: tmp)
        XCTAssertEqual(ck.metadata["total_size"], "4")
        XCTAssertEqual(ck.metadata["flag"], "true")
        XCTAssertNil(ck.metadata["nested"])
    }

    func testMissingShard() throws {
        try makeShard("s1.safetensors", ["a"])
        try writeIndex(#"{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}"#)
        assertThrows(try SafetensorsCheckpoint(path: tmp), mentions: ["s2.safetensors", "model.safetensors.index.json"]) {
            if case .missingShard(_, "s2.safetensors") = $0 { return true }; return false
        }
    }

    func testShardLacksTensor() throws {
        try makeShard("s1.safetensors", ["a"])
        try makeShard("s2.safetensors", ["b"])
        try writeIndex(#"{"weight_map":{"a":"s1.safetensors","c":"s2.safetensors"}}"#)
        assertThrows(try SafetensorsCheckpoint(path: path("model.safetensors.index.json")), mentions: ["s2.safetensors", "'c'"]) {
            if case .tensorMissingFromShard(_, _, "c") = $0 { return true }; return false
        }
    }

    func testCorruptShardReportsShardPath() throws {
        try writeRaw("s1.safetensors", [1, 2, 3])
        try writeIndex(#"{"weight_map":{"a":"s1.safetensors"}}"#)
        assertThrows(try SafetensorsCheckpoint(path: tmp), mentions: ["s1.safetensors"]) {
            if case .fileTooSmall = $0 { return true }; return false
        }
    }

    func testTensorNotFoundSuggestsCloseNames() throws {
        let names = ["model.layers.0.attention.wq.weight", "model.layers.0.attention.wk.weight", "model.norm.weight", "tok_embeddings.weight"]
        try makeShard("model.safetensors", names)
        let f = try SafetensorsFile(path: path("model.safetensors"))
        assertThrows(try f.tensor("model.layers.0.attention.wq.weights"), mentions: ["model.safetensors", "model.layers.0.attention.wq.weight"]) {
            if case let .tensorNotFound(_, "model.layers.0.attention.wq.weights", s) = $0 { return s.first == "model.layers.0.attention.wq.weight" }
            return false
        }
        XCTAssertNil(f.info("missing"))
        let ck = try SafetensorsCheckpoint(path: tmp)
        assertThrows(try ck.tensor("norm.weight")) {
            if case let .tensorNotFound(_, _, s) = $0 { return s == ["model.norm.weight"] }; return false
        }
        assertThrows(try ck.tensor("zzz")) {
            if case .tensorNotFound(_, "zzz", []) = $0 { return true }; return false
        }
        XCTAssertNil(ck.info("zzz"))
    }

    // MARK: Access

    func testAccessorsRejectWrongDTypeAndRows() throws {
        let p = path("acc.safetensors")
        try SafetensorsWriter.write(path: p, tensors: [TensorSpec(name: "i", dtype: .i32, shape: [2, 2]), TensorSpec(name: "f", dtype: .bf16, shape: [3, 2])]) { i, sink in
            try sink.write(contentsOf: [UInt8](repeating: 0x3F, count: i == 0 ? 16 : 12))
        }
        let f = try SafetensorsFile(path: p)
        let i = try f.tensor("i"), t = try f.tensor("f")
        var buf = [Float](repeating: 0, count: 64)
        try buf.withUnsafeMutableBufferPointer { b in
            let d = b.baseAddress!
            for op in [{ try i.validateFloatRows() }, { _ = try i.floats() }, { try i.copyFloats(into: d) },
                       { try i.copyRows(0..<1, into: d) }, { try i.gatherRows([0], into: d) }, { _ = try t.int64s() }] {
                assertThrows(try op(), mentions: ["acc.safetensors"]) { if case .unsupportedDType = $0 { return true }; return false }
            }
            assertThrows(try t.copyRows(1..<4, into: d), mentions: ["'f'"]) { if case .rowOutOfRange(_, "f", 3, 3) = $0 { return true }; return false }
            assertThrows(try t.gatherRows([0, 3], into: d)) { if case .rowOutOfRange(_, "f", 3, 3) = $0 { return true }; return false }
            assertThrows(try t.gatherRows([-1], into: d)) { if case .rowOutOfRange(_, "f", -1, 3) = $0 { return true }; return false }
            XCTAssertNoThrow(try t.copyRows(3..<3, into: d))
        }
    }

    /// A checkpoint directory whose model.safetensors (or index) is there but unusable says what it
    /// is, instead of "holds no model.safetensors".
    func testUnusableModelFileInADirectorySaysWhatItIs() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/st-kinds-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/model.safetensors"
        func check(_ matches: (SafetensorsError) -> Bool, mentions: [String]) throws {
            assertThrows(try SafetensorsCheckpoint(path: dir), mentions: mentions, matches)
            try FileManager.default.removeItem(atPath: file)
        }
        try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: false)
        try check({ if case .isDirectory(file) = $0 { return true }; return false }, mentions: ["is a directory"])
        XCTAssertEqual(mkfifo(file, 0o644), 0)
        try check({ if case .notRegularFile(file) = $0 { return true }; return false }, mentions: ["FIFO"])
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: "../blobs/w")
        try check({ $0 == .danglingLink(path: file, target: "../blobs/w") }, mentions: ["../blobs/w", "does not exist"])
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: "model.safetensors")
        try check({ $0 == .cannotOpen(path: file, errno: ELOOP) }, mentions: ["symbolic links"])
        try FileManager.default.createSymbolicLink(atPath: dir + "/model.safetensors.index.json", withDestinationPath: "nowhere.json")
        assertThrows(try SafetensorsCheckpoint(path: dir), mentions: ["index.json", "nowhere.json"]) {
            if case .danglingLink = $0 { return true }; return false
        }
    }

    func testMessagesAreDistinctAndActionable() {
        let errors: [SafetensorsError] = [
            .fileNotFound(path: "/m"), .cannotOpen(path: "/m", errno: EACCES), .isDirectory(path: "/m"), .mapFailed(path: "/m", errno: ENOMEM),
            .noCheckpointInDirectory(path: "/m"), .ambiguousCheckpointDirectory(path: "/m", candidates: ["a", "b"]),
            .fileTooSmall(path: "/m", size: 3), .headerTooLarge(path: "/m", headerLength: 1 << 40, limit: 100_000_000),
            .headerPastEndOfFile(path: "/m", headerLength: 9, fileSize: 10), .headerNotUTF8(path: "/m"), .headerNotJSON(path: "/m", reason: "r"),
            .invalidHeader(path: "/m", reason: "r"), .invalidTensorEntry(path: "/m", tensor: "t", reason: "r"),
            .unknownDType(path: "/m", tensor: "t", dtype: "X"), .invalidShape(path: "/m", tensor: "t", reason: "r"),
            .byteCountMismatch(path: "/m", tensor: "t", expected: 1, actual: 2), .offsetsReversed(path: "/m", tensor: "t", begin: 2, end: 1),
            .offsetsOutOfBounds(path: "/m", tensor: "t", begin: 0, end: 9, dataSize: 8), .overlappingTensors(path: "/m", tensor: "t", other: "u"),
            .invalidIndex(path: "/m", reason: "r"), .missingShard(indexPath: "/m", shard: "s"),
            .tensorMissingFromShard(indexPath: "/m", shardPath: "/s", tensor: "t"), .tensorNotFound(path: "/m", tensor: "t", suggestions: ["tt"]),
            .unsupportedDType(path: "/m", tensor: "t", dtype: .i8, operation: "floats()"), .rowOutOfRange(path: "/m", tensor: "t", row: 5, rowCount: 2),
            .invalidTensorSpec(path: "/m", tensor: "t", reason: "r"), .duplicateTensorName(path: "/m", tensor: "t"),
            .valueCountMismatch(path: "/m", tensor: "t", expected: 1, actual: 2),
            .producerByteCountMismatch(path: "/m", tensor: "t", expected: 1, written: 2), .writeFailed(path: "/m", reason: "r"),
            .danglingLink(path: "/m", target: "../blobs/w"), .cannotOpen(path: "/m", errno: ELOOP),
        ]
        XCTAssertEqual(Set(errors.map(\.description)).count, errors.count)
        for e in errors {
            XCTAssertTrue(e.description.hasPrefix("/m"), e.description)
            XCTAssertTrue(e.description.hasSuffix(".") || e.description.hasSuffix("?") || e.description.hasSuffix("names / .tensorInfos."), e.description)
        }
        XCTAssertEqual(SafetensorsError.fileNotFound(path: "a"), .fileNotFound(path: "a"))
        XCTAssertNotEqual(SafetensorsError.fileNotFound(path: "a"), .fileNotFound(path: "b"))
    }
}
