import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What a network test needs from the machine.
///
/// A test lists its needs in an `.enabled(if: Prerequisites.available(...))` trait. When something is
/// missing the trait prints a loud notice on standard error and the test is skipped — except under
/// `CI=true`, where the trait lets the test run and `Prerequisites.require(...)` at its start fails it.
enum Prerequisite: String, CaseIterable, Sendable {
    case root
    /// `ip netns add` works (iproute2 installed, and the privilege to create namespaces and veth pairs).
    case netns
    case tcpdump
    case tshark
    case text2pcap
    case nmbd
    /// nats-server and the NATS C client (libnats), for the bridge between sites.
    case nats

    /// What to install or do to get it.
    var remedy: String {
        switch self {
        case .root: return "run the tests as root"
        case .netns: return "install iproute2 and run as root with CAP_SYS_ADMIN/CAP_NET_ADMIN (ip netns add must work)"
        case .tcpdump: return "apt-get install tcpdump"
        case .tshark: return "apt-get install tshark"
        case .text2pcap: return "apt-get install tshark (text2pcap comes with wireshark-common)"
        case .nmbd: return "apt-get install samba (for nmbd)"
        case .nats: return "apt-get install nats-server libnats3.4"
        }
    }
}

enum Prerequisites {
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Directories searched for external tools, after `PATH` (sbin is often missing from a user's PATH).
    static let extraDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    /// The full path of an external tool, or nil.
    static func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + extraDirectories where !directory.isEmpty {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [Prerequisite: Bool] = [:]

    static func isPresent(_ p: Prerequisite) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if let known = cache[p] { return known }
        let present: Bool
        switch p {
        case .root: present = geteuid() == 0
        case .netns: present = geteuid() == 0 && probeNamespaces()
        case .tcpdump: present = tool("tcpdump") != nil
        case .tshark: present = tool("tshark") != nil
        case .text2pcap: present = tool("text2pcap") != nil
        case .nmbd: present = tool("nmbd") != nil
        case .nats:
            present = tool("nats-server") != nil && tool("ldconfig").map { Blocking.run([$0, "-p"], timeout: 10).stdout.contains("libnats.so") } == true
        }
        cache[p] = present
        return present
    }

    /// Creates and deletes a namespace of our own, to learn whether namespaces can be made here.
    private static func probeNamespaces() -> Bool {
        guard let ip = tool("ip") else { return false }
        let name = "mslot-probe-\(getpid())"
        guard Blocking.run([ip, "netns", "add", name], timeout: 10).status == 0 else { return false }
        defer { _ = Blocking.run([ip, "netns", "del", name], timeout: 10) }
        // veth creation inside the namespace: the topology the tests build.
        let v = "mslprobe\(getpid() % 100_000)"
        let ok = Blocking.run([ip, "-n", name, "link", "add", v + "a", "type", "veth", "peer", "name", v + "b"], timeout: 10).status == 0
        return ok
    }

    static func missing(_ needs: [Prerequisite]) -> [Prerequisite] { needs.filter { !isPresent($0) } }

    /// The trait condition: true when everything is present, or under CI (so that the test runs and fails).
    /// Otherwise prints a loud skip notice and returns false.
    static func available(_ needs: Prerequisite..., test: String) -> Bool {
        let absent = missing(needs)
        if absent.isEmpty { return true }
        let list = absent.map { "\($0.rawValue) (\($0.remedy))" }.joined(separator: "; ")
        let verdict = isCI ? "FAILING (CI=true)" : "SKIPPING"
        FileHandle.standardError.write(Data("""

            ************************************************************************************************
            *** \(verdict) network test '\(test)': missing \(list).
            *** These end-to-end tests need root, network namespaces, tcpdump, tshark and Samba's nmbd.
            *** Under CI=true a missing prerequisite FAILS the test instead of skipping it.
            ************************************************************************************************

            """.utf8))
        return isCI // under CI the test runs, and Prerequisites.require fails it
    }

    /// Call first in a test body: fails the test (it only runs with something missing under CI=true).
    static func require(_ needs: Prerequisite...) throws {
        let absent = missing(needs)
        guard !absent.isEmpty else { return }
        let list = absent.map { "\($0.rawValue) (\($0.remedy))" }.joined(separator: "; ")
        throw HarnessError("missing test prerequisites (CI=true makes this a failure): \(list)")
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
