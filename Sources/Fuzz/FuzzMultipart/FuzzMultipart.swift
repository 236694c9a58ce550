import Foundation
import FuzzSupport
import Uploads

/// Untrusted multipart/form-data uploads. Input layout: the Content-Type header value, a line
/// feed, then the body, so the fuzzer varies the boundary parameter as well as the parts.
@main enum FuzzMultipart {
    static func main() {
        FuzzTarget.run { data in
            let split = data.firstIndex(of: UInt8(ascii: "\n")) ?? data.endIndex
            let contentType = String(decoding: data[data.startIndex..<split], as: UTF8.self)
            let body = split < data.endIndex ? data[(split + 1)...] : Data()
            _ = try? MultipartFormData.parse(body: Data(body), contentType: contentType)
        }
    }
}
