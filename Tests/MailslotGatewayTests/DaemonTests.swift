import Foundation
import Mailslot
import MailslotGateway
import MailslotTestSupport
import MailslotTransport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `mailslotd` as a process: configuration, reload, systemd notification, privileges and metrics.
@Suite("mailslotd")
struct DaemonTests {
    let daemon = TestSupport.product("mailslotd")

    /// A configuration file for one test, and the environment that points at it.
    final class Config {
        let folder: String
        var path: String { folder + "/mailslot.conf" }
        var environment: [String: String] { ["MAILSLOT_CONFIG": path] }

        init(_ text: String) throws {
            folder = try TestSupport.temporaryFolder("mailslotd-test")
            try write(text)
        }

        func write(_ text: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }

        deinit { try? FileManager.default.removeItem(atPath: folder) }
    }

    /// A port for the daemon, and the next one for its metrics.
    static func port() -> UInt16 { TestSupport.ports(2) }

    /// A datagram to `name<00>` for `\MAILSLOT\<path>`, sent to the daemon on loopback.
    func send(to name: String, path: String, _ text: String, port: UInt16) throws {
        let bytes = try NetBIOSMailslotDatagram(messageType: .directUnique, datagramID: 1, sourceIP: IPv4Address.loopback.value,
                                                sourceName: NetBIOSName("TESTER"), destinationName: NetBIOSName(name, suffix: 0),
                                                mailslotName: "\\MAILSLOT\\" + path, data: Array(text.utf8)).encoded()
        let fd = try Sys.udpSocket()
        defer { Sys.close(fd) }
        _ = try Sys.sendTo(fd, bytes, .loopback, port)
    }

    func stats(_ port: UInt16) throws -> String { try Gateway.readStats(port: port) }

    @Test func checkConfigPrintsEveryValueAndWhereItCameFrom() throws {
        let config = try Config("workgroup = lab\ncomputer_name = alpha  # from the file\n")
        let result = try TestSupport.run(daemon, ["--check-config", "--interface", "127.0.0.1", "--metrics", "127.0.0.1:9999"],
                                         environment: config.environment.merging(["MAILSLOT_PORT": "4138"]) { $1 })
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map { $0.split(separator: "#").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" }
        #expect(lines.contains("computer_name = ALPHA") && lines.contains("workgroup = LAB") && lines.contains("port = 4138"), "\(result.output)")
        #expect(result.output.contains("# " + config.path), "the file is named as the source: \(result.output)")
        #expect(result.output.contains("# environment (MAILSLOT_PORT)"), "\(result.output)")
        #expect(result.output.contains("interfaces = 127.0.0.1") && result.output.contains("# command line"), "\(result.output)")
        #expect(result.output.contains("name_port = 137") && result.output.contains("# default"), "\(result.output)")
    }

    @Test func aBadConfigurationIsRefusedAtStartWithAClearMessage() throws {
        let config = try Config("workgroup = lab\nport = seventy\n")
        let result = try TestSupport.run(daemon, ["--check-config"], environment: config.environment)
        #expect(result.status != 0)
        #expect(result.output.contains("error 87") && result.output.contains("'port' must be a positive number, not 'seventy'"), "\(result.output)")
        let unknown = try TestSupport.run(daemon, ["--colour", "blue"], environment: config.environment)
        #expect(unknown.status != 0)
    }

    /// SIGHUP: the new names apply, the sockets stay (what waits in them is not lost), a bad file is
    /// refused and the old configuration stays; systemd hears READY, RELOADING and STOPPING.
    @Test func sighupReloadsAndSystemdIsTold() throws {
        let port = Self.port()
        let config = try Config("computer_name = alpha\nworkgroup = lab\ninterfaces = 127.0.0.1\nport = \(port)\nname_service = no\n")
        let notify = try NotifySocket()
        let path = "daemon-test\\reload-\(getpid())"
        let server = try MailslotServer(name: try MailslotName(local: path), readTimeout: .milliseconds(3000), options: .init(access: .everyone, allowNetwork: true))
        defer { server.close() }
        let child = try TestSupport.Child(daemon, ["--log-level", "info"], environment: config.environment.merging(["NOTIFY_SOCKET": notify.path]) { $1 })
        defer { child.signal(SIGKILL) }
        try child.waitFor("mailslotd listening")
        #expect(notify.next() == "READY=1\nSTATUS=receiving on UDP \(port)")

        try send(to: "ALPHA", path: path, "one", port: port)
        #expect(try server.read() == Array("one".utf8))

        try config.write("computer_name = beta\nworkgroup = lab\ninterfaces = 127.0.0.1\nport = \(port)\nname_service = no\n")
        child.signal(SIGHUP)
        #expect(notify.next() == "RELOADING=1")
        #expect(notify.next() == "READY=1")
        try child.waitFor("configuration reloaded")
        try send(to: "ALPHA", path: path, "to the old name", port: port)
        try send(to: "BETA", path: path, "two", port: port)
        #expect(try server.read() == Array("two".utf8))

        try config.write("computer_name = gamma\nthis line is not a setting\n")
        child.signal(SIGHUP)
        #expect(notify.next() == "RELOADING=1")
        #expect(notify.next() == "READY=1")
        try child.waitFor("configuration refused")
        #expect(child.output.contains("expected 'key = value'"), "\(child.output)")
        try send(to: "BETA", path: path, "three", port: port)
        #expect(try server.read() == Array("three".utf8))
        #expect(try TestSupport.eventually { try stats(port).contains("\"not_for_us\":1") }, "\((try? stats(port)) ?? "")")

        child.signal(SIGTERM)
        let ended = try child.finish(timeout: 10)
        #expect(ended.status == 0, "\(ended.output)")
        #expect(notify.next() == "STOPPING=1")
    }

    /// `--user`: after binding, the daemon runs as that user with CAP_NET_BIND_SERVICE and nothing else,
    /// in every thread, and no_new_privs set.
    @Test func userDropsEveryCapabilityButBindingLowPorts() throws {
        guard TestSupport.rootAvailable(for: "mailslotd --user (changing user needs root)") else { return }
        let port = Self.port()
        let config = try Config("interfaces = 127.0.0.1\nport = \(port)\nname_service = no\nmetrics = 127.0.0.1:\(port + 1)\n")
        let child = try TestSupport.Child(daemon, ["--user", "nobody"], environment: config.environment)
        defer { child.signal(SIGKILL) }
        try child.waitFor("mailslotd listening")
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(child.pid)/task")
        #expect(tasks.count > 1, "the daemon runs several threads")
        for task in tasks {
            let status = try String(contentsOfFile: "/proc/\(child.pid)/task/\(task)/status", encoding: .utf8)
            func field(_ name: String) -> String {
                status.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) } ?? "?"
            }
            #expect(field("Uid").split(separator: "\t").allSatisfy { $0 == "65534" }, "thread \(task): Uid \(field("Uid"))")
            #expect(field("CapEff") == "0000000000000400" && field("CapPrm") == "0000000000000400", "thread \(task): CapEff \(field("CapEff")) CapPrm \(field("CapPrm"))")
            #expect(field("CapBnd") == "0000000000000400" && field("CapInh") == "0000000000000000" && field("CapAmb") == "0000000000000000",
                    "thread \(task): CapBnd \(field("CapBnd")) CapInh \(field("CapInh")) CapAmb \(field("CapAmb"))")
            #expect(field("NoNewPrivs") == "1", "thread \(task)")
        }
        // Not root any more: it delivers into a mailslot open to everyone, not into an owner-only one.
        let open = "daemon-test\\open-\(getpid())", closed = "daemon-test\\closed-\(getpid())"
        let everyone = try MailslotServer(name: try MailslotName(local: open), readTimeout: .milliseconds(3000), options: .init(access: .everyone, allowNetwork: true))
        let owner = try MailslotServer(name: try MailslotName(local: closed), readTimeout: .immediate)
        defer { everyone.close(); owner.close() }
        try send(to: "*", path: open, "hello", port: port)
        try send(to: "*", path: closed, "hello", port: port)
        #expect(try everyone.read() == Array("hello".utf8))
        #expect(try TestSupport.eventually { try stats(port).contains("\"access_denied\":1") }, "\((try? stats(port)) ?? "")")
        #expect(throws: MailslotError.self) { try owner.read() }
    }

    /// `--metrics`: Prometheus text on GET /metrics (help and type for every metric), 404 elsewhere.
    @Test func metricsEndpointServesThePrometheusFormat() async throws {
        guard TestSupport.programAvailable(HTTP.curl, for: "the metrics endpoint test", install: "curl") else { return }
        let port = Self.port()
        let config = try Config("interfaces = 127.0.0.1\nport = \(port)\nname_service = no\n")
        let child = try TestSupport.Child(daemon, ["--metrics", "127.0.0.1:\(port + 1)"], environment: config.environment)
        defer { child.signal(SIGKILL) }
        try child.waitFor("mailslotd listening")
        try send(to: "*", path: "nobody-serves-this-\(getpid())", "x", port: port)
        let seen = try await TestSupport.eventually { try stats(port).contains("\"received\":1") }
        #expect(seen)
        let metrics = try HTTP.get("http://127.0.0.1:\(port + 1)/metrics")
        let text = metrics.body
        #expect(metrics.status == 200)
        #expect(metrics.contentType.hasPrefix("text/plain; version=0.0.4"), "\(metrics.contentType)")
        for name in GatewayMetrics.help.keys {
            #expect(text.contains("# HELP \(name) ") && text.contains("# TYPE \(name) "), "\(name) missing:\n\(text)")
        }
        #expect(text.contains("mailslotd_datagrams_received_total 1"), "\(text)")
        #expect(text.contains(#"mailslotd_datagrams_dropped_total{reason="no_such_mailslot"} 1"#), "\(text)")
        #expect(try HTTP.get("http://127.0.0.1:\(port + 1)/other").status == 404)
    }
}

extension DaemonTests {
    /// A real Prometheus server (Debian's package, on loopback, scraping every second) reads the counters
    /// back through its HTTP query API; `promtool check metrics` finds nothing to complain about.
    @Test func prometheusScrapesTheCountersAndPromtoolIsClean() async throws {
        guard TestSupport.programAvailable("/usr/bin/prometheus", for: "the Prometheus scrape test", install: "prometheus"),
              TestSupport.programAvailable(HTTP.curl, for: "the Prometheus scrape test", install: "curl") else { return }
        let port = Self.port(), prometheusPort = Self.port()
        let config = try Config("computer_name = promhost\ninterfaces = 127.0.0.1\nport = \(port)\nname_service = no\n")
        let path = "daemon-test\\prometheus-\(getpid())"
        let server = try MailslotServer(name: try MailslotName(local: path), readTimeout: .immediate, options: .init(allowNetwork: true))
        defer { server.close() }
        let daemon = try TestSupport.Child(self.daemon, ["--metrics", "127.0.0.1:\(port + 1)"], environment: config.environment)
        defer { daemon.signal(SIGKILL) }
        try daemon.waitFor("mailslotd listening")
        try """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: mailslotd
                static_configs:
                  - targets: ["127.0.0.1:\(port + 1)"]
            """.write(toFile: config.folder + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try TestSupport.Child("/usr/bin/prometheus", [
            "--config.file=\(config.folder)/prometheus.yml", "--storage.tsdb.path=\(config.folder)/data",
            "--web.listen-address=127.0.0.1:\(prometheusPort)", "--log.level=warn",
        ])
        defer { prometheus.signal(SIGKILL) }

        for i in 0..<3 { try send(to: "PROMHOST", path: path, "message \(i)", port: port) }
        for _ in 0..<2 { try send(to: "SOMEONEELSE", path: path, "not for us", port: port) }
        let seen = try await TestSupport.eventually { try stats(port).contains("\"received\":5") }
        #expect(seen)

        var answers: [String: String] = [:] // the last raw answer to each query, for the failure message
        func query(_ expression: String) -> String? {
            let answer: String
            do { answer = try HTTP.get("http://127.0.0.1:\(prometheusPort)/api/v1/query", query: ["query": expression]).body } catch {
                answers[expression] = "\(error)"
                return nil
            }
            answers[expression] = answer
            guard let json = try? JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any],
                  let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
                  let value = result.first?["value"] as? [Any], value.count == 2 else { return nil }
            return value[1] as? String
        }
        func get(_ url: String) -> String {
            do { return try HTTP.get(url).body } catch { return "\(error)" }
        }
        // Prometheus first has to listen: under the ThreadSanitizer pass on a 2-core CI machine it once took
        // more than 45 s to start.
        let ready = await TestSupport.eventually(timeout: 180) { (try? HTTP.get("http://127.0.0.1:\(prometheusPort)/-/ready").status) == 200 }
        #expect(ready, "Prometheus was not ready after 180 s: \(prometheus.output)")
        var delivered: String?, dropped: String?
        let deadline = Date().addingTimeInterval(45)
        while Date() < deadline {
            delivered = query("mailslotd_datagrams_delivered_total")
            dropped = query(#"mailslotd_datagrams_dropped_total{reason="not_for_us"}"#)
            if delivered == "3" && dropped == "2" { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        if delivered != "3" || dropped != "2" {
            let targets = get("http://127.0.0.1:\(prometheusPort)/api/v1/targets")
            let exposition = get("http://127.0.0.1:\(port + 1)/metrics")
            Issue.record("""
                Prometheus has delivered=\(delivered ?? "nothing") dropped=\(dropped ?? "nothing"); mailslotd stats: \((try? stats(port)) ?? "none")
                answers: \(answers)
                targets: \(targets)
                mailslotd's /metrics: \(exposition)
                Prometheus' log: \(prometheus.output)
                """)
        }
        #expect(query("mailslotd_datagrams_received_total") == "5")
        #expect(query("mailslotd_delivery_duration_seconds_count") == "3")

        let scraped = config.folder + "/scraped.txt"
        try HTTP.get("http://127.0.0.1:\(port + 1)/metrics").body.write(toFile: scraped, atomically: true, encoding: .utf8)
        let lint = try TestSupport.run("/bin/sh", ["-c", "promtool check metrics < '\(scraped)'"])
        #expect(lint.status == 0 && lint.output.isEmpty, "promtool: \(lint.output)")
    }
}

extension DaemonTests {
    /// Another user takes the stats endpoint's name first: mailslotd refuses to start without it, saying
    /// who holds it, and `mailslotd stats` refuses the squatter's numbers (kernel credentials, not trust).
    @Test func aSquattedStatsEndpointIsRefusedLoudly() throws {
        guard TestSupport.rootAvailable(for: "the stats squatter test (a squatter of another user via setpriv)") else { return }
        let port = Self.port()
        let squatter = try TestSupport.Child("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", """
            import socket, time
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind("\\0mailslotd-stats:\(port)")
            s.listen(4)
            print("bound", flush=True)
            s.settimeout(20)
            while True:
                try:
                    c, _ = s.accept()
                except socket.timeout:
                    break
                try:
                    c.sendall(b'{"received":999999,"delivered":0,"dropped":{},"name_queries_answered":0}\\n')
                except OSError:
                    pass
                c.close()
            """])
        defer { squatter.signal(SIGKILL) }
        try squatter.waitFor("bound")
        let config = try Config("interfaces = 127.0.0.1\nport = \(port)\nname_service = no\n")
        let refused = try TestSupport.run(daemon, [], environment: config.environment, timeout: 20)
        #expect(refused.status != 0, "\(refused.output)")
        #expect(refused.output.contains("error 183") && refused.output.contains("uid 65534") && refused.output.contains("stats endpoint"), "\(refused.output)")
        let stats = try TestSupport.run(daemon, ["stats", "--port", "\(port)"])
        #expect(stats.status != 0 && !stats.output.contains("999999"), "\(stats.output)")
        #expect(stats.output.contains("error 5") && stats.output.contains("uid 65534"), "\(stats.output)")
    }
}

/// A datagram socket standing in for systemd's notification socket.
final class NotifySocket {
    let path: String
    private let fd: Int32

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0 else { throw TestSupport.Failure("cannot bind \(path): errno \(errno)") }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// The next notification (waits up to 5 s); nil if none came.
    func next() -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 5000) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }
}

/// HTTP GETs through curl, a separate process. Not Foundation's URLSession: on Linux its sockets are
/// dispatch sources that a refused or timed-out connection can tear down under libdispatch's feet
/// (swift-corelibs-foundation#4791 and #5469). Polling a Prometheus that is still starting is such a
/// connection, and it took the whole test process down with SIGSEGV in `_dispatch_event_loop_drain`.
enum HTTP {
    static let curl = "/usr/bin/curl"

    struct Answer {
        var status: Int
        var contentType: String
        var body: String
    }

    /// `url` with `query` URL-encoded; throws when there is no HTTP answer within 10 s.
    static func get(_ url: String, query: [String: String] = [:]) throws -> Answer {
        var arguments = ["--silent", "--show-error", "--max-time", "10", "--write-out", "\n%{http_code} %{content_type}"]
        if !query.isEmpty { arguments.append("--get") }
        for (name, value) in query { arguments += ["--data-urlencode", "\(name)=\(value)"] }
        let result = try TestSupport.run(curl, arguments + [url], timeout: 15)
        guard result.status == 0, let split = result.output.lastIndex(of: "\n") else {
            throw TestSupport.Failure("GET \(url): curl exited \(result.status): \(result.output)")
        }
        let meta = result.output[result.output.index(after: split)...]
        let status = meta.prefix { $0 != " " }
        return Answer(status: Int(status) ?? 0, contentType: String(meta.dropFirst(status.count + 1)), body: String(result.output[..<split]))
    }
}
