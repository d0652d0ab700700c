/// Independent sequences (documents, or windows of documents) laid end to end in the rows of one
/// forward pass. Row r belongs to the sequence that starts at row `firstRow[r]` and sits at position
/// `r − firstRow[r]` in it: attention never reaches a row before its sequence's first row, and RoPE
/// positions restart at every sequence, so each sequence computes what it would alone while the
/// matrix products run over all rows at once.
struct PackedRows: Sendable, Equatable {
    /// Rows of each sequence (a sequence may have none, e.g. a document with no patch).
    let ranges: [Range<Int>]
    /// For every row, the first row of its sequence.
    let firstRow: [Int]
    var count: Int { firstRow.count }

    init(lengths: [Int]) {
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(lengths.count)
        var firstRow: [Int] = []
        firstRow.reserveCapacity(lengths.reduce(0, +))
        var start = 0
        for length in lengths {
            ranges.append(start ..< start + length)
            firstRow.append(contentsOf: repeatElement(start, count: length))
            start += length
        }
        self.ranges = ranges
        self.firstRow = firstRow
    }

    /// Position of every row within its own sequence (for RoPE).
    var positions: [Int] { firstRow.enumerated().map { $0.offset - $0.element } }

    /// Rows visible to row `row` in causal attention limited to `window` keys, inside its sequence.
    @inline(__always)
    func causalRange(_ row: Int, window: Int?) -> Range<Int> {
        let visible = ByteLatent.causalRange(row, window: window)
        return max(visible.lowerBound, firstRow[row]) ..< visible.upperBound
    }

    /// The sequence that row `row` belongs to.
    func sequence(ofRow row: Int) -> Int {
        // The last sequence starting at or before the row: the next starts after it, so this one
        // ends after it and holds it (it cannot be empty).
        var low = 0, high = ranges.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if ranges[middle].lowerBound <= row { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// `packed` ([count, width]) cut back into one buffer per sequence.
    func split(_ packed: [Float], width: Int) -> [[Float]] {
        ranges.map { Array(packed[$0.lowerBound * width ..< $0.upperBound * width]) }
    }
}
