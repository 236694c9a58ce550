import Foundation
import HTTPTesting
import HTTPCore
import Uploads
import Testing

@Suite("MultipartFormData")
struct MultipartFormDataTests {
    @Test("CRLF and bare-LF bodies give the same parts")
    func lineEndings() throws {
        let crlf = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nfirst\r\n"
            + "--XyZ\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b.txt\"\r\nContent-Type: text/plain\r\n\r\n"
            + "line1\r\nline2\r\n--XyZ--\r\n"
        let lf = crlf.replacingOccurrences(of: "\r\n", with: "\n")
        let fromCRLF = try MultipartFormData.parse(body: Data(crlf.utf8), contentType: "multipart/form-data; boundary=XyZ")
        let fromLF = try MultipartFormData.parse(body: Data(lf.utf8), contentType: "multipart/form-data; boundary=XyZ")
        #expect(fromCRLF.map(\.name) == ["a", "b"])
        #expect(fromCRLF[0].data == Data("first".utf8))
        #expect(fromCRLF[1].data == Data("line1\r\nline2".utf8))
        #expect(fromCRLF[1].filename == "b.txt")
        #expect(fromCRLF[1].contentType == "text/plain")
        #expect(fromLF.map(\.name) == ["a", "b"])
        #expect(fromLF[1].data == Data("line1\nline2".utf8))
    }

    @Test("Quoted boundaries, preamble, epilogue, padding and look-alike lines")
    func quotedBoundaryAndNoise() throws {
        let boundary = "a b:c'(x)"
        let body = "This is a preamble.\r\n--\(boundary)  \r\n"
            + "content-disposition: FORM-DATA; name=\"f\\\"q\"; filename=\"C:\\\\dir\\\\x.bin\"\r\n\r\n"
            + "--\(boundary)x is not a delimiter\r\n --\(boundary) neither\r\n"
            + "--\(boundary)--\r\nepilogue --\(boundary)\r\n"
        let parts = try MultipartFormData.parse(body: Data(body.utf8),
                                                contentType: "Multipart/Form-Data; charset=utf-8; boundary=\"\(boundary)\"")
        #expect(parts.count == 1)
        #expect(parts[0].name == "f\"q")
        #expect(parts[0].filename == "C:\\dir\\x.bin")
        #expect(parts[0].data == Data("--\(boundary)x is not a delimiter\r\n --\(boundary) neither".utf8))
    }

    @Test("RFC 8187 filename* wins over filename")
    func extendedFilename() throws {
        let body = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fallback.txt\"; "
            + "filename*=UTF-8''%E2%9C%93%20ok.txt\r\n\r\nx\r\n--b--"
        let parts = try MultipartFormData.parse(body: Data(body.utf8), contentType: "multipart/form-data; boundary=b")
        #expect(parts.first?.filename == "✓ ok.txt")
    }

    @Test("A close delimiter right away means no parts")
    func noParts() throws {
        #expect(try MultipartFormData.parse(body: Data("--b--\r\n".utf8), contentType: "multipart/form-data; boundary=b").isEmpty)
    }

    @Test("Malformed input is rejected with invalid_multipart", arguments: [
        ("multipart/form-data", "--b\r\n\r\nx\r\n--b--", "no boundary parameter"),
        ("multipart/form-data; boundary=", "--\r\n\r\nx\r\n----", "empty boundary"),
        ("multipart/form-data; boundary=\"unterminated", "--b--", "unterminated quote"),
        ("application/json; boundary=b", "--b--", "not multipart"),
        ("multipart/form-data; boundary=b", "", "empty body"),
        ("multipart/form-data; boundary=b", "no delimiter at all", "boundary absent"),
        ("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ndata", "no closing boundary"),
        ("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ndata\r\n--b\r\n", "ends after a delimiter"),
        ("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"a\"\r\ndata\r\n--b--", "headers never end"),
        ("multipart/form-data; boundary=b", "--b\r\nContent-Type: text/plain\r\n\r\ndata\r\n--b--", "no Content-Disposition"),
        ("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data\r\n\r\ndata\r\n--b--", "no name"),
        ("multipart/form-data; boundary=b", "--b\r\nnot a header\r\n\r\ndata\r\n--b--", "header without colon"),
        ("multipart/form-data; boundary=b", "--b\r\n--b--", "part without headers"),
    ])
    func malformed(contentType: String, body: String, why: String) {
        let error = #expect(throws: UploadError.self, "\(why)") {
            try MultipartFormData.parse(body: Data(body.utf8), contentType: contentType)
        }
        #expect(error?.code == .invalidMultipart, "\(why)")
        #expect(error?.message.isEmpty == false)
    }

    @Test("The boundary is read from Content-Type, quoted or not")
    func boundaryExtraction() throws {
        #expect(try MultipartFormData.boundary(fromContentType: "multipart/form-data; boundary=----abc123") == "----abc123")
        #expect(try MultipartFormData.boundary(fromContentType: "multipart/form-data;boundary=\"x;y\"") == "x;y")
        #expect(try MultipartFormData.boundary(fromContentType: "multipart/form-data; BOUNDARY=Q ; x=1") == "Q")
    }
}

extension LiveServerTests {
    @Suite("Multipart uploads over HTTP")
    struct MultipartUploads {
        @Test("Bodies produced by curl -F parse into fields and files, byte for byte")
        func curlProducedBody() throws {
            let scratch = try TemporaryDirectory()
            let config = try scratch.write("adapter_config.json", Data(#"{"r": 8, "lora_alpha": 16}"#.utf8))
            // Binary content including CR, LF and "--" sequences that must not confuse the parser.
            var weights = testBytes(count: 200_000, seed: 3)
            weights.append(Data("\r\n--\r\n--x\n".utf8))
            let weightsFile = try scratch.write("weights.bin", weights)
            try withServer { _, base in
                let response = try curl(["-F", "name=my adapter ✓", "-F", "config=@\(config.path);type=application/json",
                                         "-F", "weights=@\(weightsFile.path);filename=adapter_model.safetensors",
                                         "-F", "empty=", base + "/multipart"])
                #expect(response.status == 200, "\(response.text)")
                let parts = try response.decode([PartSummary].self)
                #expect(parts.map(\.name) == ["name", "config", "weights", "empty"])
                #expect(parts[0].data == Data("my adapter ✓".utf8))
                #expect(parts[0].filename == nil)
                #expect(parts[1].filename == "adapter_config.json")
                #expect(parts[1].contentType == "application/json")
                #expect(parts[1].data == (try Data(contentsOf: config)))
                #expect(parts[2].filename == "adapter_model.safetensors")
                #expect(parts[2].contentType == "application/octet-stream")
                #expect(parts[2].data == weights)
                #expect(parts[3].data.isEmpty)
            }
        }

        @Test("Invalid multipart uploads come back as a 400 in the error shape")
        func invalidOverHTTP() throws {
            try withServer { _, base in
                let response = try curl(["-H", "Content-Type: multipart/form-data", "--data-binary", "x", base + "/multipart"])
                #expect(response.status == 400)
                #expect(try response.decode(ErrorBody.self).error.code == "invalid_multipart")
            }
        }
    }
}
