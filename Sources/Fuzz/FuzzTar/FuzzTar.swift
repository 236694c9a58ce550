import FuzzSupport
import Uploads

/// Untrusted `.tar` and `.tar.gz` uploads (gzip is detected by its magic bytes, as for a PUT).
/// The unpacked limit is small so a decompression bomb is refused quickly, as the server does.
@main enum FuzzTar {
    static func main() {
        FuzzTarget.run { data in _ = try? TarArchive.read(data, maxUnpackedBytes: 1 << 20) }
    }
}
