import Foundation

/// A prediction and the reference(s) it is scored against.
public struct RougePair: Sendable, Equatable {
    public var prediction: String
    /// One or more references (a `"references"` line may give several; never empty).
    public var references: [String]
    /// The first reference: what single-reference scoring uses.
    public var reference: String { references[0] }

    public init(prediction: String, reference: String) {
        self.init(prediction: prediction, references: [reference])
    }

    public init(prediction: String, references: [String]) {
        precondition(!references.isEmpty, "a pair needs at least one reference")
        self.prediction = prediction
        self.references = references
    }
}

/// The `adapter-serve score|rouge --pairs FILE.jsonl` input: one `{"prediction": ..., "reference": ...}`
/// (or `"references": [...]`) object per line. Parsed here rather than in the command so the error messages are tested.
public enum RougePairsFile {
    /// Names the 1-based line, because the usual mistake is one bad line in a long file.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let message: String

        public init(line: Int, message: String) {
            self.line = line
            self.message = message
        }

        public var description: String { "line \(line): \(message)" }
    }

    /// Blank lines (only spaces, tabs or "\r") are skipped, so files with a trailing newline or
    /// CRLF endings work. Other keys in an object are ignored, so files that carry ids or metadata
    /// next to the two texts can be scored as they are.
    public static func parse(_ data: Data) throws(ParseError) -> [RougePair] {
        var bytes = [UInt8](data)
        // Editors on Windows may start the file with a UTF-8 byte order mark.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }

        var pairs: [RougePair] = []
        for (offset, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed])
            } catch {
                throw ParseError(line: number, message: "not valid JSON")
            }
            guard let fields = object as? [String: Any] else {
                throw ParseError(line: number, message: #"expected a JSON object with "prediction" and "reference""#)
            }
            let prediction = try text(fields, "prediction", line: number)
            if let many = fields["references"] {
                guard fields["reference"] == nil else {
                    throw ParseError(line: number, message: #"give either "reference" or "references", not both"#)
                }
                guard let list = many as? [Any], !list.isEmpty else {
                    throw ParseError(line: number, message: #""references" must be a non-empty array of strings"#)
                }
                let texts = list.compactMap { $0 as? String }
                guard texts.count == list.count else {
                    throw ParseError(line: number, message: #""references" must be a non-empty array of strings"#)
                }
                pairs.append(RougePair(prediction: prediction, references: texts))
            } else {
                pairs.append(RougePair(prediction: prediction, reference: try text(fields, "reference", line: number)))
            }
        }
        return pairs
    }

    private static func text(_ fields: [String: Any], _ key: String, line: Int) throws(ParseError) -> String {
        guard let value = fields[key] else { throw ParseError(line: line, message: #"missing "\#(key)""#) }
        guard let text = value as? String else {
            throw ParseError(line: line, message: #""\#(key)" must be a string"#)
        }
        return text
    }
}
