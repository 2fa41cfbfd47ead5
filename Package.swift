// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Mailslot",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Mailslot", targets: ["Mailslot"]),
        // The Win32 C API (include/mailslot_win32.h) as a shared library: -lMailslotWin32.
        .library(name: "MailslotWin32", type: .dynamic, targets: ["MailslotWin32"]),
        .executable(name: "mailslot", targets: ["mailslot"]),
        .executable(name: "mailslot-bench", targets: ["mailslot-bench"]),
        .executable(name: "mailslotd", targets: ["mailslotd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.60.0"),
    ],
    targets: [
        // Core: names, errors, info, the wire codec. No I/O.
        .target(name: "MailslotCore"),
        // The few Linux facilities Swift cannot import directly (futex, CMSG macros, ucred).
        .target(name: "CMailslotShim"),
        // libfuse3's low-level API, declared by us and loaded at run time (dlopen), so that the package
        // builds and runs without libfuse3; only mailslots as files need it.
        .target(name: "CMailslotFuse"),
        // The NATS C client (nats.c, Debian's libnats), declared by us and loaded at run time, so that the
        // package builds and runs without it; only mailslotd's bridge between sites needs it.
        .target(name: "CMailslotNats"),
        // The only layer that talks to the kernel.
        .target(
            name: "MailslotTransport",
            dependencies: ["MailslotCore", "CMailslotShim", "CMailslotFuse", "CMailslotNats", .product(name: "Logging", package: "swift-log")]
        ),
        // The public Swift API.
        .target(
            name: "Mailslot",
            dependencies: ["MailslotCore", "MailslotTransport", .product(name: "Logging", package: "swift-log")]
        ),
        // The Win32 C API: the public header (include/mailslot_win32.h), the plain C helpers, and the
        // Swift implementation of the mailslot, event and NT functions.
        .target(name: "CMailslotWin32"),
        .target(name: "MailslotWin32", dependencies: ["Mailslot", "MailslotTransport", "CMailslotWin32"]),
        // The network gateway: Remote Mailslot Protocol datagrams in, local mailslot writes out.
        .target(
            name: "MailslotGateway",
            dependencies: ["Mailslot", "MailslotTransport", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")]
        ),
        // Mailslots as files: the FUSE file system (what each file operation means for a mailslot).
        .target(
            name: "MailslotFiles",
            dependencies: ["Mailslot", "MailslotTransport", "CMailslotFuse", .product(name: "Logging", package: "swift-log")]
        ),
        // What the executables share: the configuration flags (one spelling everywhere).
        .target(
            name: "MailslotCommandLine",
            dependencies: ["Mailslot", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "mailslotd",
            dependencies: ["MailslotGateway", "MailslotCommandLine", "MailslotTransport", "MailslotFiles",
                           .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                           .product(name: "Metrics", package: "swift-metrics"),
                           .product(name: "CoreMetrics", package: "swift-metrics"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio")]
        ),
        .executableTarget(
            name: "mailslot",
            dependencies: ["Mailslot", "MailslotCommandLine", "MailslotTransport", "MailslotFiles", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Bench-only system calls for the baselines (POSIX mq, raw sockets, CPU pinning).
        .target(name: "CBenchShim", linkerSettings: [.linkedLibrary("rt")]),
        .executableTarget(
            name: "mailslot-bench",
            dependencies: ["Mailslot", "MailslotGateway", "MailslotFiles", "MailslotTransport", "CMailslotFuse", "CBenchShim",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Helpers the test targets share (processes, names, prerequisites).
        .target(name: "MailslotTestSupport", dependencies: ["MailslotCore", "MailslotTransport"], path: "Tests/MailslotTestSupport"),
        .testTarget(name: "MailslotCoreTests", dependencies: ["MailslotCore", "MailslotTestSupport"], resources: [.copy("Vectors")]),
        .testTarget(name: "MailslotTransportTests", dependencies: ["MailslotTransport", "MailslotCore", "MailslotTestSupport"]),
        .testTarget(name: "MailslotTests", dependencies: ["Mailslot", "MailslotTestSupport"]),
        .testTarget(name: "MailslotWin32Tests", dependencies: ["Mailslot", "MailslotTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "MailslotGatewayTests", dependencies: ["MailslotGateway", "Mailslot", "MailslotTestSupport"], exclude: ["Fixtures"]),
        // Mailslots as files, through a FUSE mount the tests make (root; CI).
        .testTarget(name: "MailslotFilesTests", dependencies: ["MailslotFiles", "Mailslot", "MailslotTransport", "MailslotTestSupport"], exclude: ["Fixtures"]),
        // Hosts in network namespaces, Samba's nmbd and tshark as independent peers (root; CI).
        .testTarget(name: "MailslotNetworkTests", dependencies: ["Mailslot", "MailslotTestSupport"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
