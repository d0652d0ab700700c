import ByteLatent
import Foundation
import XCTest
@testable import ByteLatentConvert
import Safetensors
#if canImport(Glibc)
import Glibc
#endif

/// `blt convert` never destroys what it reads or what the user owns; interrupted runs leave nothing
/// behind; zip archives are checked entry by entry (issue 12).
final class HostileConvertTests: ConvertTestCase {
    /// Every file under `dir` with its bytes, to prove a tree unchanged.
    func snapshot(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: dir)!
        for case let name as String in e {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &isDirectory)
            if !isDirectory.boolValue { out[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)) }
        }
        return out
    }

    func assertUnsafe(_ source: String, _ destination: String, force: Bool = true, file: StaticString = #filePath, line: UInt = #line) {
        assertConvertError(try Converter.convert(source: source, destination: destination, options: ConvertOptions(force: force)), file: file, line: line) {
            if case .unsafeDestination = $0 { return true }; return false
        }
    }

    func testDestinationEqualToInsideOrContainingTheSourceIsRefused() throws {
        let src = try copyHub("H")
        let before = try snapshot(src)
        assertUnsafe(src, src)                 // blt convert H H --force
        assertUnsafe(src, src + "/")
        assertUnsafe(src, src + "/out")        // inside
        assertUnsafe(src, src + "/entropy_model", force: true)
        assertUnsafe(src, tmp)                 // blt convert sb/H sb --force (contains)
        assertUnsafe(src, src + "/..")
        // cd H && blt convert H . --force (trapped in deletingLastPathComponent)
        let cwd = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(src)
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        assertUnsafe(src, ".")
        assertUnsafe(src, "./")
        FileManager.default.changeCurrentDirectoryPath(cwd)
        XCTAssertEqual(try snapshot(src), before)
        XCTAssertEqual(try tmpListing(), ["H"])
    }

    func testSourceReachedThroughASymbolicLinkIsStillProtected() throws {
        let src = try copyHub("H")
        try FileManager.default.createSymbolicLink(atPath: tmp + "/link", withDestinationPath: src)
        assertUnsafe(tmp + "/link", src)
        assertUnsafe(src, tmp + "/link")
        XCTAssertTrue(FileManager.default.fileExists(atPath: src + "/model.safetensors"))
    }

    func testForceReplacesOnlyAnEmptyDirectoryOrAnEarlierConversion() throws {
        let user = tmp + "/user"
        try FileManager.default.createDirectory(atPath: user, withIntermediateDirectories: true)
        try Data("precious".utf8).write(to: URL(fileURLWithPath: user + "/notes.txt"))
        assertUnsafe(hubTiny, user)
        XCTAssertEqual(try String(contentsOfFile: user + "/notes.txt", encoding: .utf8), "precious")

        // A directory with model files but no conversion markers is not ours either.
        let lookalike = tmp + "/lookalike"
        try FileManager.default.createDirectory(atPath: lookalike, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: lookalike + "/model.safetensors"))
        assertUnsafe(hubTiny, lookalike)

        let file = tmp + "/file"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: file))
        assertUnsafe(hubTiny, file)
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "keep")

        let empty = tmp + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        try Converter.convert(source: hubTiny, destination: empty, options: ConvertOptions(force: true))
        try Converter.convert(source: hubTiny, destination: empty, options: ConvertOptions(force: true))   // an earlier conversion
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: empty).sorted(),
                       [".blt-convert-manifest.json", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
    }

    /// `--force` replaces by identity, not by name: a file of the user's under a name a conversion
    /// writes, or a conversion's file changed since, is never deleted.
    func testForceNeverReplacesWhatTheManifestDoesNotListUnchanged() throws {
        let out = tmp + "/o"
        try Converter.convert(source: hubTiny, destination: out)
        // rm o/tokenizer.json; mkdir o/tokenizer.json; echo x > o/tokenizer.json/thesis.tex
        try FileManager.default.removeItem(atPath: out + "/tokenizer.json")
        try FileManager.default.createDirectory(atPath: out + "/tokenizer.json", withIntermediateDirectories: false)
        try Data("x".utf8).write(to: URL(fileURLWithPath: out + "/tokenizer.json/thesis.tex"))
        assertUnsafe(hubTiny, out)
        XCTAssertEqual(try String(contentsOfFile: out + "/tokenizer.json/thesis.tex", encoding: .utf8), "x")
        // A listed name rewritten by the user (another file now) is not the conversion's either.
        let other = tmp + "/p"
        try Converter.convert(source: hubTiny, destination: other)
        try FileManager.default.removeItem(atPath: other + "/config.json")
        try Data("{\"model_type\": \"blt\", \"mine\": 1}".utf8).write(to: URL(fileURLWithPath: other + "/config.json"))
        assertUnsafe(hubTiny, other)
        XCTAssertTrue(try String(contentsOfFile: other + "/config.json", encoding: .utf8).contains("mine"))
        // An unchanged conversion is replaced, and nothing is left beside it.
        let fresh = tmp + "/q"
        try Converter.convert(source: hubTiny, destination: fresh)
        try Converter.convert(source: hubTiny, destination: fresh, options: ConvertOptions(force: true))
        XCTAssertEqual(try tmpListing(), ["o", "p", "q"])
    }

    /// The final move never replaces a destination that appeared while the conversion ran, and a
    /// forced replacement keeps whatever appeared in the old output meanwhile.
    func testFinalMoveNeverDeletesWhatAppearedDuringTheRun() throws {
        let out = tmp + "/o"
        var planted = false
        assertConvertError(try Converter.convert(source: hubTiny, destination: out, options: ConvertOptions(chunkBytes: 1 << 16)) { _, _, _ in
            if !planted {   // the user makes the destination while the conversion runs
                planted = true
                try? FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
                try? Data("mine".utf8).write(to: URL(fileURLWithPath: out + "/thesis.tex"))
            }
        }) { if case .unsafeDestination(_, let reason) = $0 { return reason.contains("appeared") }; return false }
        XCTAssertEqual(try String(contentsOfFile: out + "/thesis.tex", encoding: .utf8), "mine")
        XCTAssertEqual(try tmpListing(), ["o"], "the unfinished output is removed")

        // With --force the old output passes the first check; a file added to it during the run makes
        // the check before the move refuse, and nothing of the old output is lost.
        let forced = tmp + "/f"
        try Converter.convert(source: hubTiny, destination: forced)
        let before = try snapshot(forced)
        var added = false
        assertConvertError(try Converter.convert(source: hubTiny, destination: forced, options: ConvertOptions(force: true, chunkBytes: 1 << 16)) { _, _, _ in
            if !added { added = true; try? Data("mine".utf8).write(to: URL(fileURLWithPath: forced + "/notes.txt")) }
        }) { if case .unsafeDestination(_, let reason) = $0 { return reason.contains("notes.txt") }; return false }
        var after = try snapshot(forced)
        XCTAssertEqual(after.removeValue(forKey: "notes.txt"), Data("mine".utf8))
        XCTAssertEqual(after, before)
        XCTAssertEqual(try tmpListing(), ["f", "o"])
    }

    func testSigtermAndSighupRemoveTheTemporaryDirectory() throws {
        for sig in [SIGTERM, SIGHUP] {
            installInterruptHandler()
            var raised = false
            assertConvertError(try Converter.convert(source: hubTiny, destination: tmp + "/out",
                                                     options: ConvertOptions(chunkBytes: 1 << 16)) { _, _, _ in
                if !raised { raised = true; raise(sig) }
            }) { $0 == .interrupted }
            XCTAssertEqual(interruptSignal, sig)
            XCTAssertEqual(try tmpListing(), [], "signal \(sig) left files behind")
        }
        installInterruptHandler()   // clears the recorded signal, so later conversions in this process run
        signal(SIGTERM, SIG_DFL)
        signal(SIGHUP, SIG_DFL)
        signal(SIGINT, SIG_DFL)
    }

    func testStaleTemporaryDirectoriesOfKilledRunsAreRemovedOrReported() throws {
        let dead = Int32.max - 1   // beyond pid_max: no such process
        let stale = tmp + "/.out.tmp-\(dead)"   // a killed run's: marked, with a tensor file and the writer's partial one
        try OutputManifest.makeTemporary(stale)
        try Data(count: 1000).write(to: URL(fileURLWithPath: stale + "/config.json"))
        try Data(count: 1000).write(to: URL(fileURLWithPath: stale + "/.model.safetensors.tmp-\(dead)-1f"))
        // Not marked, though named like one and holding output names: the user's, never removed.
        let unmarked = tmp + "/.out.tmp-\(dead - 2)"
        try FileManager.default.createDirectory(atPath: unmarked + "/model.safetensors", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: unmarked + "/model.safetensors/thesis.tex"))
        let foreign = tmp + "/.out.tmp-\(dead - 1)"
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: foreign + "/notes.txt"))
        let live = tmp + "/.out.tmp-\(getppid())"   // a running process: left alone, silently
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
        var notices: [String] = []
        try Converter.convert(source: hubTiny, destination: tmp + "/out", options: ConvertOptions(notice: { notices.append($0) }))
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
        XCTAssertTrue(FileManager.default.fileExists(atPath: foreign + "/notes.txt"))
        XCTAssertEqual(try String(contentsOfFile: unmarked + "/model.safetensors/thesis.tex", encoding: .utf8), "x")
        XCTAssertTrue(FileManager.default.fileExists(atPath: live))
        XCTAssertEqual(notices.count, 3, "\(notices)")
        XCTAssertTrue(notices.contains { $0.hasPrefix("found") && $0.contains(".out.tmp-\(dead - 2)") }, "\(notices)")
        XCTAssertTrue(notices.contains { $0.hasPrefix("removed") && $0.contains(".out.tmp-\(dead)") }, "\(notices)")
        XCTAssertTrue(notices.contains { $0.hasPrefix("found") && $0.contains(".out.tmp-\(dead - 1)") }, "\(notices)")
    }

    // MARK: Zip integrity

    func testCRC32KnownVector() {
        let check = Array("123456789".utf8)
        XCTAssertEqual(check.withUnsafeBytes { CRC32.checksum($0) }, 0xCBF4_3926)
        XCTAssertEqual(bitwiseCRC32(check), 0xCBF4_3926)
    }

    func testFlippedDataByteFailsTheCRCCheck() throws {
        // Was: converted without complaint.
        let src = try copyHub()
        let pth = src + "/entropy_model/consolidated.pth"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: pth)))
        let archive = try ZipArchive(path: pth)
        let entry = try XCTUnwrap(archive.entry("consolidated/data/18"))
        bytes[entry.dataOffset + 100] ^= 0x01
        try writeBytes(bytes, to: pth)
        assertConvertError(try TorchCheckpoint(path: pth)) {
            if case .corruptZip(_, let reason) = $0 { return reason.contains("consolidated/data/18") && reason.contains("CRC-32") }; return false
        }
        assertConvertError(try Converter.convert(source: src, destination: tmp + "/out")) {
            if case .corruptZip = $0 { return true }; return false
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/out"))
    }

    func testDuplicateEntryNamesAreRefused() throws {
        // Was: the first data.pkl was used silently (Python's zipfile uses the last).
        let path = tmp + "/dup.pth"
        try writeBytes(makeZip([("archive/data.pkl", [0x80, 0x02, 0x7D, 0x2E]), ("archive/data.pkl", [0x80, 0x02, 0x5D, 0x2E])], zip64: false), to: path)
        assertConvertError(try ZipArchive(path: path)) {
            if case .corruptZip(_, let reason) = $0 { return reason.contains("archive/data.pkl") && reason.contains("twice") }; return false
        }
        // Two different directories each with a data.pkl are ambiguous as well.
        try writeBytes(makeZip([("a/data.pkl", [0x80, 0x02, 0x7D, 0x2E]), ("b/data.pkl", [0x80, 0x02, 0x7D, 0x2E])], zip64: false), to: path)
        assertConvertError(try TorchCheckpoint(path: path)) {
            if case .corruptZip(_, let reason) = $0 { return reason.contains("data.pkl") }; return false
        }
    }
}

/// Inputs found by the libFuzzer harnesses (Fuzz/, Docs/reliability.md), kept as regression tests.
final class FuzzFindingsTests: ConvertTestCase {
    func unpickle(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { buf in
            do { _ = try RestrictedUnpickler(data: buf, path: "x.pkl").load(); return "no error" } catch { return "\(error)" }
        }
    }

    /// FuzzUnpickler, LeakSanitizer: a dict memoized and then stored inside itself made a reference
    /// cycle that was never freed.
    func testFuzzFoundSelfContainingDictIsRefused() throws {
        let found = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixtures + "/fuzz/unpickler-leak-cycle.pkl")))
        XCTAssertTrue(unpickle(found).contains("nested inside itself"), unpickle(found))
        // d = {}; d["a"] = d
        let direct: [UInt8] = [0x80, 2, 0x7D, 0x71, 0, 0x58, 1, 0, 0, 0, 0x61, 0x68, 0, 0x73, 0x2E]
        XCTAssertTrue(unpickle(direct).contains("nested inside itself"), unpickle(direct))
        // a = []; b = [a]; a.append(b)  (a cycle through two containers)
        let indirect: [UInt8] = [0x80, 2, 0x5D, 0x71, 0, 0x5D, 0x71, 1, 0x68, 0, 0x61, 0x30, 0x68, 0, 0x68, 1, 0x61, 0x2E]
        XCTAssertTrue(unpickle(indirect).contains("nested inside itself"), unpickle(indirect))
        // Sharing without a cycle is fine: x = []; [x, x]
        let shared: [UInt8] = [0x80, 2, 0x5D, 0x71, 0, 0x5D, 0x68, 0, 0x61, 0x68, 0, 0x61, 0x2E]
        XCTAssertEqual(unpickle(shared), "no error")
    }
}

/// `blt inspect` refuses what `blt eval` refuses: a config out of range, tensors missing, extra or
/// of the wrong shape (it used to report such checkpoints as fine).
final class InspectValidationTests: ConvertTestCase {
    /// A copy of the converted fixture with its weights rewritten through `edit`.
    func model(_ edit: (inout [(name: String, shape: [Int], values: [Float])]) -> Void) throws -> String {
        let dir = tmp + "/m"
        try FileManager.default.copyItem(atPath: hubTinyExpected, toPath: dir)
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        var tensors = try file.tensorInfos.map { (name: $0.name, shape: $0.shape, values: try file.tensor($0.name).floats()) }
        edit(&tensors)
        try SafetensorsWriter.write(path: dir + "/model.safetensors", floats: tensors)
        return dir
    }

    func testConvertedCheckpointPasses() throws {
        XCTAssertEqual(try Inspector.inspect(path: model { _ in }).format, .transformers)
    }

    func testMissingAndMisshapenTensorsAreReported() throws {
        let missing = try model { $0.removeAll { $0.name == "model.local_decoder.norm.weight" } }
        assertConvertError(try Inspector.inspect(path: missing)) {
            if case let .tensorSetMismatch(m, u) = $0 { return m == ["model.local_decoder.norm.weight"] && u.isEmpty }; return false
        }
        try FileManager.default.removeItem(atPath: missing)
        let misshapen = try model { tensors in
            let i = tensors.firstIndex { $0.name == "model.local_decoder.norm.weight" }!
            tensors[i].shape = [tensors[i].shape[0] - 1]
            tensors[i].values.removeLast()
        }
        assertConvertError(try Inspector.inspect(path: misshapen)) {
            if case let .wrongShape(name, _, _) = $0 { return name == "model.local_decoder.norm.weight" }; return false
        }
    }
}
