import ByteLatent
import ByteLatentEval
import FuzzSupport

/// JSONL documents (one JSON object per line, the text in a field), strict and with bad lines skipped.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    let path = writeScratch("input.jsonl", inputBuffer(data, size))
    for skip in [false, true] {
        let reader = DocumentReader(inputs: [DocumentInput(path: path, format: .jsonl)], field: "text", skipBadLines: skip)
        var bytes = 0
        try? reader.forEach { event in
            if case .document(let document) = event { bytes &+= document.bytes.count }
        }
        _ = bytes
    }
    return 0
}

@_cdecl("FuzzJSONL_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}
