// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "clusterd",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Common", targets: ["Common"]),
        .library(name: "ClusterNode", targets: ["ClusterNode"]),
        .executable(name: "clusterd", targets: ["clusterd"]),
        .executable(name: "cluster_control", targets: ["cluster_control"]),
        .executable(name: "integrity-scan", targets: ["integrity-scan"]),
        .executable(name: "frame-dump", targets: ["frame-dump"]),
        .executable(name: "cluster-api", targets: ["cluster-api"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // cluster-api (the REST front): HTTP, TLS, certificates, JWT, bcrypt, YAML, Prometheus.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CBlake2", path: "Sources/CBlake2", providers: [.apt(["libb2-dev"])]),
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // Plain zlib (RFC 1950) for the 4.8.1 package container: CompressNIO's ByteBuffer API treats a
        // truncated stream as success, which the package reader must refuse.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMinizip", path: "Sources/CMinizip", providers: [.apt(["libminizip-dev"])]),
        // Raw deflate and CRC-32 of zip entries: whole buffers, several times zlib's speed at level 1.
        .systemLibrary(name: "CLibDeflate", path: "Sources/CLibDeflate", providers: [.apt(["libdeflate-dev"])]),
        // libcrypto's EVP AES-128-CBC and SHA-256 for Fernet: streaming, into our own buffers, with AES-NI/SHA-NI.
        .systemLibrary(name: "CLibCrypto", path: "Sources/CLibCrypto", providers: [.apt(["libssl-dev"])]),
        // AVX2 base64url and SHA-NI kernels for the wire codec (chosen at run time; Swift cannot compile one
        // function for AVX2 or SHA-NI).
        .target(name: "CWireKernels", path: "Sources/CWireKernels"),
        .target(name: "CFileSystem", path: "Sources/CFileSystem"),
        .target(
            name: "Common",
            dependencies: [
                "CBlake2", "CArchive", "CSQLite", "CMalloc", "CZlib", "CMinizip", "CLibDeflate", "CLibCrypto", "CWireKernels", "CFileSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The daemon's logic as a library: the state machines of each task, the shells that run them.
        .target(
            name: "ClusterNode",
            dependencies: [
                "Common",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "clusterd",
            dependencies: [
                "Common", "ClusterNode",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The REST front's logic as a library (tested in process); the executable is its command line.
        .target(
            name: "ClusterAPI",
            dependencies: [
                "Common",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "cluster-api",
            dependencies: ["ClusterAPI", "Common", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")]
        ),
        .executableTarget(
            name: "cluster_control",
            dependencies: ["Common", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "integrity-scan",
            dependencies: ["Common", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "frame-dump",
            dependencies: [
                "Common",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "agent-sim",
            dependencies: ["Common", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "wire-bench",
            dependencies: ["Common"],
            path: "Benchmarks/wire-bench"
        ),
        .executableTarget(
            name: "link-sim",
            dependencies: ["Common"],
            path: "Benchmarks/link-sim"
        ),
        .executableTarget(
            name: "dapi-bench",
            dependencies: ["Common"],
            path: "Benchmarks/dapi-bench"
        ),
        .executableTarget(
            name: "wdb-sim",
            dependencies: ["Common"],
            path: "Tools/wdb-sim"
        ),
        .executableTarget(
            name: "store-bench",
            dependencies: ["Common", "CSQLite"],
            path: "Benchmarks/store-bench"
        ),
        .testTarget(
            name: "CommonTests",
            dependencies: [
                "Common",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                // The reference Fernet in FernetFastPathTests uses swift-crypto's AES-CBC (BoringSSL).
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "ClusterNodeTests",
            dependencies: [
                "ClusterNode", "Common",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Common"]
        ),
        .testTarget(
            name: "ClusterAPITests",
            dependencies: ["ClusterAPI", "Common", .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "NIOCore", package: "swift-nio")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzz targets (`make fuzz`, README "Fuzzing"): one libFuzzer harness per parser of outside input. scripts/fuzz
// builds them with the fuzzer and address sanitizers and `-DFUZZING` (no `@main`: libFuzzer's main runs); in
// a normal build each is a small tool that runs the files or directories it is given through the same
// entry point, so the harnesses always compile and a reproducer can be replayed without sanitizers.
let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
    ("fuzz-wire", ["Common", .product(name: "NIOCore", package: "swift-nio"),
                   .product(name: "NIOEmbedded", package: "swift-nio")]),
    ("fuzz-fernet", ["Common", .product(name: "Crypto", package: "swift-crypto")]),
    ("fuzz-container", ["Common"]),
    ("fuzz-zip", ["Common"]),
    ("fuzz-json", ["Common"]),
    ("fuzz-config", ["Common"]),
    ("fuzz-pcap", ["Common"]),
    ("fuzz-pcapng", ["Common"]),
    ("fuzz-dapi", ["Common", "ClusterNode"]),
    ("fuzz-local", ["Common"]),
]
package.targets.append(.target(name: "FuzzSupport", dependencies: ["Common"], path: "Fuzz/FuzzSupport"))
for target in fuzzTargets {
    package.targets.append(.executableTarget(name: target.name, dependencies: target.dependencies + ["FuzzSupport"],
                                             path: "Fuzz/\(target.name)"))
}
