// swift-tools-version:6.0
// AdapterServe: one frozen FLAN-T5 on CPU serving many PEFT adapters over HTTP.
//
// Layers, dependencies pointing one way:
//   C shims (CBLAS, CKernels, CMicroHTTPD, CZlib, CCrypto, CHub) -> Numerics -> Tokenization, T5 -> Adapters
//   -> Serving -> HTTPCore, Uploads, API -> adapter-serve (CLI). Rouge and Bleu stand alone (used by Serving and the CLI).
import PackageDescription

/// Hot numeric code is built for the x86-64 baseline, so one binary runs on any x86-64 CPU: the
/// kernels that need AVX2/AVX-512 live in CKernels, in per-ISA variants chosen at start.
let hotCode: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked"]),
]

let package = Package(
    name: "AdapterServe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "adapter-serve", targets: ["AdapterServeCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // C at the edges: each imported by exactly one Swift module.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CMicroHTTPD", path: "Sources/CMicroHTTPD",
                linkerSettings: [.linkedLibrary("microhttpd")]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        // libcurl and OpenSSL digests for the Hugging Face Hub client (imported by Hub only).
        .target(name: "CHub", path: "Sources/CHub", linkerSettings: [.linkedLibrary("curl"), .linkedLibrary("crypto")]),

        // Per-ISA kernels and the oneDNN shim, optimised in debug builds too (tests run them).
        .target(name: "CKernels", path: "Sources/CKernels",
                cSettings: [.unsafeFlags(["-O3"])],
                linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        .target(name: "Numerics", dependencies: ["CBLAS", "CKernels"], swiftSettings: hotCode),
        // Parsers of untrusted bytes keep their bounds and overflow checks (no -Ounchecked):
        // the safetensors reader here, PEFT configs and adapters in Adapters, upload formats in Uploads.
        .target(name: "SafeTensors", dependencies: ["Numerics"]),
        .target(name: "Tokenization"),
        .target(name: "T5", dependencies: ["Numerics", "SafeTensors"], swiftSettings: hotCode),
        .target(name: "Adapters", dependencies: ["T5", "Numerics", "SafeTensors", "CCrypto"]),
        .target(name: "Rouge"),
        .target(name: "Bleu"),
        .target(name: "Serving", dependencies: [
            "Adapters", "T5", "Tokenization", "Numerics", "Rouge", "Bleu",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "HTTPCore", dependencies: ["CMicroHTTPD"]),
        // Upload formats (multipart/form-data, tar, gzip), owned by the API's adapter uploads.
        .target(name: "Uploads", dependencies: ["HTTPCore", "CZlib"]),
        .target(name: "Hub", dependencies: ["CHub"]),
        .target(name: "API", dependencies: [
            "HTTPCore", "Uploads", "Serving", "Adapters", "T5", "Rouge",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], resources: [.embedInCode("openapi.json")]),
        .executableTarget(name: "AdapterServeCLI", dependencies: [
            "API", "Serving", "Adapters", "T5", "Tokenization", "Numerics", "Rouge", "Bleu", "Hub",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "NumericsTests", dependencies: ["Numerics", "SafeTensors"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"]),
        .testTarget(name: "T5Tests", dependencies: ["T5", "Numerics", "SafeTensors"]),
        .testTarget(name: "AdaptersTests", dependencies: ["Adapters", "T5", "Numerics", "SafeTensors"]),
        .testTarget(name: "RougeTests", dependencies: ["Rouge"]),
        .testTarget(name: "BleuTests", dependencies: ["Bleu"]),
        // Test support shared by the HTTP test suites (a real client: curl), as HummingbirdTesting.
        .target(name: "HTTPTesting", dependencies: ["HTTPCore"], path: "Tests/HTTPTesting"),
        .testTarget(name: "HTTPCoreTests", dependencies: ["HTTPCore", "HTTPTesting", "Uploads"]),
        // The CLI tests run the adapter-serve binary; depending on its target makes
        // `swift build --build-tests` rebuild it, so they never test a stale binary.
        .testTarget(name: "CLITests", dependencies: ["HTTPTesting", "AdapterServeCLI"]),
        .testTarget(name: "HubTests", dependencies: ["Hub", "HTTPTesting", "API", "Serving",
                                                     .product(name: "Logging", package: "swift-log")],
                    exclude: ["fake_hub.py"]),
        .testTarget(name: "APITests", dependencies: ["API", "Serving", "HTTPCore", "HTTPTesting", "Adapters", "T5", "Rouge", "Bleu",
                                                     "Numerics", "SafeTensors"]),

        // libFuzzer targets (scripts/checks/fuzz.sh builds them alone with -sanitize=fuzzer); in the
        // ordinary build each replays the input files it is given. One thin file per parser.
        .target(name: "CFuzzerDriver", path: "Sources/Fuzz/CFuzzerDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzerDriver"], path: "Sources/Fuzz/FuzzSupport"),
        .executableTarget(name: "FuzzSafeTensors", dependencies: ["FuzzSupport", "SafeTensors"], path: "Sources/Fuzz/FuzzSafeTensors"),
        .executableTarget(name: "FuzzPEFTConfig", dependencies: ["FuzzSupport", "Adapters"], path: "Sources/Fuzz/FuzzPEFTConfig"),
        .executableTarget(name: "FuzzMultipart", dependencies: ["FuzzSupport", "Uploads"], path: "Sources/Fuzz/FuzzMultipart"),
        .executableTarget(name: "FuzzTar", dependencies: ["FuzzSupport", "Uploads"], path: "Sources/Fuzz/FuzzTar"),
        .executableTarget(name: "FuzzJSONBody", dependencies: [
            "FuzzSupport", "API", "Serving", "HTTPCore", .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Fuzz/FuzzJSONBody"),
        .executableTarget(name: "FuzzTokenizerEncode", dependencies: ["FuzzSupport", "Tokenization"], path: "Sources/Fuzz/FuzzTokenizerEncode"),
        .executableTarget(name: "FuzzTokenizerLoad", dependencies: ["FuzzSupport", "Tokenization"], path: "Sources/Fuzz/FuzzTokenizerLoad"),
    ]
)
