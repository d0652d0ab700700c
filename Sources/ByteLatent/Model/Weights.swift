import Safetensors

/// Reads the tensors a model part needs from a checkpoint, checking names, shapes and dtypes.
/// F32 tensors are used in place (zero copy); BF16/F16 ones are converted to Float once here.
struct WeightLoader {
    let checkpoint: SafetensorsCheckpoint

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let info = checkpoint.info(name) else { throw BLTError.missingTensor(name: name) }
        guard info.shape == shape else { throw BLTError.wrongShape(name: name, expected: shape, found: info.shape) }
        guard [.f32, .bf16, .f16].contains(info.dtype) else {
            throw BLTError.unsupportedDType(name: name, dtype: info.dtype.rawValue)
        }
        do { return try checkpoint.tensor(name) } catch { throw BLTError.checkpoint("\(error)") }
    }

    func has(_ name: String) -> Bool { checkpoint.info(name) != nil }

    func matrix(_ name: String, rows: Int, columns: Int) throws -> FloatMatrix {
        let t = try tensor(name, shape: [rows, columns])
        return try floats(t, rows: rows, columns: columns)
    }

    func vector(_ name: String, count: Int) throws -> FloatMatrix {
        let t = try tensor(name, shape: [count])
        return try floats(t, rows: 1, columns: count)
    }

    func linear(_ name: String, out: Int, in inputs: Int) throws -> Linear {
        Linear(weight: try matrix(name + ".weight", rows: out, columns: inputs))
    }

    private func floats(_ t: Tensor, rows: Int, columns: Int) throws -> FloatMatrix {
        if let mapped = t.f32Pointer {
            return FloatMatrix(rows: rows, columns: columns, borrowing: mapped, owner: checkpoint)
        }
        do {
            let matrix = try FloatMatrix(rows: rows, columns: columns) { try t.copyFloats(into: $0) }
            if t.dtype == .bf16, let base = t.bytes.baseAddress, Int(bitPattern: base) % 2 == 0 {
                matrix.attachBF16(base.assumingMemoryBound(to: UInt16.self), owner: checkpoint)
            }
            // The source pages were read once; let the resident set forget them (generation
            // faults the bf16 rows back in from the page cache when it reads them).
            MappedPages.release(t.bytes)
            return matrix
        } catch { throw BLTError.checkpoint("\(error)") }
    }
}
