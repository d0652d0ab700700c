import ByteLatent
import Foundation
import Safetensors
#if canImport(Glibc)
import Glibc
#endif
import JSONSupport

/// Set by the signal handler to the signal's number; checked between chunks.
private let interruptFlag: UnsafeMutablePointer<Int32> = {
    let p = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    p.initialize(to: 0)
    return p
}()

/// Installs handlers for SIGINT, SIGTERM and SIGHUP (Ctrl-C, `kill`, a closed terminal) that make a
/// running conversion stop at the next chunk, remove its temporary directory and throw
/// `ConvertError.interrupted`. A second signal of the same kind kills the process.
/// (SIGKILL cannot be caught: the next conversion to the same destination removes what it left.)
public func installInterruptHandler() {
    interruptFlag.pointee = 0
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal(sig) { received in
            interruptFlag.pointee = received
            signal(received, SIG_DFL)
        }
    }
}

/// The signal that interrupted the conversion (SIGINT if none was recorded); the CLI exits with 128 + it.
public var interruptSignal: Int32 { interruptFlag.pointee != 0 ? interruptFlag.pointee : SIGINT }

func checkInterrupted() throws {
    if interruptFlag.pointee != 0 { throw ConvertError.interrupted }
}

/// Float bits → bfloat16 with round-to-nearest-even, as torch does on x86 (NaN → 0xFFFF).
@inline(__always)
func torchBF16(_ bits: UInt32) -> UInt16 { FloatConversion.floatToBF16Bits(Float(bitPattern: bits)) }

/// Converts `count` elements from `src` (dtype `from`) into `dst` (dtype `to`).
/// Supported: identity, F32/BF16/F16 → F32, F32/BF16/F16 → BF16, F32/BF16 → F16 (all as torch's `.to(dtype)`).
func convertElements(from: DType, to: DType, src: UnsafeRawPointer, dst: UnsafeMutableRawPointer, count: Int) {
    switch (from, to) {
    case (.bf16, .f32), (.f16, .f32):
        FloatConversion.toFloat(from, from: src, count: count, into: dst.assumingMemoryBound(to: Float.self))
    case (.f32, .bf16):
        let o = dst.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { o[i] = torchBF16(src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
    case (.f16, .bf16):
        let o = dst.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { o[i] = torchBF16(FloatConversion.f16BitsToF32Bits(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
    case (.f32, .f16):
        let o = dst.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { o[i] = FloatConversion.floatToF16Bits(src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)) }
    case (.bf16, .f16):
        let o = dst.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { o[i] = FloatConversion.floatToF16Bits(FloatConversion.bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
    default:
        dst.copyMemory(from: src, byteCount: count * from.byteSize)
    }
}

/// Options of `blt convert`.
public struct ConvertOptions {
    /// Output dtype; nil keeps each tensor's source dtype.
    public var dtype: DType?
    public var force: Bool
    /// Shard size limit of model.safetensors (data bytes per shard).
    public var maxShardBytes: Int
    /// Bytes converted per step (bounds the scratch buffer).
    public var chunkBytes: Int
    /// Told about things done on the side (stale temporary directories of killed runs removed or found).
    public var notice: ((String) -> Void)?

    public init(dtype: DType? = nil, force: Bool = false, maxShardBytes: Int = 4_000_000_000, chunkBytes: Int = 8 << 20,
                notice: ((String) -> Void)? = nil) {
        self.dtype = dtype
        self.force = force
        self.maxShardBytes = maxShardBytes
        self.chunkBytes = chunkBytes
        self.notice = notice
    }
}

/// One output tensor: its HF name, shape, dtype and the source views concatenated row-wise.
public struct OutputTensor {
    public let name: String
    public let shape: [Int]
    public let dtype: DType
    public let parts: [TensorView]
    public var byteCount: Int { shape.reduce(1, *) * dtype.byteSize }
}

/// A validated conversion plan: config, tokenizer files and output tensors.
public struct ConversionPlan {
    package let config: JSONValue
    public let tensors: [OutputTensor]
    public var totalBytes: Int { tensors.reduce(0) { $0 + $1.byteCount } }
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}

public enum Converter {
    /// Validates a hub checkpoint against the config it implies and plans the output.
    public static func plan(_ hub: HubCheckpoint, dtype: DType?) throws -> ConversionPlan {
        let config = try hub.hfConfig()
        // The engine's own reading of the config it would write: nothing is written that the engine
        // (and so `eval`) would then refuse, such as a negative sliding window.
        do { _ = try BLTConfig(json: Dictionary(config.objectItems ?? [], uniquingKeysWith: { _, last in last })) } catch BLTError.configInvalid(let field, let reason) {
            throw ConvertError.unknownLayout(path: hub.root, reason: "its arguments give the converted config's '\(field)' a value that \(reason); fix the argument it comes from (Docs/convert.md maps them)")
        } catch {
            throw ConvertError.unknownLayout(path: hub.root, reason: "its arguments imply a config this engine cannot run: \(error)")
        }
        let expected = try HubLayout.expectedOriginalTensors(config: config, path: join(hub.root, "config.json"))
        let entropyLabel = "entropy_model/"
        var sources: [String: TensorView] = [:]
        for t in hub.tensors { sources[t.name] = t }
        for t in hub.entropy.tensors { sources[entropyLabel + t.name] = t }
        var want: [(String, [Int])] = expected.main
        want += expected.entropy.map { (entropyLabel + $0.0, $0.1) }
        let wantNames = Set(want.map(\.0))
        let missing = want.map(\.0).filter { sources[$0] == nil }
        let unexpected = (hub.tensors.map(\.name) + hub.entropy.tensors.map { entropyLabel + $0.name })
            .filter { !wantNames.contains($0) }
        if !missing.isEmpty || !unexpected.isEmpty {
            throw ConvertError.tensorSetMismatch(missing: missing, unexpected: unexpected)
        }
        for (name, shape) in want {
            let t = sources[name]!
            guard t.shape == shape else { throw ConvertError.wrongShape(name: name, expected: shape, actual: t.shape) }
            guard [.f32, .bf16, .f16].contains(t.dtype) else { throw ConvertError.unsupportedDType(name: name, dtype: t.dtype.rawValue) }
        }
        var out: [OutputTensor] = []
        var hash: [(Int, TensorView)] = []
        for (name, _) in want {
            let t = sources[name]!
            let isEntropy = name.hasPrefix(entropyLabel)
            let original = isEntropy ? String(name.dropFirst(entropyLabel.count)) : name
            if !isEntropy, let i = HubLayout.isHashTable(original) { hash.append((i, t)); continue }
            out.append(OutputTensor(name: HubLayout.hfName(original: original, entropy: isEntropy),
                                    shape: t.shape, dtype: dtype ?? t.dtype, parts: [t]))
        }
        hash.sort { $0.0 < $1.0 }
        if let first = hash.first?.1 {
            let rows = hash.reduce(0) { $0 + $1.1.shape[0] }
            out.append(OutputTensor(name: "model.encoder_hash_tok_embedding.weight", shape: [rows] + first.shape.dropFirst(),
                                    dtype: dtype ?? first.dtype, parts: hash.map(\.1)))
        }
        out.sort { $0.name < $1.name }
        return ConversionPlan(config: config, tensors: out)
    }

    /// `blt convert SRC DST`: validates, then writes DST through a temporary directory next to it.
    /// `progress(done, total, tensorName)` is called after each chunk.
    public static func convert(source: String, destination: String, options: ConvertOptions = ConvertOptions(),
                               progress: ((Int, Int, String) -> Void)? = nil) throws -> ConversionPlan {
        let place = try OutputPlace(source: source, destination: destination, force: options.force)
        try checkInterrupted()   // a signal may arrive before any work (the flag is cleared by installInterruptHandler)
        let hub = try HubCheckpoint.open(source)
        let plan = try plan(hub, dtype: options.dtype)

        let parent = place.parent
        let base = place.base
        place.removeStaleTemporaries(notice: options.notice)
        let tmp = join(parent, ".\(base).tmp-\(getpid())")
        // A directory under this process's id is a killed run's whose id came back: removed only
        // when it is a marked temporary with nothing but conversion output in it.
        if fileExists(tmp), !(OutputManifest.isMarkedTemporary(tmp) && OutputManifest.removeOwnFiles(in: tmp, names: OutputPlace.isConversionFile)) {
            throw ConvertError.io(path: tmp, reason: "the temporary output directory's name is taken by something blt convert did not leave; move it away")
        }
        try OutputManifest.makeTemporary(tmp)
        do {
            try writeText(plan.config.serialized() + "\n", to: join(tmp, "config.json"))
            try writeText(HubLayout.tokenizerJSON().serialized() + "\n", to: join(tmp, "tokenizer.json"))
            try writeText(HubLayout.tokenizerConfigJSON(config: plan.config).serialized() + "\n", to: join(tmp, "tokenizer_config.json"))
            try writeTensors(plan, directory: tmp, options: options, progress: progress)
            try OutputManifest.of(directory: tmp).write(into: tmp)
            try checkInterrupted()
            try moveIntoPlace(tmp, place, force: options.force, shownAs: destination, notice: options.notice)
        } catch {
            OutputManifest.removeOwnFiles(in: tmp, names: OutputPlace.isConversionFile)
            throw error
        }
        return plan
    }

    /// Renames the finished `tmp` to the destination without ever replacing what was not checked:
    /// a destination that appeared during the run is refused; one that is replaced (with `force`) is
    /// checked again, moved aside, and removed file by file, keeping anything its manifest does not list.
    static func moveIntoPlace(_ tmp: String, _ place: OutputPlace, force: Bool, shownAs destination: String,
                              notice: ((String) -> Void)?) throws {
        let dst = place.path
        unlink(join(tmp, OutputManifest.temporaryMarker))
        let appeared = ConvertError.unsafeDestination(path: destination, reason: "it appeared while the conversion ran (another program or conversion made it) and was left alone; remove it, or convert again with replacing allowed (force) if it is an earlier conversion")
        var info = stat()
        guard lstat(dst, &info) == 0 else {
            guard renameWithoutReplacing(tmp, dst) == 0 else {
                guard errno == EEXIST || errno == ENOTEMPTY else {
                    throw ConvertError.io(path: destination, reason: "cannot rename the finished output into place: " + String(cString: strerror(errno)))
                }
                throw appeared
            }
            return
        }
        guard force else { throw appeared }   // without force an existing destination was refused at the start
        try OutputPlace.checkReplaceable(dst, shownAs: destination)
        let trash = join(place.parent, ".\(place.base).old-\(getpid())")
        guard renameWithoutReplacing(dst, trash) == 0 else {
            throw ConvertError.io(path: dst, reason: "cannot move the old output aside: " + String(cString: strerror(errno)))
        }
        guard renameWithoutReplacing(tmp, dst) == 0 else {
            let reason = String(cString: strerror(errno))
            if renameWithoutReplacing(trash, dst) != 0 { notice?("the previous output is kept in \(trash)") }
            throw ConvertError.io(path: destination, reason: "cannot rename the finished output into place: \(reason)")
        }
        // What the manifest lists and still matches goes; anything that came since stays with its directory.
        let own = OutputManifest.read(directory: trash)?.unchangedNames(in: trash) ?? []
        if !OutputManifest.removeOwnFiles(in: trash, names: own.contains) {
            notice?("kept \(trash): the previous output held files that appeared during the conversion; check them and remove it yourself")
        }
    }

    static func writeText(_ s: String, to path: String) throws {
        if let reason = Array(s.utf8).withUnsafeBytes({ writeNewFile(path, $0) }) {
            throw ConvertError.io(path: path, reason: "cannot write: \(reason)")
        }
    }

    static func writeTensors(_ plan: ConversionPlan, directory: String, options: ConvertOptions,
                             progress: ((Int, Int, String) -> Void)?) throws {
        let specs = plan.tensors.map { TensorSpec(name: $0.name, dtype: $0.dtype, shape: $0.shape) }
        let total = plan.totalBytes
        var done = 0
        let chunk = max(1 << 16, options.chunkBytes)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: chunk * 2, alignment: 64)
        defer { scratch.deallocate() }
        do {
            try SafetensorsWriter.writeSharded(directory: directory, tensors: specs, metadata: ["format": "pt"],
                                               maxShardBytes: options.maxShardBytes) { i, sink in
                let t = plan.tensors[i]
                for part in t.parts {
                    // Source elements per step such that the output fits in `chunk` bytes.
                    let perStep = max(1, chunk / max(part.dtype.byteSize, t.dtype.byteSize))
                    try part.chunks(maxBytes: perStep * part.dtype.byteSize) { src in
                        try checkInterrupted()
                        let n = src.count / part.dtype.byteSize
                        if part.dtype == t.dtype {
                            try sink.write(src)
                        } else {
                            convertElements(from: part.dtype, to: t.dtype, src: src.baseAddress!, dst: scratch, count: n)
                            try sink.write(UnsafeRawBufferPointer(start: scratch, count: n * t.dtype.byteSize))
                        }
                        MappedPages.release(src)
                        done += n * t.dtype.byteSize
                        progress?(done, total, t.name)
                    }
                }
            }
        } catch let e as SafetensorsError {
            throw ConvertError.safetensors(e.description)
        }
    }
}
