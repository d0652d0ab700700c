extension BLTModel {
    /// Throws when a weight file was truncated after the model was loaded (a `SafetensorsError`
    /// naming the file), instead of the SIGBUS that reading its mapped pages would raise. Long-lived
    /// users (a server between requests) call it before each use.
    public func checkWeightFilesUnchanged() throws {
        try checkpoint.checkFilesUnchanged()
    }
}
