// swift-tools-version:6.0
// AdapterServe: one frozen FLAN-T5 on CPU serving many PEFT adapters over HTTP.
//
// Layers, dependencies pointing one way:
//   C shims (CBLAS, CKernels, CMicroHTTPD, CZlib, CCrypto) -> Numerics -> Tokenization, T5 -> Adapters -> Serving
//   -> HTTPCore, API -> adapter-serve (CLI). Rouge stands alone (used by Serving and the CLI).
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

        // Per-ISA kernels and the oneDNN shim, optimised in debug builds too (tests run them).
        .target(name: "CKernels", path: "Sources/CKernels",
                cSettings: [.unsafeFlags(["-O3"])],
                linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        .target(name: "Numerics", dependencies: ["CBLAS", "CKernels"], swiftSettings: hotCode),
        .target(name: "Tokenization"),
        .target(name: "T5", dependencies: ["Numerics"], swiftSettings: hotCode),
        .target(name: "Adapters", dependencies: ["T5", "Numerics", "CCrypto"], swiftSettings: hotCode),
        .target(name: "Rouge"),
        .target(name: "Serving", dependencies: [
            "Adapters", "T5", "Tokenization", "Numerics", "Rouge",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "HTTPCore", dependencies: ["CMicroHTTPD", "CZlib"]),
        .target(name: "API", dependencies: [
            "HTTPCore", "Serving", "Adapters", "T5", "Rouge",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "AdapterServeCLI", dependencies: [
            "API", "Serving", "Adapters", "T5", "Tokenization", "Numerics", "Rouge",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "NumericsTests", dependencies: ["Numerics"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"]),
        .testTarget(name: "T5Tests", dependencies: ["T5", "Numerics"]),
        .testTarget(name: "AdaptersTests", dependencies: ["Adapters", "T5", "Numerics"]),
        .testTarget(name: "RougeTests", dependencies: ["Rouge"]),
        // Test support shared by the HTTP test suites (a real client: curl), as HummingbirdTesting.
        .target(name: "HTTPTesting", dependencies: ["HTTPCore"], path: "Tests/HTTPTesting"),
        .testTarget(name: "HTTPCoreTests", dependencies: ["HTTPCore", "HTTPTesting"]),
        // The CLI tests run the adapter-serve binary; depending on its target makes
        // `swift build --build-tests` rebuild it, so they never test a stale binary.
        .testTarget(name: "CLITests", dependencies: ["HTTPTesting", "AdapterServeCLI"]),
        .testTarget(name: "APITests", dependencies: ["API", "Serving", "HTTPCore", "HTTPTesting", "Adapters", "T5", "Rouge"]),
    ]
)
