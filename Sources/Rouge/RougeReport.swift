import Foundation

/// What `adapter-serve rouge` prints: the mean F-measures and each pair's F-measures, in input
/// order. Kept in this module so its exact output is tested without running the executable.
public struct RougeReport: Sendable, Equatable, Codable {
    public var mean: RougeMeans
    public var pairs: [RougeMeans]

    public init(scores: [RougeScores]) {
        mean = meanFMeasures(scores)
        pairs = scores.map(\.fmeasures)
    }

    /// `{"mean": {...}, "pairs": [{...}, ...]}` with keys sorted, so output is stable across runs
    /// and platforms. Doubles are written in their shortest round-tripping form.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// A fixed-width table for people: one row per pair (numbered from 1, as the input lines of
    /// a file without blank lines are), then the mean, F-measures to four decimals.
    public func table() -> String {
        let header = ["pair", "rouge1", "rouge2", "rougeL", "rougeLsum"]
        var rows: [[String]] = pairs.enumerated().map { index, f in [String(index + 1)] + Self.cells(f) }
        rows.append(["mean"] + Self.cells(mean))
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        func render(_ row: [String]) -> String {
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        return ([render(header)] + rows.map(render)).joined(separator: "\n") + "\n"
    }

    private static func cells(_ f: RougeMeans) -> [String] {
        [f.rouge1, f.rouge2, f.rougeL, f.rougeLsum].map(fixed4)
    }

    /// Four decimals without `String(format:)`, whose output depends on the C locale.
    public static func fixed4(_ value: Double) -> String {
        guard value.isFinite else { return String(value) }
        let scaled = (abs(value) * 10_000).rounded()
        let whole = Int(scaled) / 10_000
        let fraction = String(Int(scaled) % 10_000)
        let sign = value < 0 && scaled != 0 ? "-" : ""
        return "\(sign)\(whole)." + String(repeating: "0", count: 4 - fraction.count) + fraction
    }
}
