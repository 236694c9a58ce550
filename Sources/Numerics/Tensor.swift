/// A dense F32 tensor in row-major order. Weights are loaded into these once and shared by
/// every request; activations use them as reusable scratch buffers.
public struct Tensor: @unchecked Sendable {
    /// Dimensions, outermost first: a Linear weight is (out_features, in_features).
    public let shape: [Int]
    /// Row-major storage; `storage.count == shape.reduce(1, *)`.
    public var storage: [Float]

    public init(shape: [Int], storage: [Float]) {
        precondition(shape.reduce(1, *) == storage.count, "shape \(shape) does not match \(storage.count) values")
        self.shape = shape
        self.storage = storage
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public var count: Int { storage.count }
    /// Rows of a 2-D view: every dimension but the last.
    public var rows: Int { shape.dropLast().reduce(1, *) }
    /// Columns of a 2-D view: the last dimension.
    public var columns: Int { shape.last ?? 1 }
}
