// What the plots (ByteLatentPlots) need from the engine beyond its public API, with package access.

extension PatchingScheme {
    /// A scheme taken as given (no range checks), for drawing settings that were already used.
    package init(drawing rule: PatchingRule, threshold: Float, maxPatchLength: Int?) {
        self.init(unchecked: rule, threshold: threshold, maxPatchLength: maxPatchLength)
    }
}
