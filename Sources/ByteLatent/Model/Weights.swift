import Safetensors

/// Reads the tensors a model part needs from a checkpoint, checking names, shapes and dtypes.
/// Matrices stay in the checkpoint's dtype, as views into the mapped file (no fp32 copy); only
/// norm vectors (a few KB) are widened to Float here.
///
/// A loader is scoped to a prefix of tensor names, like candle's `vb.pp(...)`: each model part
/// names its own segment once (`weights.scoped("model.local_decoder")`, then `.scoped("layers.0")`)
/// and looks up names relative to it. Errors always carry the full tensor name.
struct WeightLoader {
    let checkpoint: SafetensorsCheckpoint
    let precision: Precision
    /// Dotted prefix of every name looked up here ("" at the checkpoint's root).
    let scope: String
    /// Where the mapped matrices are noted, in the order the parts take them, for `ReadAhead`.
    let readAhead: ReadAhead

    init(checkpoint: SafetensorsCheckpoint, precision: Precision, scope: String = "", readAhead: ReadAhead = ReadAhead()) {
        self.checkpoint = checkpoint
        self.precision = precision
        self.scope = scope
        self.readAhead = readAhead
    }

    /// A loader whose names are relative to `<scope>.<segment>`.
    func scoped(_ segment: String) -> WeightLoader {
        WeightLoader(checkpoint: checkpoint, precision: precision, scope: fullName(segment), readAhead: readAhead)
    }

    /// The checkpoint name of `name` in this scope.
    func fullName(_ name: String) -> String { scope.isEmpty ? name : scope + "." + name }

    func tensor(_ relativeName: String, shape: [Int]) throws -> Tensor {
        let name = fullName(relativeName)
        guard let info = checkpoint.info(name) else { throw BLTError.missingTensor(name: name) }
        guard info.shape == shape else { throw BLTError.wrongShape(name: name, expected: shape, found: info.shape) }
        guard WeightDType(rawValue: info.dtype.rawValue.lowercased()) != nil else {
            throw BLTError.unsupportedDType(name: name, dtype: info.dtype.rawValue)
        }
        do { return try checkpoint.tensor(name) } catch let error as SafetensorsError { throw BLTError.checkpoint(error, context: "") }
    }

    func has(_ name: String) -> Bool { checkpoint.info(fullName(name)) != nil }

    func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
        try matrix(name, shape: [rows, columns], rows: rows, columns: columns)
    }

    private func matrix(_ name: String, shape: [Int], rows: Int, columns: Int) throws -> WeightMatrix {
        let t = try tensor(name, shape: shape)
        let dtype = WeightDType(rawValue: t.dtype.rawValue.lowercased())!
        guard let base = t.bytes.baseAddress, t.bytes.count > 0 else {
            return WeightMatrix(rows: rows, columns: columns, dtype: dtype, copying: [UInt8](repeating: 0, count: 8))
        }
        // Writers align tensor data (safetensors pads its header to 8 bytes); a file that does not
        // gets an aligned copy of the few tensors concerned rather than misaligned loads.
        if Int(bitPattern: base) % dtype.byteSize != 0 {
            return WeightMatrix(rows: rows, columns: columns, dtype: dtype, copying: base)
        }
        readAhead.note(t.bytes)
        return WeightMatrix(rows: rows, columns: columns, dtype: dtype, borrowing: base, owner: checkpoint)
    }

    /// A huge table whose rows are read from the file one at a time (`TableRows`).
    func tableRows(_ name: String, rows: Int, columns: Int) throws -> TableRows {
        let t = try tensor(name, shape: [rows, columns])
        guard let file = checkpoint.file(for: fullName(name)) else { throw BLTError.missingTensor(name: fullName(name)) }
        return try TableRows(path: file.path, offset: file.dataStart + t.info.dataOffsets.lowerBound,
                             rows: rows, columns: columns, dtype: WeightDType(rawValue: t.dtype.rawValue.lowercased())!)
    }

    func vector(_ name: String, count: Int) throws -> [Float] {
        try matrix(name, shape: [count], rows: 1, columns: count).floats()
    }

    func linear(_ name: String, out: Int, in inputs: Int) throws -> Linear {
        Linear(weight: try matrix(name + ".weight", rows: out, columns: inputs), precision: precision)
    }
}

/// The mapped weights of a model in the order its parts were built (the order a pass reads them:
/// entropy model first), for the kernel to read from disk ahead of the first pass.
final class ReadAhead {
    private var ranges: [UnsafeRawBufferPointer] = []

    func note(_ bytes: UnsafeRawBufferPointer) { ranges.append(bytes) }

    /// Queues reads of every noted range, in order (see `BLTModel.init`).
    func start() { for bytes in ranges { MappedPages.adviseWillNeed(bytes) } }
}
