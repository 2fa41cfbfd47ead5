import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The executables built with the package, next to the test bundle.
enum Products {
    static var directory: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    static func path(_ name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("the \(name) executable is not built at \(path); run `swift build` before `swift test`")
        }
        return path
    }

    static func mailslot() throws -> String { try path("mailslot") }
    static func mailslotd() throws -> String { try path("mailslotd") }
}

/// The test fixtures, copied into the test bundle (tests never read /work/shared).
enum Fixtures {
    static var directory: URL {
        get throws {
            guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
                throw HarnessError("the Fixtures resource directory is missing from the test bundle")
            }
            return url
        }
    }

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(relativePath), encoding: .utf8)
    }
}

/// One machine of a lab: a network namespace with one veth interface on the lab's bridge.
struct Host: Sendable, CustomStringConvertible {
    var label: String
    var namespace: String
    var interface: String
    var address: String
    var broadcast: String
    var prefix: Int
    var computerName: String
    var workgroup: String
    var description: String { "\(computerName)(\(address) in \(namespace))" }
}

/// A small LAN made of network namespaces: a "switch" namespace holding a bridge, and one namespace per
/// host joined to it by a veth pair. Everything is named after this process's pid and a per-lab counter,
/// lives only inside namespaces the lab created (nothing is added to the test's own namespace), and is
/// removed by ``shutdown()``: every process the lab started is stopped by pid, then the bridge and the
/// namespaces are deleted, along with the per-namespace /etc/netns files.
final class Lab: @unchecked Sendable {
    private static let counter = Counter()

    let number: Int
    let pid = getpid()
    let directory: String
    let subnet: String // "10.71.0": hosts get subnet.N/24
    let switchNamespace: String
    let bridge: String
    /// An empty configuration file: MAILSLOT_CONFIG points here so /etc/mailslot.conf cannot interfere.
    let emptyConfig: String
    let ip: String
    private(set) var hosts: [String: Host] = [:]
    private var namespaces: [String] = []
    private var etcDirectories: [String] = []
    private var children: [Child] = []
    private let lock = NSLock()
    private var isShutDown = false
    private var createdEtcNetns = false

    init(tag: String, subnet: String) throws {
        guard let ip = Prerequisites.tool("ip") else { throw HarnessError("ip (iproute2) is not installed") }
        self.ip = ip
        number = Lab.counter.next()
        self.subnet = subnet
        directory = NSTemporaryDirectory() + "mailslot-net-\(pid)-\(number)-\(tag)"
        switchNamespace = "mslot-\(pid)-\(number)-sw"
        bridge = "b\(pid)x\(number)"
        emptyConfig = directory + "/empty-mailslot.conf"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: emptyConfig, contents: Data())
    }

    // MARK: topology

    /// Creates the switch namespace and bridge (once), then one host.
    @discardableResult
    func addHost(_ label: String, octet: Int, computerName: String, workgroup: String) async throws -> Host {
        precondition(label.count == 1, "one-letter host labels keep interface names within 15 characters")
        if !namespaces.contains(switchNamespace) {
            try await ipCommand(["netns", "add", switchNamespace])
            namespaces.append(switchNamespace)
            try await ipCommand(["-n", switchNamespace, "link", "add", bridge, "type", "bridge"])
            try await ipCommand(["-n", switchNamespace, "link", "set", bridge, "up"])
        }
        let namespace = "mslot-\(pid)-\(number)-\(label)"
        try await ipCommand(["netns", "add", namespace])
        namespaces.append(namespace)
        let inside = "v\(pid)x\(number)\(label)", port = "p\(pid)x\(number)\(label)"
        precondition(inside.count <= 15 && port.count <= 15)
        // Both ends are created directly in their namespaces: nothing appears in the test's own namespace.
        try await ipCommand(["link", "add", inside, "netns", namespace, "type", "veth", "peer", "name", port, "netns", switchNamespace])
        try await ipCommand(["-n", switchNamespace, "link", "set", port, "master", bridge])
        try await ipCommand(["-n", switchNamespace, "link", "set", port, "up"])
        let address = "\(subnet).\(octet)", broadcast = "\(subnet).255"
        try await ipCommand(["-n", namespace, "addr", "add", "\(address)/24", "broadcast", broadcast, "dev", inside])
        try await ipCommand(["-n", namespace, "link", "set", "lo", "up"])
        try await ipCommand(["-n", namespace, "link", "set", inside, "up"])
        let host = Host(label: label, namespace: namespace, interface: inside, address: address, broadcast: broadcast,
                        prefix: 24, computerName: computerName, workgroup: workgroup)
        hosts[label] = host
        try setNameFiles(host, hostsEntries: [])
        return host
    }

    /// Gives a host of this lab a second interface on `other`'s bridge, at `other.subnet.octet`: a host of
    /// two networks (for a bridge between sites: its LAN, and the backbone that leads to the NATS server).
    /// `other` must already have a host (which makes its bridge). Returns the new interface's name and address.
    @discardableResult
    func connect(_ host: Host, to other: Lab, octet: Int) async throws -> (interface: String, address: String) {
        precondition(other.namespaces.contains(other.switchNamespace), "add a host to the other lab first")
        let inside = "w\(pid)x\(number)\(host.label)", port = "q\(pid)x\(number)\(host.label)"
        precondition(inside.count <= 15 && port.count <= 15)
        try await ipCommand(["link", "add", inside, "netns", host.namespace, "type", "veth", "peer", "name", port, "netns", other.switchNamespace])
        try await ipCommand(["-n", other.switchNamespace, "link", "set", port, "master", other.bridge])
        try await ipCommand(["-n", other.switchNamespace, "link", "set", port, "up"])
        let address = "\(other.subnet).\(octet)"
        try await ipCommand(["-n", host.namespace, "addr", "add", "\(address)/24", "broadcast", "\(other.subnet).255", "dev", inside])
        try await ipCommand(["-n", host.namespace, "link", "set", inside, "up"])
        return (inside, address)
    }

    /// Writes the host's own /etc/hosts and /etc/resolv.conf: `ip netns exec` bind-mounts the files of
    /// /etc/netns/NAMESPACE/ over /etc in the mount namespace it creates (ip-netns(8)). The resolver is
    /// pointed at the namespace's own loopback, so a name lookup can never leave the lab.
    func setNameFiles(_ host: Host, hostsEntries: [(address: String, name: String)]) throws {
        let dir = "/etc/netns/\(host.namespace)"
        if !FileManager.default.fileExists(atPath: "/etc/netns") { createdEtcNetns = true }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if !etcDirectories.contains(dir) { etcDirectories.append(dir) }
        var hostsText = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
        for entry in hostsEntries { hostsText += "\(entry.address)\t\(entry.name)\n" }
        try hostsText.write(toFile: dir + "/hosts", atomically: true, encoding: .utf8)
        try "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n".write(toFile: dir + "/resolv.conf", atomically: true, encoding: .utf8)
    }

    private func ipCommand(_ arguments: [String]) async throws {
        let r = try await Run.command([ip] + arguments, directory: directory, timeout: 20)
        guard r.status == 0 else { throw HarnessError("ip \(arguments.joined(separator: " ")) failed: \(r.stderr)") }
    }

    // MARK: processes

    /// The environment for our tools on a host: its computer name and workgroup, no configuration file.
    func environment(_ host: Host, _ extra: [String: String] = [:]) -> [String: String] {
        Spawn.environment(["MAILSLOT_CONFIG": emptyConfig, "MAILSLOT_COMPUTER_NAME": host.computerName,
                           "MAILSLOT_WORKGROUP": host.workgroup].merging(extra) { $1 })
    }

    /// Runs a command in the host's namespace to completion (bounded).
    func exec(_ host: Host, _ argv: [String], environment: [String: String]? = nil, timeout: TimeInterval = 30) async throws -> RunResult {
        try await Run.command([ip, "netns", "exec", host.namespace] + argv, environment: environment ?? self.environment(host),
                              directory: directory, timeout: timeout)
    }

    /// Starts a long-running process in the host's namespace; ``shutdown()`` stops it by pid.
    /// (`ip netns exec` execs the command, so the pid is the command's own.)
    func start(_ host: Host, _ argv: [String], label: String, environment: [String: String]? = nil,
               mergeOutput: Bool = false) throws -> Child {
        let base = "\(directory)/\(host.label)-\(label)"
        let child = try Spawn.start([ip, "netns", "exec", host.namespace] + argv, environment: environment ?? self.environment(host),
                                    stdoutPath: base + ".out", stderrPath: mergeOutput ? base + ".out" : base + ".err",
                                    label: "\(label)@\(host.computerName)")
        lock.lock()
        children.append(child)
        lock.unlock()
        return child
    }

    // MARK: clean-up

    /// Stops every process this lab started (by pid, newest first), deletes the bridge, the namespaces and
    /// the /etc/netns files, and removes the scratch directory (kept when MAILSLOT_NETTEST_KEEP=1).
    /// Blocking and bounded, for `defer`.
    func shutdown() {
        lock.lock()
        if isShutDown { lock.unlock(); return }
        isShutDown = true
        let started = children
        lock.unlock()
        for child in started.reversed() { child.stop(signal: SIGTERM, grace: 5) }
        if namespaces.contains(switchNamespace) {
            Blocking.run([ip, "-n", switchNamespace, "link", "del", bridge])
        }
        for namespace in namespaces.reversed() {
            let r = Blocking.run([ip, "netns", "del", namespace])
            if r.status != 0 { Issue.record("clean-up: ip netns del \(namespace) failed: \(r.stderr)") }
        }
        for dir in etcDirectories { try? FileManager.default.removeItem(atPath: dir) }
        if createdEtcNetns { _ = rmdir("/etc/netns") } // only succeeds when nothing else is kept there
        if ProcessInfo.processInfo.environment["MAILSLOT_NETTEST_KEEP"] == "1" {
            FileHandle.standardError.write(Data("network test logs kept in \(directory)\n".utf8))
        } else {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
