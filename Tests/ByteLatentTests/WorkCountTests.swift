import Foundation
import XCTest
import TestSupport
import ByteLatent

/// `WeightBytes` and `WorkCount` on tiny-a's shapes, counted by hand from its config.json.
///
/// tiny-a: vocabulary 260, k = 2. Entropy model: d 16, 2 heads × 8 (key-value width 16), SwiGLU
/// 40, 2 layers. Encoder: d 16, the same layer shape, 1 layer. Global: d 32, 2 heads × 16 (width
/// 32), SwiGLU 64, 2 layers, no input projection (k · 16 = 32). Decoder: like the encoder, 2 layers,
/// cross-attention in every layer. Hash n-grams: 1 function × 3 group sizes = 3 tables.
///
/// A 16-wide layer: q, k, v, o 4 · 16 · 16 = 1,024 and SwiGLU 3 · 16 · 40 = 1,920 → 2,944 weights.
/// A 32-wide global layer: 4 · 32 · 32 = 4,096 and 3 · 32 · 64 = 6,144 → 10,240.
/// - entropy model: 2 layers 5,888 + LM head 260 · 16 = 4,160 → 10,048 weights; rows per id: its
///   byte embedding, 16.
/// - encoder: 1 layer 2,944 + patch projection 16 · 32 = 512 + one cross-attention 4 · 16 · 16 =
///   1,024 → 4,480; rows per id: byte embedding 16 + 3 hash rows · 16 = 64.
/// - global: 2 layers → 20,480.
/// - decoder: patch projection 32 · 32 = 1,024 + 2 cross-attentions 2,048 + 2 layers 5,888 + LM
///   head 4,160 → 13,120.
/// Run once per completed patch in incremental decoding: the encoder's patch projection and
/// cross-attention (1,536), the decoder's patch projection and its cross-attentions' k and v
/// (1,024 + 2 · 2 · 16 · 16 = 2,048), the global transformer. A step reads the rest of the local
/// parts: 27,648 − 3,584 = 24,064 weights.
/// These are the matrices `Converters/reference/make_fixtures.py` wrote (the tensor list of
/// tiny-a/model.safetensors, norms and embedding tables aside).
final class WorkCountTests: XCTestCase {
    func tinyA() throws -> BLTConfig { try BLTConfig(contentsOf: Fixtures.modelDirectory("tiny-a") + "/config.json") }

    func testWeightBytesOfTinyAInF32AndBF16() throws {
        let f32 = WeightBytes(config: try tinyA(), bytesPerWeight: 4)
        XCTAssertEqual(f32.entropyModel, WeightBytes.Part(matrices: 10_048 * 4, rowsPerID: 16 * 4))
        XCTAssertEqual(f32.localEncoder, WeightBytes.Part(matrices: 4_480 * 4, rowsPerID: 64 * 4, perPatch: 1_536 * 4))
        XCTAssertEqual(f32.globalTransformer, WeightBytes.Part(matrices: 20_480 * 4, rowsPerID: 0, perPatch: 20_480 * 4))
        XCTAssertEqual(f32.localDecoder, WeightBytes.Part(matrices: 13_120 * 4, rowsPerID: 0, perPatch: 2_048 * 4))
        XCTAssertEqual(f32.allMatrices, 192_512)   // 48,128 weights · 4
        XCTAssertEqual(f32.localMatrices, 110_592)   // 27,648 weights · 4
        XCTAssertEqual(f32.stepMatrices, 96_256)   // 24,064 weights · 4
        XCTAssertEqual(f32.patchMatrices, 96_256)   // 20,480 + 3,584 weights · 4
        XCTAssertEqual(f32.rowsPerID, 320)
        // The loaded models: dtypes from their checkpoints.
        XCTAssertEqual(WeightBytes(model: try BLTModel(directory: Fixtures.modelDirectory("tiny-a"))), f32)
        let bf16 = WeightBytes(model: try BLTModel(directory: Fixtures.modelDirectory("tiny-a-bf16")))
        XCTAssertEqual(bf16.allMatrices, 96_256)
        XCTAssertEqual(bf16.rowsPerID, 160)
    }

    /// Two sequences of 10 ids and 4 patches in one packed pass: every matrix once (192,512 bytes),
    /// 20 ids · 320 bytes of rows → 198,912 bytes; FLOPs twice `ComputeCount.forward`'s 716,224
    /// (SweepTests counts it by hand). Without the entropy model: 152,320 + 20 · 256 = 157,440
    /// bytes, and 2 · (716,224 − 208,000) = 1,016,448 FLOPs.
    func testPackedPassReadsEachMatrixOnceAndRowsPerID() throws {
        let config = try tinyA()
        let weights = WeightBytes(config: config, bytesPerWeight: 4)
        let pass = WorkCount.packedPass(config, weights: weights, sequences: [(ids: 10, patches: 4), (ids: 10, patches: 4)], entropyModel: true)
        XCTAssertEqual(pass.weightBytesRead, 198_912)
        XCTAssertEqual(pass.flops.total, 1_432_448)
        let static_ = WorkCount.packedPass(config, weights: weights, sequences: [(ids: 10, patches: 4), (ids: 10, patches: 4)], entropyModel: false)
        XCTAssertEqual(static_.weightBytesRead, 157_440)
        XCTAssertEqual(static_.flops.total, 1_016_448)
        XCTAssertEqual(WorkCount.packedPass(config, weights: weights, sequences: [], entropyModel: true), WorkCount())
        // Rates over 2 s.
        XCTAssertEqual(pass.weightBytesPerSecond(seconds: 2), 99_456)
        XCTAssertEqual(pass.flopsPerSecond(seconds: 2), 716_224)
        XCTAssertEqual(pass.flopsPerSecond(seconds: 0), 0)
    }

    /// 20 ids, the first 8 the prompt, patches [1, 3, 4, 5, 7] starting at 0, 1, 4, 8, 13: two
    /// start after the prompt. Read: every matrix for the prompt (192,512), a step's 96,256 at each
    /// of 12 steps (1,155,072), a patch's 96,256 for 2 patches (192,512), rows 20 · 320 (6,400)
    /// → 1,546,496 bytes. FLOPs: one forward pass over 20 ids and 5 patches.
    func testGenerationReadsTheLocalPartsPerByteAndTheGlobalPerPatch() throws {
        let config = try tinyA()
        let weights = WeightBytes(config: config, bytesPerWeight: 4)
        let work = WorkCount.generation(config, weights: weights, ids: 20, promptIDs: 8, patchLengths: [1, 3, 4, 5, 7], entropyModel: true)
        XCTAssertEqual(work.weightBytesRead, 1_546_496)
        XCTAssertEqual(work.flops, ComputeCount.forward(config, ids: 20, patches: 5, entropyModel: true))
        // Decoding alone: 12 steps of 96,256 + 320 bytes, 2 patches of 96,256 → 1,351,424; the
        // FLOPs of 20 ids and 5 patches less those of the prompt's 8 ids and 3 patches.
        let decoding = WorkCount.decoding(config, weights: weights, ids: 20, promptIDs: 8, patchLengths: [1, 3, 4, 5, 7], entropyModel: true)
        XCTAssertEqual(decoding.weightBytesRead, 1_351_424)
        XCTAssertEqual(decoding.flops.total, ComputeCount.forward(config, ids: 20, patches: 5, entropyModel: true).total
                       - ComputeCount.forward(config, ids: 8, patches: 3, entropyModel: true).total, accuracy: 1e-6)
        // The prompt's pass: every matrix once ((27,648 local + 20,480 global weights) · 4 bytes)
        // and the rows of 8 ids (320 bytes each) → 195,072, as evaluation counts one pass over the
        // prompt's 8 ids and 3 patches.
        let promptPass = WorkCount.promptPass(config, weights: weights, ids: 20, promptIDs: 8, patchLengths: [1, 3, 4, 5, 7], entropyModel: true)
        XCTAssertEqual(promptPass.weightBytesRead, 195_072)
        XCTAssertEqual(promptPass, WorkCount.packedPass(config, weights: weights, sequences: [(ids: 8, patches: 3)], entropyModel: true))
        // The prompt alone: one pass, as evaluation counts it.
        let prompt = WorkCount.generation(config, weights: weights, ids: 8, promptIDs: 8, patchLengths: [1, 3, 4], entropyModel: true)
        XCTAssertEqual(prompt, WorkCount.packedPass(config, weights: weights, sequences: [(ids: 8, patches: 3)], entropyModel: true))
    }
}
