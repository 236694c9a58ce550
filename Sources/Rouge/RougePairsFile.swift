import Foundation

/// A prediction and the reference it is scored against.
public struct RougePair: Sendable, Equatable {
    public var prediction: String
    public var reference: String

    public init(prediction: String, reference: String) {
        self.prediction = prediction
        self.reference = reference
    }
}

/// The `adapter-serve rouge --pairs FILE.jsonl` input: one `{"prediction": ..., "reference": ...}`
/// object per line. Parsed here rather than in the command so the error messages are tested.
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
            pairs.append(RougePair(prediction: try text(fields, "prediction", line: number),
                                   reference: try text(fields, "reference", line: number)))
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
