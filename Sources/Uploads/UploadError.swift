/// Why an upload could not be decoded. `code` is stable for API clients to branch on;
/// `message` says what was wrong in words. The module that serves uploads maps it to a response.
public struct UploadError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidMultipart = "invalid_multipart"
        case invalidTar = "invalid_tar"
        case unsafeTarEntry = "unsafe_tar_entry"
        case invalidGzip = "invalid_gzip"
        case uploadTooLarge = "upload_too_large"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
