import CKernels
import Foundation
import Safetensors

/// Hash n-gram embeddings: every position adds, for each hash function and each group size n,
/// one row of a huge table indexed by a rolling hash of the last n ids. The fused table
/// (`model.encoder_hash_tok_embedding.weight`, [functions·sizes·vocab, d]: 6 GB of bf16 in
/// blt-1b) stays on disk in its stored dtype; only the rows a text touches are read
/// (`TableRows`), widened as they are added.
public struct HashEmbedding: Sendable {
    /// The reference's primes, one per hash function.
    public static let primes: [Int64] = [
        1_000_000_007, 5_915_587_277, 1_500_450_271, 3_267_000_013, 5_754_853_343, 4_093_082_899,
        9_576_890_767, 3_628_273_133, 2_860_486_313, 5_463_458_053, 3_367_900_313,
    ]

    let table: TableRows
    let groupSizes: [Int]
    let functionCount: Int
    let vocabularySize: Int

    /// Hash ids of every position for one group size: Σ_j window[j]·prime^j over the last n ids
    /// (oldest × prime⁰, left-padded with id 0), in wrapping Int64 like torch, then floor-mod.
    public static func hashIDs(_ ids: [Int32], groupSize n: Int, prime: Int64, vocabularySize: Int,
                               positions: Range<Int>? = nil) -> [Int] {
        var powers = [Int64](repeating: 1, count: n)
        for j in 1..<max(n, 1) { powers[j] = powers[j - 1] &* prime }
        let modulus = Int64(vocabularySize)
        return (positions ?? ids.indices).map { t in
            var hash: Int64 = 0
            for j in 0..<n {
                let position = t - n + 1 + j
                let id = position >= 0 ? Int64(ids[position]) : 0
                hash = hash &+ id &* powers[j]
            }
            let remainder = hash % modulus
            return Int(remainder < 0 ? remainder + modulus : remainder)
        }
    }

    /// Adds the hash rows of `positions` of `ids` to `embeddings` ([positions.count, d], already
    /// holding the byte embeddings); earlier ids serve as the n-gram context.
    func addHashRows(ids: [Int32], positions: Range<Int>, to embeddings: UnsafeMutablePointer<Float>) {
        let d = table.columns
        var rowsPerPosition: [[Int]] = []
        for f in 0..<functionCount {
            for (g, n) in groupSizes.enumerated() {
                let tableIndex = f * groupSizes.count + g
                let hashes = Self.hashIDs(ids, groupSize: n, prime: Self.primes[f], vocabularySize: vocabularySize,
                                          positions: positions)
                rowsPerPosition.append(hashes.map { $0 + tableIndex * vocabularySize })
            }
        }
        let base = embeddings
        parallelChunks(positions.count, minimumChunk: 16) { rows in
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: table.rowBytes, alignment: 64)
            defer { buffer.deallocate() }
            for t in rows {
                // Same order as the reference: function by function, group size by group size.
                for rows in rowsPerPosition { table.addRow(rows[t], to: base + t * d, buffer: buffer) }
            }
        }
    }
}

/// Rows of a tensor read with `pread` from the checkpoint file rather than through the mapping.
/// On Linux 6.x the page cache holds large folios and a fault maps a whole folio: touching one
/// 2 KB row of the mapped hash table put about 1.3 MB in the resident set, so a 2 KiB text made
/// 5 GB of RSS. A read copies just the row (into a small per-call buffer) and leaves the page
/// cache out of the process's footprint.
final class TableRows: Sendable {
    let rows: Int
    let columns: Int
    let dtype: WeightDType
    let path: String
    private let descriptor: Int32
    private let offset: Int
    var rowBytes: Int { columns * dtype.byteSize }

    /// `offset`: where the tensor's data starts in the file at `path` (checked against the file
    /// size when the checkpoint was opened).
    init(path: String, offset: Int, rows: Int, columns: Int, dtype: WeightDType) throws {
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw BLTError.checkpoint(.cannotOpen(path: path, errno: errno), context: "cannot read the hash-embedding rows")
        }
        self.path = path; self.offset = offset
        self.rows = rows; self.columns = columns; self.dtype = dtype
    }

    deinit { close(descriptor) }

    /// dst[0..<columns] += row `index`. `buffer` holds at least `rowBytes`. A failed or short read
    /// (the file changed under us) adds NaN, which evaluation reports as a non-finite loss,
    /// instead of the SIGBUS a mapping would raise.
    func addRow(_ index: Int, to dst: UnsafeMutablePointer<Float>, buffer: UnsafeMutableRawPointer) {
        var done = 0
        while done < rowBytes {
            let n = pread(descriptor, buffer + done, rowBytes - done, off_t(offset + index * rowBytes + done))
            if n > 0 { done += n; continue }
            if n < 0 && errno == EINTR { continue }
            for i in 0..<columns { dst[i] = .nan }
            return
        }
        blt_add_row(dtype.kernelDType, buffer, dst, columns)
    }
}
