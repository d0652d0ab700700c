import Safetensors
import XCTest
import TestSupport
@testable import ByteLatent
import JSONSupport

/// The public test vectors of the official facebookresearch/blt code (blt-architecture.md §1, §3, §4).
final class OfficialVectorTests: XCTestCase {
    var vectors: JSONValue!
    override func setUpWithError() throws { vectors = try Fixtures.json("official-vectors.json") }

    func testTokenizerMatchesOfficialFixture() throws {
        let text = try XCTUnwrap(vectors["tokenizer"]["text"].string)
        let expected = vectors["tokenizer"]["ids_with_bos_eos"].ints.map(Int32.init)
        XCTAssertEqual(Tokenizer.encode(text), expected)
        XCTAssertEqual(Tokenizer.decode(expected), text)
        XCTAssertEqual(Tokenizer.encode(text, addEOS: false), Array(expected.dropLast()))
    }

    func testTokenizerDecodingDropsSpecialsAndKeepsMultibyte() {
        let ids = Tokenizer.encode("é漢🙂")
        XCTAssertEqual(ids.count, 1 + 2 + 3 + 4 + 1)
        XCTAssertEqual(Tokenizer.decode([0, 1, 2, 3] + ids), "é漢🙂")
    }

    func testHashIDsMatchOfficialVectors() throws {
        let tokens = vectors["hash"]["tokens"].ints.map(Int32.init)
        let vocab = try XCTUnwrap(vectors["hash"]["vocab"].int)
        let prime = Int64(try XCTUnwrap(vectors["hash"]["prime"].int))
        XCTAssertEqual(prime, HashEmbedding.primes[0])
        let byN = vectors["hash"]["ids_by_n"]
        XCTAssertEqual(byN.keys.count, 6)
        for key in byN.keys {
            let n = try XCTUnwrap(Int(key))
            XCTAssertEqual(HashEmbedding.hashIDs(tokens, groupSize: n, prime: prime, vocabularySize: vocab), byN[key].ints, "n = \(n)")
        }
    }

    func testHashUsesWrappingSignedArithmetic() {
        // blt-architecture.md §4: UInt64 arithmetic would give 54307 / 286024 / 452861 at t = 4, 6, 9 for n = 8.
        let tokens: [Int32] = [1, 72, 101, 105, 114, 105, 118, 125, 119, 36]
        let ids = HashEmbedding.hashIDs(tokens, groupSize: 8, prime: 1_000_000_007, vocabularySize: 500_002)
        XCTAssertNotEqual(ids[4], 54307)
        XCTAssertNotEqual(ids[9], 452861)
    }

    func testPatchRuleOnTheEightyOneTokenExample() throws {
        let patching = vectors["entropy_patching"]
        let entropies = patching["entropies_nats"].floats
        let threshold = Float(try XCTUnwrap(patching["threshold"].double))
        let expected = patching["patch_lengths_without_next_token"].ints
        XCTAssertEqual(entropies.count, 81)
        XCTAssertEqual(Patching.officialPatchLengths(entropies: entropies, threshold: threshold, includeNextToken: false), expected)
        var withNext = expected
        withNext[withNext.count - 1] += 1
        XCTAssertEqual(Patching.officialPatchLengths(entropies: entropies, threshold: threshold, includeNextToken: true), withNext)
        // transformers' convention covers exactly the ids; H[80] = 0 ≤ θ so no trailing empty patch.
        XCTAssertEqual(Patching.patchLengths(entropies: entropies, threshold: threshold), expected)
        // The starts listed in the vectors.
        var starts: [Int] = []
        var start = 0
        for length in expected { starts.append(start); start += length }
        XCTAssertEqual(starts, patching["patch_starts"].ints)
    }

    func testPatchEdgeCasesOfTheSpec() throws {
        let entropies = vectors["entropy_patching"]["entropies_nats"].floats
        let threshold: Float = 1.335442066192627
        // §3.3: N = 1 with include_next gives [1, 1]; without, [1].
        XCTAssertEqual(Patching.officialPatchLengths(entropies: [3], threshold: threshold, includeNextToken: true), [1, 1])
        XCTAssertEqual(Patching.officialPatchLengths(entropies: [3], threshold: threshold, includeNextToken: false), [1])
        // §3.4: the N = 20 prefix gives [1,1,1,1,1,15,1]; N = 12 gives [1,1,1,1,1,8].
        XCTAssertEqual(Patching.officialPatchLengths(entropies: Array(entropies.prefix(20)), threshold: threshold, includeNextToken: true),
                       [1, 1, 1, 1, 1, 15, 1])
        XCTAssertEqual(Patching.officialPatchLengths(entropies: Array(entropies.prefix(12)), threshold: threshold, includeNextToken: true),
                       [1, 1, 1, 1, 1, 8])
        // transformers: the unseen slot becomes a zero-length patch instead.
        XCTAssertEqual(Patching.patchLengths(entropies: Array(entropies.prefix(20)), threshold: threshold), [1, 1, 1, 1, 1, 15, 0])
        // §3.4 decoder ids for N = 20 and N = 12.
        XCTAssertEqual(Patching.decoderPatchIDs(lengths: [1, 1, 1, 1, 1, 15, 1], count: 20),
                       [0, 1, 2, 3] + Array(repeating: 4, count: 15) + [5])
        XCTAssertEqual(Patching.decoderPatchIDs(lengths: [1, 1, 1, 1, 1, 8], count: 12),
                       [0, 1, 2, 3] + Array(repeating: 4, count: 8))
        // No entropy above θ: [1, N − 1].
        XCTAssertEqual(Patching.patchLengths(entropies: Array(repeating: 0, count: 9), threshold: threshold), [1, 8])
    }

    func testMaxPatchLengthSplitsAndDropsEmptyPatches() {
        let entropies: [Float] = [9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]   // boundary after the last byte
        XCTAssertEqual(Patching.patchLengths(entropies: entropies, threshold: 1), [1, 10, 0])
        XCTAssertEqual(Patching.patchLengths(entropies: entropies, threshold: 1, maxPatchLength: 4), [1, 4, 4, 2])
    }
}
