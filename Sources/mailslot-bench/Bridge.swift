// `mailslot-bench bridge`: domain mailslot writes from a writer at site A to a listener at site B through
// two mailslotd bridges and a NATS server, against a bare publish/subscribe loop of the NATS C client on
// the same server, measured in the same run.
import ArgumentParser
import CBenchShim
import Foundation
import Glibc
import Logging
import Mailslot
import MailslotGateway
import MailslotTransport

struct BridgeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge",
        abstract: "Site-to-site mailslot writes through the NATS bridge against a bare NATS publish/subscribe loop.",
        discussion: """
            Needs root (a network namespace), nats-server and libnats. Site A is a network namespace with one \
            veth to this one: its mailslotd (a child process, on the veth) bridges through a nats-server started \
            here on the veth's address. Site B is this namespace: a gateway in this process on 127.0.0.1 with its \
            own bridge (loopback has no broadcast address: the bridge sends nothing on it and delivers into this \
            host's mailslots through the gateway directly), delivering into \\\\.\\mailslot\\bench, \
            which this process reads. A writer process in site A sends DIRECT_GROUP datagrams for the bridged \
            workgroup to site A's gateway, each numbered and stamped (CLOCK_MONOTONIC, one clock for both \
            namespaces).

            Throughput: UDP drops what a stage cannot take, so the bridge's is the highest offered rate at which at \
            least 99% of a run's messages crossed, at that rate (found by doubling from 10,000/s, then halving the \
            gap four times; each trial about 2 s of messages, at most --messages); messages per second from the \
            first arrival at site B to the last. Latency: --latency-messages at --rate per second; one-way p50 and \
            p99 from the writer's send to the reader's read. Two baselines on the same server, with the same sizes \
            and rates: a bare NATS publisher process and a subscriber in this process (the NATS C client through \
            this package's client; its throughput is how fast --messages went, TCP losing nothing), and the floor: \
            a relay at site A that publishes each datagram with the bridge's headers, and a subscriber here that \
            sends it on by UDP to a socket here, measured like the bridge. Median of --runs runs. The CPU one \
            message costs is printed for each process, and site B's for the gateway's thread and the reader apart.
            """
    )

    @Option(help: "Messages per throughput run.") var messages: Int = 100_000
    @Option(help: "Messages per latency run.") var latencyMessages: Int = 4_000
    @Option(help: "Messages per second in a latency run.") var rate: Int = 2_000
    @Option(help: "Runs (the median is reported).") var runs: Int = 3
    @Option(help: "Message size in bytes (at most 424, what one datagram carries for a 5-8 character name).") var size: Int = 424
    @Flag(help: "One JSON object per row instead of the table.") var json = false

    func validate() throws {
        guard (16...424).contains(size) else { throw ValidationError("--size must be 16 to 424") }
    }

    static let natsPort: UInt16 = 4_322
    static let workgroup = "BENCHWG"

    func run() throws {
        guard geteuid() == 0 else { throw BenchError("mailslot-bench bridge needs root (it makes a network namespace)") }
        try NatsClient.loadLibrary()
        guard let natsServer = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw BenchError("nats-server is not installed (apt-get install nats-server)")
        }
        let lab = try Lab()
        defer { lab.tearDown() }
        // Interrupted: the namespace, the veth and every process started here go too (by pid), then exit.
        let signals = try Sys.signalDescriptor([SIGINT, SIGTERM])
        _ = try Sys.startThread {
            _ = Sys.pollMany([signals], timeoutMilliseconds: -1)
            lab.tearDown()
            Output.error("mailslot-bench bridge: interrupted; cleaned up")
            Glibc.exit(130)
        }
        let nats = try lab.startProcess([natsServer, "-a", lab.rootAddress, "-p", "\(Self.natsPort)"], waitFor: "Server is ready")
        defer { nats.terminate(); nats.waitUntilExit() }
        let url = "nats://\(lab.rootAddress):\(Self.natsPort)"
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("mailslot-bench-bridge-\(getpid()).conf").path
        _ = FileManager.default.createFile(atPath: config, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: config) }
        let siteA = try lab.startProcess(["ip", "netns", "exec", lab.namespace, Machine.executable.replacingOccurrences(of: "mailslot-bench", with: "mailslotd"),
                                          "--interface", lab.namespaceInterface, "--port", "138", "--computer-name", "BENCHA",
                                          "--workgroup", Self.workgroup, "--no-name-service", "--bridge", url, "--site", "A", "--log-level", "info"],
                                         environment: ["MAILSLOT_CONFIG": config], waitFor: "bridge connected to NATS")
        defer { siteA.terminate(); siteA.waitUntilExit() }
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        var configurationB = MailslotConfiguration(computerName: "BENCHB", workgroup: Self.workgroup, interfaces: ["127.0.0.1"], port: 4_138, nameService: false)
        try configurationB.apply([("bridge", url), ("site", "B")], source: "bench")
        let siteB = try Gateway(configuration: configurationB, logger: logger)
        // The gateway's receive loop runs on this thread: its CPU clock splits site B's time below.
        let gatewayClock = Locked<clockid_t?>(nil)
        let thread = Thread {
            var clock = clockid_t()
            let found = pthread_getcpuclockid(pthread_self(), &clock) == 0
            gatewayClock.withLock { $0 = found ? clock : -1 } // -1: no such clock, read as 0
            siteB.run()
        }
        thread.start()
        defer { siteB.stop(); while !thread.isFinished { usleep(1_000) } }
        let server = try MailslotServer(name: #"\\.\mailslot\bench"#, readTimeout: .milliseconds(2_000), options: .init(allowNetwork: true, quota: 256 << 20))
        defer { server.close() }
        while siteB.counters.bridge?.connected != true { usleep(10_000) }
        usleep(1_500_000) // heartbeats heard: each site knows it is its LAN's forwarder

        if !json {
            Output.line("mailslot-bench bridge")
            Output.line("machine: \(Machine.summary); libnats \(NatsClient.libraryVersion)")
            Output.line("command: \(Machine.commandLine)")
            Output.line("method: median of \(runs) run(s); \(Format.grouped(Double(messages))) messages of \(size) B per throughput run; \(Format.grouped(Double(latencyMessages))) at \(rate)/s per latency run")
            Output.line("")
        }
        var readerClock = clockid_t()
        guard pthread_getcpuclockid(pthread_self(), &readerClock) == 0 else { throw BenchError("pthread_getcpuclockid failed") }
        while gatewayClock.withLock({ $0 }) == nil { usleep(1_000) }
        let bridge = Path(port: 138, receive: { buffer in
            do throws(MailslotError) { return try server.read(into: buffer) } catch { return nil }
        }, stampOffset: { _ in 0 }, pids: [siteA.processIdentifier, nats.processIdentifier], threads: [gatewayClock.withLock { $0 }!, readerClock])
        let floor = try Floor(lab, url: url, size: size)
        defer { floor.stop() }
        let floorPath = Path(port: Floor.port, receive: floor.receive, stampOffset: { [size] in $0 - size },
                             pids: [floor.relay.processIdentifier, nats.processIdentifier], threads: [readerClock])

        struct Samples {
            var rates: [Double] = [], arrived: [Double] = [], offered: [Double] = [], cpu: [[Double]] = [], latency: [(Double, Double)] = []
            mutating func add(_ result: Result, offered rate: Int? = nil) {
                rates.append(result.rate)
                arrived.append(Double(result.received) / Double(max(result.sent, 1)))
                cpu.append(result.cpuPerMessage)
                if let rate { offered.append(Double(rate)) }
            }
            var row: (rate: Double?, arrived: Double?, p50: Double?, p99: Double?) {
                (Stats.median(rates), Stats.median(arrived), Stats.median(latency.map(\.0)), Stats.median(latency.map(\.1)))
            }
        }
        var bridged = Samples(), floored = Samples(), bare = Samples()
        for _ in 0..<runs {
            let (b, bridgeRate) = try sustainedRate(bridge, lab)
            bridged.add(b, offered: bridgeRate)
            let (f, floorRate) = try sustainedRate(floorPath, lab)
            floored.add(f, offered: floorRate)
            bare.add(try throughNats(url, count: messages, rate: 0, natsPID: nats.processIdentifier))
            bridged.latency.append(try through(bridge, lab, count: latencyMessages, rate: rate).latency)
            floored.latency.append(try through(floorPath, lab, count: latencyMessages, rate: rate).latency)
            bare.latency.append(try throughNats(url, count: latencyMessages, rate: rate, natsPID: nats.processIdentifier).latency)
        }
        let rows = [("mailslot bridge", bridged.row), ("floor: bare UDP-NATS-UDP relay", floored.row), ("bare nats pub/sub", bare.row)]
        if json {
            for row in rows {
                Output.line(ResultRow(mechanism: row.0, size: size, writers: 1, messagesPerSecond: row.1.rate, p50Microseconds: row.1.p50, p99Microseconds: row.1.p99).json)
            }
            return
        }
        // UDP loses what a stage cannot keep up with, so a path that starts with UDP is measured by the highest
        // offered rate that at least 99% of its messages crossed, at that rate (RFC 2544's method, with a 1%
        // allowance); the bare loop loses nothing (TCP holds its publisher back), so its rate is how fast it went.
        var table = TextTable([("mechanism", .left), ("messages/s", .right), ("vs bare", .right), ("vs floor", .right), ("arrived", .right),
                               ("p50 us", .right), ("p99 us", .right)])
        for row in rows {
            table.add([row.0, row.1.rate.map(Format.grouped) ?? "-", Stats.ratio(row.1.rate, rows[2].1.rate).map { Format.fixed($0, 2) + "x" } ?? "-",
                       Stats.ratio(row.1.rate, rows[1].1.rate).map { Format.fixed($0, 2) + "x" } ?? "-",
                       row.1.arrived.map { "\(Format.fixed($0 * 100, 1))%" } ?? "-",
                       row.1.p50.map { Format.fixed($0, 1) } ?? "-", row.1.p99.map { Format.fixed($0, 1) } ?? "-"])
        }
        Output.line(table.render())
        Output.line("")
        Output.line("offered rates that at least 99% crossed, at that rate: the bridge \(Format.grouped(Stats.median(bridged.offered) ?? 0))/s, "
                    + "the floor \(Format.grouped(Stats.median(floored.offered) ?? 0))/s (medians)")
        Output.line("the floor does only what any bridge must: UDP in at site A, one NATS publish with the same headers, one subscriber, UDP out at site B")
        if let ratio = Stats.ratio(rows[0].1.rate, rows[2].1.rate), let floorRatio = Stats.ratio(rows[1].1.rate, rows[2].1.rate) {
            Output.line("target: the bridge at least 0.7x the bare NATS loop's throughput: \(Format.fixed(ratio, 2))x, \(ratio >= 0.7 ? "met" : "missed") "
                        + "(the floor itself: \(Format.fixed(floorRatio, 2))x)")
        }
        let counters = siteB.counters.bridge
        Output.line("site B's bridge: received \(counters?.received ?? 0), re-broadcast \(counters?.rebroadcast ?? 0), dropped \(counters?.dropped ?? [:])")
        // Where the CPU goes: on a machine whose CPUs every stage shares, the rate cannot exceed the CPUs
        // divided by the CPU time one message costs in all of them.
        func cpuLine(_ label: String, _ parts: [String], _ samples: [[Double]], limit: Bool = true) {
            let medians = parts.indices.map { i in Stats.median(samples.map { $0[i] }) ?? 0 }
            let total = medians.reduce(0, +)
            let cpus = Double(Machine.cpuCount)
            Output.line("CPU per message, \(label): " + zip(parts, medians).map { "\($0) \(Format.fixed($1, 2)) us" }.joined(separator: ", ")
                        + (limit ? "; total \(Format.fixed(total, 2)) us, so at most \(Format.grouped(total > 0 ? cpus * 1e6 / total : 0)) messages/s on \(Int(cpus)) CPUs" : ""))
        }
        cpuLine("bridge", ["site A's mailslotd", "nats-server", "site B (gateway, bridge, reader)"], bridged.cpu.map { Array($0.prefix(3)) })
        cpuLine("floor", ["site A's relay", "nats-server", "site B (subscriber, UDP receiver)"], floored.cpu.map { Array($0.prefix(3)) })
        // Site B apart: the threads measured on their own, and the rest of the process (nats.c's threads, which
        // run the bridge's or the floor's subscriber).
        func atSiteB(_ samples: [[Double]]) -> [[Double]] { samples.map { Array($0.dropFirst(3)) + [$0[2] - $0.dropFirst(3).reduce(0, +)] } }
        cpuLine("bridge at site B", ["gateway's receive loop", "mailslot reader", "nats.c and the bridge"], atSiteB(bridged.cpu), limit: false)
        cpuLine("floor at site B", ["UDP receiver", "nats.c and the subscriber"], atSiteB(floored.cpu), limit: false)
        cpuLine("bare loop", ["nats-server", "subscriber"], bare.cpu)
    }

    struct Result {
        var rate: Double
        /// Messages that arrived, of those sent.
        var received: Int
        var sent: Int
        var latency: (Double, Double)
        /// CPU microseconds per message received, by process (the load generator left out), then by each of
        /// the path's ``Path/threads``.
        var cpuPerMessage: [Double] = []
    }

    static func cpu(_ pid: pid_t) -> UInt64 { (try? ProcessStats(of: pid))?.cpuNanoseconds ?? 0 }

    /// A NATS client of `url`, once it is connected (at most 10 s).
    static func connectedClient(_ url: String, name: String) throws(BenchError) -> NatsClient {
        let client: NatsClient
        do throws(MailslotError) { client = try NatsClient(.init(servers: [url], name: name)) { _ in } } catch {
            throw BenchError("NATS (\(name)): \(error)")
        }
        let deadline = Clock.deadline(seconds: 10)
        while !client.isConnected {
            guard Clock.now < deadline else {
                client.close()
                throw BenchError("\(name): not connected to \(url) within 10 s")
            }
            usleep(1_000)
        }
        return client
    }

    /// A thread's CPU time so far, by its CPU clock.
    static func threadCPU(_ clock: clockid_t) -> UInt64 {
        var now = timespec()
        guard clock_gettime(clock, &now) == 0 else { return 0 }
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// A UDP path's throughput: the highest offered rate at which at least 99% of a run's messages arrive,
    /// at 95% of that rate or more. Doubling from 10,000/s until a rate fails, then halving the gap four
    /// times; each trial sends about two seconds' worth (at most --messages, at least 5,000). Returns the
    /// best passing trial and its rate (the first trial when none passed).
    func sustainedRate(_ path: Path, _ lab: Lab) throws -> (Result, Int) {
        var best: (Result, Int)?, first: (Result, Int)?
        func trial(_ rate: Int) throws -> Bool {
            let count = max(5_000, min(messages, rate * 2))
            let result = try through(path, lab, count: count, rate: rate)
            // At least 99% arrived, and at the rate offered: a stage that falls behind but has the room to
            // queue a run's worth (a NATS subscription holds 65,536 messages) has not carried that rate.
            let passed = Double(result.received) >= 0.99 * Double(count) && result.rate >= 0.95 * Double(rate)
            if passed, rate > best?.1 ?? 0 { best = (result, rate) }
            if first == nil { first = (result, rate) }
            return passed
        }
        var low = 0, high = 10_000
        while try trial(high) {
            low = high
            guard high < 2_000_000 else { break }
            high *= 2
        }
        for _ in 0..<4 where high - low > 1_000 {
            let middle = (low + high) / 2
            if try trial(middle) { low = middle } else { high = middle }
        }
        return (best ?? first)! // when no rate passed, the first trial's figures stand
    }

    /// Where a run's messages go and how they come back: the bridge (mailslotd at site A, the gateway and
    /// a mailslot here) or the floor (the bare relay at site A, a UDP socket here).
    struct Path {
        /// The UDP port at site A the writer sends to.
        var port: UInt16
        /// One message into the buffer (its length), or nil after 2 s without one.
        var receive: (UnsafeMutableRawBufferPointer) -> Int?
        /// Where the 16-byte sequence number and stamp are in a received message of that length.
        var stampOffset: (Int) -> Int
        /// The processes whose CPU a message costs, beside this one.
        var pids: [pid_t]
        /// Threads of this process whose share of its CPU is reported apart (their CPU clocks).
        var threads: [clockid_t] = []
    }

    /// One run: a writer in site A at `rate` per second (0: as fast as it can), the reader here. Waits first
    /// until a previous run's messages have stopped arriving.
    func through(_ path: Path, _ lab: Lab, count: Int, rate: Int) throws -> Result {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 8)
        defer { scratch.deallocate() }
        while path.receive(scratch) != nil {} // what a previous run left, until 2 s pass without a message
        let processes = path.pids + [getpid()]
        let before = processes.map(Self.cpu) + path.threads.map(Self.threadCPU)
        let writer = try lab.startProcess(["ip", "netns", "exec", lab.namespace, Machine.executable, "_bridge-writer",
                                           "--address", lab.namespaceAddress, "--port", "\(path.port)", "--count", "\(count)", "--size", "\(size)",
                                           "--rate", "\(rate)", "--workgroup", Self.workgroup])
        defer { writer.waitUntilExit() }
        var received = 0
        var first: UInt64 = 0, last: UInt64 = 0
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 8)
        defer { buffer.deallocate() }
        while received < count {
            guard let n = path.receive(buffer) else { break } // 2 s without a message: the rest was dropped
            let now = Clock.now
            guard n >= 16, path.stampOffset(n) + 16 <= n else { continue }
            if received == 0 { first = now }
            last = now
            received += 1
            let stamp = buffer.loadUnaligned(fromByteOffset: path.stampOffset(n) + 8, as: UInt64.self)
            if rate > 0, now > stamp { latencies.append(Double(now - stamp) / 1_000) }
        }
        let after = processes.map(Self.cpu) + path.threads.map(Self.threadCPU)
        latencies.sort()
        let seconds = Clock.seconds(last - first)
        return Result(rate: received > 1 && seconds > 0 ? Double(received - 1) / seconds : 0, received: received, sent: count,
                      latency: (Stats.percentile(sorted: latencies, 50) ?? 0, Stats.percentile(sorted: latencies, 99) ?? 0),
                      cpuPerMessage: zip(after, before).map { Double($0 &- $1) / 1_000 / Double(max(received, 1)) })
    }

    /// One run of the bare loop: a publisher process, a subscriber here, on the same server.
    func throughNats(_ url: String, count: Int, rate: Int, natsPID: pid_t) throws -> Result {
        let subject = "bench.raw.\(getpid())"
        let received = Locked<(count: Int, first: UInt64, last: UInt64, latencies: [Double])>((0, 0, 0, []))
        let client = try Self.connectedClient(url, name: "bench subscriber")
        defer { client.close() }
        try client.subscribe(subject, maxPending: 1 << 20) { message in
            let now = Clock.now
            let stamp = message.data.count >= 16 ? message.data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) } : 0
            received.withLock { state in
                if state.count == 0 { state.first = now }
                state.last = now
                state.count += 1
                if rate > 0, now > stamp { state.latencies.append(Double(now - stamp) / 1_000) }
            }
        }
        usleep(200_000)
        let before = [Self.cpu(natsPID), Self.cpu(getpid())]
        let publisher = try startProcess([Machine.executable, "_nats-publisher", "--url", url, "--subject", subject, "--count", "\(count)",
                                          "--size", "\(size)", "--rate", "\(rate)"])
        publisher.waitUntilExit()
        let deadline = Clock.deadline(seconds: 10)
        var seen = -1
        while Clock.now < deadline {
            let now = received.withLock { $0.count }
            if now >= count || now == seen { break }
            seen = now
            usleep(200_000)
        }
        let after = [Self.cpu(natsPID), Self.cpu(getpid())]
        var state = received.withLock { $0 }
        state.latencies.sort()
        let seconds = Clock.seconds(state.last - state.first)
        return Result(rate: state.count > 1 && seconds > 0 ? Double(state.count - 1) / seconds : 0, received: state.count, sent: count,
                      latency: (Stats.percentile(sorted: state.latencies, 50) ?? 0, Stats.percentile(sorted: state.latencies, 99) ?? 0),
                      cpuPerMessage: zip(after, before).map { Double($0 &- $1) / 1_000 / Double(max(state.count, 1)) })
    }

    /// Site A: a network namespace with a veth to this one (10.77.N.1 here, 10.77.N.2 there).
    final class Lab: @unchecked Sendable {
        let namespace = "msb-\(getpid())-a"
        let hostInterface = "msbh\(getpid() % 100_000)"
        let namespaceInterface = "msbn\(getpid() % 100_000)"
        let subnet = "10.77.\(getpid() % 200 + 20)"
        var rootAddress: String { subnet + ".1" }
        var namespaceAddress: String { subnet + ".2" }
        private var processes: [Process] = []

        init() throws {
            try Lab.ip(["netns", "add", namespace])
            do {
                try Lab.ip(["link", "add", hostInterface, "type", "veth", "peer", "name", namespaceInterface, "netns", namespace])
                try Lab.ip(["addr", "add", rootAddress + "/24", "dev", hostInterface])
                try Lab.ip(["link", "set", hostInterface, "up"])
                try Lab.ip(["-n", namespace, "addr", "add", namespaceAddress + "/24", "broadcast", subnet + ".255", "dev", namespaceInterface])
                try Lab.ip(["-n", namespace, "link", "set", namespaceInterface, "up"])
                try Lab.ip(["-n", namespace, "link", "set", "lo", "up"])
            } catch {
                tearDown()
                throw error
            }
        }

        static func ip(_ arguments: [String]) throws {
            let process = try BridgeBench.startProcess(["ip"] + arguments)
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw BenchError("ip \(arguments.joined(separator: " ")) failed") }
        }

        /// Starts a process (kept for tearDown); with `waitFor`, waits (bounded) until its output has that text.
        func startProcess(_ argv: [String], environment: [String: String] = [:], waitFor text: String? = nil) throws -> Process {
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("mailslot-bench-bridge-\(getpid())-\(processes.count).log").path
            let process = try BridgeBench.startProcess(argv, environment: environment, log: log)
            processes.append(process)
            if let text {
                let deadline = Clock.deadline(seconds: 20)
                while !((try? String(contentsOfFile: log, encoding: .utf8))?.contains(text) ?? false) {
                    guard Clock.now < deadline, process.isRunning else {
                        throw BenchError("\(argv.first ?? "?") did not say '\(text)': \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
                    }
                    usleep(20_000)
                }
            }
            return process
        }

        private let tornDown = Locked(false)

        func tearDown() {
            guard tornDown.withLock({ done in defer { done = true }; return !done }) else { return }
            for process in processes where process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            _ = try? Lab.ip(["link", "del", hostInterface])
            _ = try? Lab.ip(["netns", "del", namespace])
        }
    }

    static func startProcess(_ argv: [String], environment: [String: String] = [:], log: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let log {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = FileHandle(forWritingAtPath: log)
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        try process.run()
        return process
    }

    func startProcess(_ argv: [String]) throws -> Process { try BridgeBench.startProcess(argv) }
}

/// The floor a bridge cannot go below on this machine: what any bridge must do for one domain datagram and
/// nothing else. A relay process at site A receives the writer's datagrams (recvmmsg) and publishes each, with
/// headers like the bridge's, to NATS; a subscriber here sends each on by UDP to a socket here (in bursts
/// of up to 32 while more wait, as the bridge does), which the run reads.
final class Floor: @unchecked Sendable {
    static let port: UInt16 = 139
    let relay: Process
    private let client: NatsClient
    private let receiver: FD
    private let sender: FD
    private let receivePort: UInt16

    init(_ lab: BridgeBench.Lab, url: String, size: Int) throws {
        let subject = "bench.floor.\(getpid())"
        do throws(Errno) {
            receiver = try Sys.udpListener(.loopback, 0, receiveBuffer: 4 << 20)
            receivePort = try Sys.localAddress(receiver).1
            sender = try Sys.udpSocket()
        } catch { throw BenchError("floor sockets: \(error)") }
        client = try BridgeBench.connectedClient(url, name: "bench floor subscriber")
        let (sender, port) = (sender, receivePort)
        // As the bridge sends its re-broadcasts: held back while more messages wait in nats.c, then sent
        // together (one sendmmsg), so that the floor pays no system call per message the bridge avoids.
        let held = Locked(Sys.OutgoingDatagrams())
        try client.subscribe(subject, maxPending: 1 << 20) { message in
            held.withLock { held in
                held.append(message.data)
                guard !message.morePending || held.count >= 32 else { return }
                _ = try? Sys.sendBatch(sender, held, to: .loopback, port)
                held.removeAll()
            }
        }
        client.flush()
        relay = try lab.startProcess(["ip", "netns", "exec", lab.namespace, Machine.executable, "_floor-relay", "--address", lab.namespaceAddress,
                                      "--port", "\(Floor.port)", "--url", url, "--subject", subject], waitFor: "relaying")
    }

    /// One datagram into `buffer`, or nil after 2 s without one.
    func receive(_ buffer: UnsafeMutableRawBufferPointer) -> Int? {
        guard Sys.pollMany([receiver], timeoutMilliseconds: 2_000).isEmpty == false else { return nil }
        let n = recv(receiver, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
        return n >= 0 ? n : nil
    }

    func stop() {
        client.close()
        Sys.close(receiver)
        Sys.close(sender)
    }
}

/// The floor's relay at site A: datagrams in, one NATS publish each, with the nine headers a bridge sends.
struct FloorRelayChild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_floor-relay", abstract: "(internal) the floor's relay at site A.", shouldDisplay: false)

    @Option var address: String
    @Option var port: UInt16
    @Option var url: String
    @Option var subject: String

    func run() throws {
        childMain("_floor-relay", alarmSeconds: 3_600) { () throws(BenchError) in
            guard let listen = IPv4Address(address) else { throw BenchError("bad --address") }
            let fd: FD
            do throws(Errno) { fd = try Sys.udpListener(listen, port, receiveBuffer: 4 << 20) } catch { throw BenchError("socket: \(error)") }
            let client = try BridgeBench.connectedClient(url, name: "bench floor relay")
            // The headers a bridge at site A sends for the bench writer's datagrams (the datagram id added to each).
            let sample = BridgedMessage(kind: .domain, workgroup: BridgeBench.workgroup, mailslotName: #"\MAILSLOT\bench"#, sourceName: "BENCHWRITER",
                                        sourceIP: listen.value, datagramID: 0, site: "A", bridge: "BENCHA-0123456789ab", data: [])
            let headers = NatsClient.HeaderBlock(sample.headers.filter { $0.name != BridgeProtocol.Header.datagramID })
            let batch = Sys.DatagramBatch(slots: 64, slotSize: 2048)
            var id: UInt16 = 0
            Output.line("relaying")
            while true {
                _ = Sys.pollMany([fd], timeoutMilliseconds: -1)
                let n: Int
                do throws(Errno) { n = try batch.receive(fd) } catch { throw BenchError("receive: \(error)") }
                for i in 0..<n {
                    guard let bytes = batch.datagram(i).bytes else { continue }
                    id &+= 1
                    var block = headers
                    block.append(BridgeProtocol.Header.datagramID, String(id))
                    try? client.publish(subject, headers: block, data: Array(bytes))
                }
            }
        }
    }
}

/// Spaces a sender's messages `1/rate` seconds apart on average (sleeping); rate 0 never waits.
struct Pacer {
    private let interval: UInt64
    private var next = Clock.now
    /// A message due less than this far ahead goes now: the sender sleeps only for longer gaps, so at high
    /// rates it sends short bursts (at most this much of the schedule) instead of spinning, and its CPU
    /// is what sending costs, not a whole CPU taken from the stages it measures.
    static let slack: UInt64 = 100_000

    init(rate: Int) { interval = rate > 0 ? UInt64(1_000_000_000 / rate) : 0 }

    mutating func wait() {
        guard interval > 0 else { return }
        let now = Clock.now
        if next > now + Pacer.slack { cbench_sleep_until_ns(next - Pacer.slack / 2) }
        next += interval
    }

    /// Writes the sequence number and the CLOCK_MONOTONIC time into the 16 bytes at `offset`.
    static func stamp(_ bytes: inout [UInt8], sequence: Int, at offset: Int) {
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(sequence), toByteOffset: offset, as: UInt64.self)
            raw.storeBytes(of: Clock.now, toByteOffset: offset + 8, as: UInt64.self)
        }
    }
}

/// The writer of a bridge run: DIRECT_GROUP datagrams to the bridged workgroup, each carrying its sequence
/// number and a CLOCK_MONOTONIC stamp in its first 16 bytes; `rate` 0: as fast as it can.
struct BridgeWriterChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_bridge-writer", abstract: "(internal) the writer of a bridge run.", shouldDisplay: false)

    @Option var address: String
    @Option var port: UInt16
    @Option var count: Int
    @Option var size: Int
    @Option var rate: Int
    @Option var workgroup: String

    func run() throws {
        childMain("_bridge-writer", alarmSeconds: 120) { () throws(BenchError) in
            guard let target = IPv4Address(address) else { throw BenchError("bad --address") }
            let template: [UInt8]
            do {
                template = try NetBIOSMailslotDatagram(messageType: .directGroup, datagramID: 1, sourceIP: target.value, sourceName: NetBIOSName("BENCHWRITER"),
                                                       destinationName: NetBIOSName(workgroup, suffix: 0), mailslotName: "\\MAILSLOT\\bench",
                                                       data: [UInt8](repeating: 0x61, count: size)).encoded()
            } catch { throw BenchError("datagram: \(error)") }
            let dataOffset = template.count - size // the data is the datagram's last bytes
            let fd: FD
            do throws(Errno) { fd = try Sys.udpSocket() } catch { throw BenchError("socket: \(error)") }
            var datagram = template
            var pacer = Pacer(rate: rate)
            for sequence in 0..<count {
                pacer.wait()
                Pacer.stamp(&datagram, sequence: sequence, at: dataOffset)
                while (try? Sys.sendTo(fd, datagram, target, port)) == false { usleep(50) }
            }
        }
    }
}

/// The publisher of the bare NATS loop: `count` messages of `size` bytes, no headers, each stamped like
/// the bridge writer's.
struct NatsPublisherChild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_nats-publisher", abstract: "(internal) the publisher of the bare NATS loop.", shouldDisplay: false)

    @Option var url: String
    @Option var subject: String
    @Option var count: Int
    @Option var size: Int
    @Option var rate: Int

    func run() throws {
        childMain("_nats-publisher", alarmSeconds: 120) { () throws(BenchError) in
            let client = try BridgeBench.connectedClient(url, name: "bench publisher")
            var data = [UInt8](repeating: 0x61, count: size)
            var pacer = Pacer(rate: rate)
            for sequence in 0..<count {
                pacer.wait()
                Pacer.stamp(&data, sequence: sequence, at: 0)
                do throws(NatsClient.Failure) { try client.publish(subject, data: data) } catch {
                    throw BenchError("publish: \(error)")
                }
            }
            client.flush()
            client.close()
        }
    }
}
