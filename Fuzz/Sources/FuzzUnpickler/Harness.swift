import ByteLatentConvert
import FuzzSupport

/// The restricted unpickler on raw pickle bytes (what a .pth's data.pkl holds).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafeRawPointer?, _ size: Int) -> CInt {
    _ = try? RestrictedUnpickler(data: inputBuffer(data, size), path: "data.pkl").load()
    return 0
}

@_cdecl("FuzzUnpickler_main")
public func harnessMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzz)
}
