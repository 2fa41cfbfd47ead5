// `mailslot-bench local`: throughput, pinned and unpinned round-trip latency, queued memory and idle CPU
// of a local mailslot against raw AF_UNIX SOCK_DGRAM, POSIX message queues, packet-mode pipes and a bare
// shared-memory ring (the physical limit).
import ArgumentParser
import CBenchShim
import Glibc
import Mailslot

struct Local: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local",
        abstract: "Local throughput, round-trip latency, memory and idle CPU: mailslot vs. SOCK_DGRAM, POSIX mq, pipe, shared-memory ring.",
        discussion: """
            For each message size and mechanism it measures throughput and round trips; for the mailslot \
            also queued memory and the CPU an idle reader uses. The mechanisms: mailslot (this library); \
            udgram: raw AF_UNIX SOCK_DGRAM on an abstract address with blocking send/recv; posix-mq: a POSIX \
            message queue with the default mq_maxmsg and mq_msgsize = the message size; pipe: an anonymous \
            pipe in packet mode (pipe2 O_DIRECT), blocking write/read, one message per write (it has no name: \
            the reader creates it and hands its write end to every writer as a descriptor; a packet holds at \
            most PIPE_BUF = 4096 bytes, so for larger sizes the pipe is not measured: "-" in the table, null \
            in JSON); ring: the physical limit, one bare single-producer single-consumer ring of fixed-size \
            slots in shared memory per writer (a memfd of about 256 KiB the reader creates and hands over, \
            mapped by both, faulted in before the run), the writer copies each message in and publishes it \
            with a release store, the reader goes round robin over all the rings (taking from each what one \
            look at its tail showed); a side that waits spins with a pause hint and calls sched_yield every \
            64 spins (at every spin when it is pinned to one CPU, so that pinned round trips progress), and \
            once it has waited 5 µs (a writer) or 50 µs (the reader) naps 50 µs at a time instead, so that \
            64 waiting writers do not starve the reader on a small machine; no futex, no system call per \
            message.

            Throughput: messages per second one way, from each --writers count of writer processes (this \
            binary re-executed; default 1, 4, 16 and 64) to one reader (this process). The writers open the \
            receiver, wait at a start barrier and then send as fast as blocking sends allow; the reader times \
            from the first message received to the last ((N-1)/elapsed) and checks it got exactly N messages, \
            each writer's sequence numbers in order with none lost or duplicated (8-byte header: writer id, \
            sequence). N = --messages per run, split evenly across the writers.

            Round trip: ping-pong between this process and an echo process, twice: pinned, both pinned to \
            CPU 0 (every thread they start inherits the pin, the mailslot servers' I/O threads included), and \
            unpinned, neither pinned (free to run on every CPU). Each side receives on its own endpoint (its \
            own mailslot, bound abstract address, queue, pipe or ring) and sends to the other's. p50 and p99 \
            of --round-trips round trips after 1,000 warm-up ones; the figure reported is the median over the \
            runs of each run's p50 (p99).

            Each figure is the median over --runs runs; within a run the mechanisms take turns (their order \
            rotating from run to run), so that a noisy machine hurts them alike. ± is half the spread \
            (max - min) of the runs relative to the median. A run that takes longer than --timeout seconds, \
            loses a message or has a child fail is killed and counted as failed. The ratios compare the \
            mailslot with every baseline at the same size and writer count, give its share of the ring's \
            throughput (of the physical limit) and, for more than 4 writers, its figure over its own \
            4-writer one, and compare its pinned and unpinned round trips with every baseline's.

            Memory: a mailslot server process with its quota raised to --memory-quota gets \
            --memory-messages 64-byte messages from one writer process with nobody reading; the server \
            then reports its message count and VmRSS, VmHWM, RssAnon, RssShmem (the queue is shared memory).

            Idle (phase idle): a mailslot server process reads in a loop (read timeout: forever) while one \
            writer (this process) sends a 64-byte message every 100 ms for 2 s and then nothing for 2 s. The \
            server's CPU time (summed over its threads, /proc/PID/task/*/schedstat) and context switches are \
            sampled at the start, after 2 s and after 4 s; reported: each window's CPU as a percentage of \
            one CPU and its voluntary context switches. An idle server should wake at most about once a \
            second.

            --json prints only result rows on standard output, one JSON object per line, with exactly the \
            keys mechanism, size, writers, messages_per_second, p50_us, p99_us, p50_unpinned_us. Rows with \
            writers 1 carry the 1-writer throughput and the round-trip latencies (p50_us and p99_us pinned, \
            p50_unpinned_us unpinned); rows with other writer counts carry their throughput and null \
            latencies. A figure that was not measured or whose every run failed is null. Progress, the \
            memory result, the idle result (one JSON object, {"phase":"idle",...}) and failures go to \
            standard error.
            """
    )

    @Flag(help: "Print JSON rows on standard output instead of the table.")
    var json = false

    @Option(help: "Messages per throughput run, split evenly across the writers.")
    var messages = 200_000

    @Option(help: "Timed round trips per latency run (after 1,000 warm-up ones).")
    var roundTrips = 20_000

    @Option(help: "Runs per figure; the median is reported.")
    var runs = 3

    @Option(parsing: .upToNextOption, help: "Message sizes in bytes (at least 8; pipe: measured up to 4096 only).")
    var sizes: [Int] = [64, 424, 4096]

    @Option(parsing: .upToNextOption, help: "Mechanisms to measure (mailslot, udgram, posix-mq, pipe, ring).")
    var mechanisms: [Mechanism] = Mechanism.allCases

    @Option(parsing: .upToNextOption, help: "Writer process counts for the throughput runs (1 to 64).")
    var writers: [Int] = [1, 4, 16, 64]

    @Option(parsing: .upToNextOption, help: "What to measure: throughput, latency (pinned and unpinned round trips), memory, idle.")
    var phases: [Phase] = Phase.allCases

    @Option(help: "Seconds a single run may take before it is killed and counted as failed.")
    var timeout: Double = 30

    @Option(help: "Messages queued in the memory run (0 skips it).")
    var memoryMessages = 1_000_000

    @Option(help: "The memory run's mailslot quota in MiB (each 64-byte message takes 72 bytes).")
    var memoryQuota = 96

    @Flag(help: "No progress lines on standard error.")
    var quiet = false

    func validate() throws {
        guard messages >= 8, roundTrips >= 10, runs >= 1 else { throw ValidationError("--messages ≥ 8, --round-trips ≥ 10 and --runs ≥ 1") }
        guard sizes.allSatisfy({ $0 >= MessageHeader.size && $0 <= 8192 }) else { throw ValidationError("sizes must be 8 to 8192 bytes") }
        guard writers.allSatisfy({ $0 >= 1 && $0 <= 64 }) else { throw ValidationError("--writers: 1 to 64") }
        guard !mechanisms.isEmpty, timeout >= 1 else { throw ValidationError("give at least one mechanism and a timeout of at least 1 s") }
    }

    func run() throws {
        let bench = LocalBench(options: self)
        bench.measureAll()
        if json { bench.printJSON() } else { bench.printTable() }
    }
}

enum Phase: String, CaseIterable, ExpressibleByArgument {
    case throughput, latency, memory, idle
}

/// What a figure measures.
enum Metric: Hashable {
    case throughput(writers: Int)
    /// The round trip with both processes pinned to CPU 0.
    case p50
    case p99
    /// The round trip with neither process pinned.
    case p50Unpinned
    case p99Unpinned

    /// The metric whose run a failure is counted under (a round trip's p99 comes from its p50's run).
    var run: Metric {
        switch self {
        case .p99: return .p50
        case .p99Unpinned: return .p50Unpinned
        default: return self
        }
    }
}

/// The result of the memory run.
struct MemoryResult {
    var messages: Int
    var quota: Int
    var count: Int
    var queuedBytes: Int
    var kilobytes: [String: Int]
    var fillSeconds: Double
}

/// The result of the idle run: the reader process's CPU and context switches while it gets a message
/// every 100 ms (busy) and while it gets none (idle).
struct IdleResult {
    var messages: Int
    var busy: ProcessStats.Delta
    var idle: ProcessStats.Delta
    var threads: Int

    /// At most about one wake-up a second: 3 voluntary context switches in the 2 idle seconds.
    var idleTargetMet: Bool { idle.voluntary <= 3 }

    var json: String {
        "{\"phase\":\"idle\",\"messages\":\(messages),\"threads\":\(threads),"
            + "\"busy_seconds\":\(Format.fixed(busy.seconds, 3)),\"busy_cpu_percent\":\(Format.fixed(busy.cpuPercent, 3)),"
            + "\"busy_voluntary_switches\":\(busy.voluntary),\"busy_involuntary_switches\":\(busy.involuntary),"
            + "\"idle_seconds\":\(Format.fixed(idle.seconds, 3)),\"idle_cpu_percent\":\(Format.fixed(idle.cpuPercent, 3)),"
            + "\"idle_voluntary_switches\":\(idle.voluntary),\"idle_involuntary_switches\":\(idle.involuntary)}"
    }
}

final class LocalBench {
    let options: Local
    var writerCounts: [Int] { options.phases.contains(.throughput) ? options.writers : [] }
    var measuresLatency: Bool { options.phases.contains(.latency) }
    var measuresIdle: Bool { options.phases.contains(.idle) && options.mechanisms.contains(.mailslot) }
    let warmupRoundTrips = 1_000
    /// The idle run: one message every `idleInterval` ns for `idleWindow` ns, then none for `idleWindow` ns.
    let idleMessages = 20
    let idleInterval: UInt64 = 100_000_000
    let idleWindow: UInt64 = 2_000_000_000
    /// Per figure: the value of each successful run.
    private var samples: [Key: [Double]] = [:]
    private var failures: [String] = []
    private var failedRuns: [Key: Int] = [:]
    private var memory: MemoryResult?
    private var memoryFailure: String?
    private var idle: IdleResult?
    private var idleFailure: String?
    private var serial = 0

    struct Key: Hashable {
        var mechanism: Mechanism
        var size: Int
        var metric: Metric
    }

    init(options: Local) { self.options = options }

    private var alarmSeconds: Int { Int(options.timeout) + 60 }

    private func progress(_ text: String) {
        if !options.quiet { Output.error(text) }
    }

    /// A name part unique to this process and run.
    private func nextTag() -> String {
        serial += 1
        return "\(getpid())-\(serial)"
    }

    // MARK: the schedule

    func measureAll() {
        progress("mailslot-bench local: \(Machine.summary)")
        for run in 0..<options.runs {
            // Rotate the mechanisms' order each run so none always goes first.
            let shift = run % options.mechanisms.count
            let order = Array(options.mechanisms[shift...] + options.mechanisms[..<shift])
            for size in options.sizes {
                for writers in writerCounts {
                    for mechanism in order where mechanism.carries(size: size) {
                        record(Key(mechanism: mechanism, size: size, metric: .throughput(writers: writers)), run: run,
                               label: "\(mechanism.rawValue) \(size) B \(writers) writer(s)") { () throws(BenchError) in
                            let rate = try throughputRun(mechanism, size: size, writers: writers)
                            progress(String(repeating: " ", count: 2) + "run \(run + 1)/\(options.runs)  \(size) B  \(mechanism.rawValue)  \(writers)w  \(Format.grouped(rate)) msg/s")
                            return [.throughput(writers: writers): rate]
                        }
                    }
                }
                for pinned in [true, false] where measuresLatency {
                    let how = pinned ? "pinned" : "unpinned"
                    for mechanism in order where mechanism.carries(size: size) {
                        record(Key(mechanism: mechanism, size: size, metric: pinned ? .p50 : .p50Unpinned), run: run,
                               label: "\(mechanism.rawValue) \(size) B \(how) round trip") { () throws(BenchError) in
                            let (p50, p99) = try latencyRun(mechanism, size: size, pinned: pinned)
                            progress("  run \(run + 1)/\(options.runs)  \(size) B  \(mechanism.rawValue)  \(how) round trip p50 \(Format.fixed(p50, 2)) µs  p99 \(Format.fixed(p99, 2)) µs")
                            return pinned ? [.p50: p50, .p99: p99] : [.p50Unpinned: p50, .p99Unpinned: p99]
                        }
                    }
                }
            }
        }
        if options.memoryMessages > 0 && options.mechanisms.contains(.mailslot) && options.phases.contains(.memory) {
            do throws(BenchError) {
                memory = try memoryRun()
            } catch {
                memoryFailure = error.message
                progress("  memory run FAILED: \(error)")
            }
        }
        if measuresIdle {
            do throws(BenchError) {
                idle = try idleRun()
            } catch {
                idleFailure = error.message
                progress("  idle run FAILED: \(error)")
            }
        }
    }

    private func record(_ key: Key, run: Int, label: String, _ body: () throws(BenchError) -> [Metric: Double]) {
        do throws(BenchError) {
            for (metric, value) in try body() {
                samples[Key(mechanism: key.mechanism, size: key.size, metric: metric), default: []].append(value)
            }
        } catch {
            failedRuns[key, default: 0] += 1
            let text = "run \(run + 1): \(label): \(error)"
            failures.append(text)
            progress("  FAILED \(text)")
        }
    }

    // MARK: throughput

    /// One throughput run: `writers` writer processes, one reader (this process). Returns messages/s.
    func throughputRun(_ mechanism: Mechanism, size: Int, writers: Int) throws(BenchError) -> Double {
        let perWriter = max(options.messages / writers, 1)
        let inbound = try Inbound(mechanism, tag: nextTag(), writers: writers, messageSize: size)
        defer { inbound.close() }
        var barrier = try StartBarrier()
        defer { barrier.close() }
        var children: [ChildProcess] = []
        defer { killAll(children) }
        for id in 0..<writers {
            children.append(try ChildProcess(
                ["_writer", "--mechanism", mechanism.rawValue, "--address", inbound.addresses[id], "--size", "\(size)",
                 "--count", "\(perWriter)", "--id", "\(id)", "--alarm", "\(alarmSeconds)"],
                label: "writer \(id)", descriptors: barrier.childDescriptors + inbound.descriptors[id]))
        }
        inbound.closeHandedOver()
        try barrier.waitReady(writers, children: children, timeoutSeconds: 20 + Double(writers) / 4)
        inbound.receiver.unpublish()
        let deadline = Clock.deadline(seconds: options.timeout)
        barrier.release()
        let elapsed: UInt64
        if let ring = inbound.receiver as? RingReceiver { // no system call per message: call it directly
            elapsed = try receiveStamped(ring, writers: writers, perWriter: perWriter, size: size, deadline: deadline,
                                         children: children)
        } else {
            elapsed = try receiveStamped(inbound.receiver, writers: writers, perWriter: perWriter, size: size, deadline: deadline,
                                         children: children)
        }
        for child in children { try child.finish(timeoutMilliseconds: 10_000) }
        let total = writers * perWriter
        return Double(total - 1) / Clock.seconds(max(elapsed, 1))
    }

    // MARK: round trips

    /// One round-trip run, both processes pinned to CPU 0 or neither pinned. Returns p50 and p99 in µs.
    func latencyRun(_ mechanism: Mechanism, size: Int, pinned: Bool) throws(BenchError) -> (Double, Double) {
        // Pin before creating anything, so the mailslot server's I/O thread (and the echo child, which
        // inherits our mask) start pinned; unpinned runs start from the mask we were given.
        if pinned { guard cbench_pin_to_cpu(0) == 0 else { throw .system("sched_setaffinity") } }
        defer { if pinned { _ = cbench_unpin() } }
        let ends = try RoundTripEnds(mechanism, tag: nextTag(), messageSize: size)
        defer { ends.close() }
        var barrier = try StartBarrier()
        defer { barrier.close() }
        let total = warmupRoundTrips + options.roundTrips
        let child = try ChildProcess(
            ["_echo", "--mechanism", mechanism.rawValue, "--listen", ends.listen, "--reply", ends.reply, "--size", "\(size)",
             "--count", "\(total)", "--alarm", "\(alarmSeconds)"] + (pinned ? ["--cpu", "0"] : []),
            label: "echo", descriptors: barrier.childDescriptors + ends.descriptors)
        defer { killAll([child]) }
        ends.closeHandedOver()
        try barrier.waitReady(1, children: [child], timeoutSeconds: 20)
        let sender = try ends.openSender()
        let deadline = Clock.deadline(seconds: options.timeout)
        var nanoseconds: [UInt64]
        if let ringIn = ends.receiver as? RingReceiver, let ringOut = sender as? RingSender {
            nanoseconds = try pingPong(ringIn, ringOut, size: size, warmup: warmupRoundTrips, count: options.roundTrips,
                                       deadline: deadline)
        } else {
            nanoseconds = try pingPong(ends.receiver, sender, size: size, warmup: warmupRoundTrips, count: options.roundTrips,
                                       deadline: deadline)
        }
        try child.finish(timeoutMilliseconds: 10_000)
        nanoseconds.sort()
        let micros = nanoseconds.map { Double($0) / 1000 }
        guard let p50 = Stats.percentile(sorted: micros, 50), let p99 = Stats.percentile(sorted: micros, 99) else {
            throw BenchError("no samples")
        }
        return (p50, p99)
    }

    // MARK: memory

    func memoryRun() throws(BenchError) -> MemoryResult {
        let count = options.memoryMessages
        let quota = options.memoryQuota << 20
        let name = Mechanism.address(.mailslot, tag: nextTag())
        progress("  memory: \(Format.grouped(Double(count))) × 64 B into a mailslot with a \(options.memoryQuota) MiB quota, nobody reading")
        var serverBarrier = try StartBarrier()
        defer { serverBarrier.close() }
        var request = try Pipe()
        defer { request.closeBoth() }
        var report = try Pipe()
        defer { report.closeBoth() }
        let server = try ChildProcess(
            ["_memory-server", "--name", name, "--quota", "\(quota)", "--alarm", "\(alarmSeconds + 60)"],
            label: "memory server",
            descriptors: [(request.readEnd, 0), (report.writeEnd, 1), (serverBarrier.ready.writeEnd, ChildProcess.readyFD)])
        var children = [server]
        defer { killAll(children) }
        request.closeRead()
        report.closeWrite()
        try serverBarrier.waitReady(1, children: children, timeoutSeconds: 20)

        var writerBarrier = try StartBarrier()
        defer { writerBarrier.close() }
        let writer = try ChildProcess(
            ["_writer", "--mechanism", Mechanism.mailslot.rawValue, "--address", name, "--size", "64",
             "--count", "\(count)", "--id", "0", "--alarm", "\(alarmSeconds + 60)"],
            label: "memory writer", descriptors: writerBarrier.childDescriptors)
        children.append(writer)
        try writerBarrier.waitReady(1, children: children, timeoutSeconds: 20)
        let start = Clock.now
        writerBarrier.release()
        try writer.finish(timeoutMilliseconds: Int32(options.timeout * 2000))
        let fillSeconds = Clock.seconds(Clock.now - start)

        var byte: UInt8 = 1
        guard write(request.writeEnd, &byte, 1) == 1 else { throw .system("write to the memory server") }
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let deadline = Clock.deadline(seconds: 20)
        while !text.contains(10) {
            guard Clock.now < deadline else { throw BenchError("the memory server did not report within 20 s") }
            let r = cbench_wait_readable(report.readEnd, 200)
            if r < 0 { throw .system("poll") }
            if r == 0 { continue }
            let n = chunk.withUnsafeMutableBytes { read(report.readEnd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw .system("read the memory report") }
            if n == 0 { break }
            text += chunk[0..<n]
        }
        try server.finish(timeoutMilliseconds: 10_000)
        var values: [String: Int] = [:]
        for pair in String(decoding: text, as: UTF8.self).trimmingSpaces.split(separator: " ") {
            let parts = pair.split(separator: "=")
            if parts.count == 2, let v = Int(parts[1]) { values[String(parts[0])] = v }
        }
        guard let got = values["count"] else { throw BenchError("the memory server's report is unreadable: \(String(decoding: text, as: UTF8.self))") }
        var kilobytes = values
        kilobytes["count"] = nil
        kilobytes["queued_bytes"] = nil
        return MemoryResult(messages: count, quota: quota, count: got, queuedBytes: values["queued_bytes"] ?? -1,
                            kilobytes: kilobytes, fillSeconds: fillSeconds)
    }

    // MARK: idle

    /// The idle run: a mailslot server process blocked in a read loop; this process writes a message
    /// every 100 ms for 2 s, then nothing for 2 s, and samples the server's CPU time and context switches.
    func idleRun() throws(BenchError) -> IdleResult {
        let name = Mechanism.address(.mailslot, tag: nextTag())
        progress("  idle: 1 message every \(idleInterval / 1_000_000) ms for \(idleWindow / 1_000_000_000) s, then none for \(idleWindow / 1_000_000_000) s, to a mailslot server process blocked in read")
        var barrier = try StartBarrier()
        defer { barrier.close() }
        let reader = try ChildProcess(
            ["_idle-reader", "--name", name, "--count", "\(idleMessages)", "--alarm", "\(alarmSeconds)"],
            label: "idle reader", descriptors: [(barrier.ready.writeEnd, ChildProcess.readyFD)])
        defer { killAll([reader]) }
        try barrier.waitReady(1, children: [reader], timeoutSeconds: 20)
        let sender = try MailslotSender(name: name)
        defer { sender.close() }
        let buffer = makeMessageBuffer(64)
        defer { buffer.deallocate() }
        let message = UnsafeRawBufferPointer(start: buffer.baseAddress, count: 64)
        cbench_sleep_until_ns(Clock.now + 200_000_000) // let the server settle into its wait

        let start = try ProcessStats(of: reader.pid)
        for k in 0..<idleMessages {
            cbench_sleep_until_ns(start.time + UInt64(k) * idleInterval)
            MessageHeader.write(writer: 0, sequence: UInt32(k), to: buffer.baseAddress!)
            try sender.send(message)
        }
        cbench_sleep_until_ns(start.time + idleWindow)
        let busyEnd = try ProcessStats(of: reader.pid)
        cbench_sleep_until_ns(busyEnd.time + idleWindow)
        let idleEnd = try ProcessStats(of: reader.pid)
        guard !reader.hasExited else { throw BenchError("the idle reader ended early (status \(reader.exitCode ?? -1))") }

        MessageHeader.write(writer: 1, sequence: 0, to: buffer.baseAddress!) // the stop message
        try sender.send(message)
        try reader.finish(timeoutMilliseconds: 10_000)
        return IdleResult(messages: idleMessages, busy: busyEnd.since(start), idle: idleEnd.since(busyEnd),
                          threads: idleEnd.threads)
    }

    // MARK: results

    private func median(_ mechanism: Mechanism, _ size: Int, _ metric: Metric) -> Double? {
        Stats.median(samples[Key(mechanism: mechanism, size: size, metric: metric)] ?? [])
    }

    /// "1,234,567 ±3%" (or "12.34 ±5%"), with "*" when some runs failed and "failed" when all did.
    private func cell(_ mechanism: Mechanism, _ size: Int, _ metric: Metric, places: Int) -> String {
        let key = Key(mechanism: mechanism, size: size, metric: metric)
        let failureKey = Key(mechanism: mechanism, size: size, metric: metric.run)
        let failed = failedRuns[failureKey] ?? 0
        guard let values = samples[key], let mid = Stats.median(values) else { return failed > 0 ? "failed" : "-" }
        var text = places == 0 ? Format.grouped(mid) : Format.fixed(mid, places)
        if values.count > 1, let lo = values.min(), let hi = values.max(), mid > 0 {
            text += " ±\(Int(((hi - lo) / 2 / mid * 100).rounded()))%"
        }
        return failed > 0 ? text + " *" : text
    }

    private func ratioText(_ value: Double?) -> String {
        value.map { Format.fixed($0, 2) + "x" } ?? "-"
    }

    /// A fraction as a percentage: "12.3%".
    private func shareText(_ value: Double?) -> String {
        value.map { Format.fixed($0 * 100, 1) + "%" } ?? "-"
    }

    func printTable() {
        var out: [String] = []
        out.append("mailslot-bench local")
        out.append("machine: \(Machine.summary)")
        out.append("command: \(Machine.commandLine)")
        out.append("method: median of \(options.runs) run(s), mechanisms interleaved; throughput = \(Format.grouped(Double(options.messages))) one-way messages per run, "
                   + "split across the writer processes, timed by the reader from first to last message; round trip = "
                   + "\(Format.grouped(Double(options.roundTrips))) ping-pongs after \(Format.grouped(Double(warmupRoundTrips))) warm-up, "
                   + "pinned: both processes on CPU 0, unpinned: neither pinned (\(Machine.cpuCount) CPUs); "
                   + "udgram: net.unix.max_dgram_qlen = \(readTextFile("/proc/sys/net/unix/max_dgram_qlen")?.trimmingSpaces ?? "?"); "
                   + "posix-mq: mq_maxmsg = \(Mechanism.defaultQueueLength), mq_msgsize = message size; "
                   + "pipe: packet mode (O_DIRECT), default capacity (16 packets), sizes ≤ \(Mechanism.pipePacketLimit) B; "
                   + "ring: one SPSC shared-memory ring per writer, ~\(SharedRing.targetBytes >> 10) KiB of slots, "
                   + "a waiting side spins (yield every 64 spins, every spin when pinned), then naps 50 µs at a time")
        out.append("")
        func writersTitle(_ w: Int) -> String { w == 1 ? "1 writer" : "\(w) writers" }
        var table = TextTable([("size B", .right), ("mechanism", .left)]
                              + writerCounts.map { ("msg/s " + writersTitle($0), .right) }
                              + (measuresLatency ? [("pinned RTT p50 µs", .right), ("p99 µs", .right),
                                                    ("unpinned RTT p50 µs", .right), ("p99 µs", .right)] : []))
        for size in options.sizes {
            for mechanism in options.mechanisms {
                var row = ["\(size)", mechanism.rawValue]
                row += writerCounts.map { cell(mechanism, size, .throughput(writers: $0), places: 0) }
                if measuresLatency {
                    row += [cell(mechanism, size, .p50, places: 2), cell(mechanism, size, .p99, places: 2),
                            cell(mechanism, size, .p50Unpinned, places: 2), cell(mechanism, size, .p99Unpinned, places: 2)]
                }
                table.add(row)
            }
        }
        out.append(table.render())
        var notes = "(± = half the spread of the runs around the median; * = some runs failed, see below"
        if options.mechanisms.contains(.pipe) && options.sizes.contains(where: { !Mechanism.pipe.carries(size: $0) }) {
            notes += "; pipe: not measured above \(Mechanism.pipePacketLimit) B, a packet's limit"
        }
        out.append(notes + ")")

        let baselines = options.mechanisms.filter { $0 != .mailslot }
        let hasRing = baselines.contains(.ring)
        let others = baselines.filter { $0 != .ring }
        let versusOwn = writerCounts.contains(4) && writerCounts.contains(where: { $0 > 4 })
        if options.mechanisms.contains(.mailslot) && !writerCounts.isEmpty && (!baselines.isEmpty || versusOwn) {
            out.append("")
            out.append("throughput ratios (mailslot / baseline, same size and writers; higher is better; of ring = the mailslot's share "
                       + "of the physical limit; vs own 4w = over its own 4-writer figure)")
            var columns: [(String, TextTable.Alignment)] = [("size B", .right), ("writers", .right)]
            columns += others.map { ("vs \($0.rawValue)", .right) }
            if hasRing { columns.append(("of ring", .right)) }
            if versusOwn { columns.append(("vs own 4w", .right)) }
            var ratios = TextTable(columns)
            for size in options.sizes {
                for writers in writerCounts {
                    var row = ["\(size)", "\(writers)"]
                    row += others.map { ratioText(throughputRatio(size, writers, $0)) }
                    if hasRing { row.append(shareText(throughputRatio(size, writers, .ring))) }
                    if versusOwn {
                        row.append(writers > 4 ? ratioText(Stats.ratio(median(.mailslot, size, .throughput(writers: writers)),
                                                                       median(.mailslot, size, .throughput(writers: 4)))) : "")
                    }
                    ratios.add(row)
                }
            }
            out.append(ratios.render())
        }
        if options.mechanisms.contains(.mailslot) && measuresLatency && !baselines.isEmpty {
            out.append("")
            out.append("round-trip ratios (mailslot p50 / baseline p50, same size and pinning; lower is better)")
            var ratios = TextTable([("size B", .right), ("round trip", .left)] + baselines.map { ("vs \($0.rawValue)", .right) })
            for size in options.sizes {
                for metric in [Metric.p50, .p50Unpinned] {
                    ratios.add(["\(size)", metric == .p50 ? "pinned" : "unpinned"]
                               + baselines.map { ratioText(latencyRatio(size, $0, metric)) })
                }
            }
            out.append(ratios.render())
        }
        if options.mechanisms.contains(.mailslot) && !baselines.isEmpty && options.sizes.contains(424) {
            out.append("")
            out.append("targets at 424 bytes")
            // The targets of the per-writer rings (issue "The local path, rebuilt").
            out.append(target("throughput vs udgram, 1 writer", throughputRatio(424, 1, .udgram), "≥ 5.00x") { $0 >= 5 })
            out.append(target("throughput vs posix-mq, 1 writer", throughputRatio(424, 1, .posixMQ), "≥ 5.00x") { $0 >= 5 })
            out.append(target("throughput vs pipe, 1 writer", throughputRatio(424, 1, .pipe), "≥ 1.00x") { $0 >= 1 })
            out.append(target("throughput vs udgram, 4 writers", throughputRatio(424, 4, .udgram), "≥ 3.00x") { $0 >= 3 })
            out.append(target("throughput vs posix-mq, 4 writers", throughputRatio(424, 4, .posixMQ), "≥ 3.00x") { $0 >= 3 })
            for writers in [16, 64] {
                let own = Stats.ratio(median(.mailslot, 424, .throughput(writers: writers)), median(.mailslot, 424, .throughput(writers: 4)))
                out.append(target("throughput with \(writers) writers vs its own 4-writer figure", own, "≥ 0.70x") { $0 >= 0.7 })
            }
            out.append(target("pinned round trip p50 vs posix-mq", latencyRatio(424, .posixMQ, .p50), "≤ 1.00x") { $0 <= 1 })
            out.append(target("unpinned round trip p50 vs udgram", latencyRatio(424, .udgram, .p50Unpinned), "≤ 0.50x") { $0 <= 0.5 })
        }
        out.append("")
        out += memoryLines()
        out.append("")
        out += idleLines()
        if !failures.isEmpty {
            out.append("")
            out.append("failures:")
            out += failures.map { "  " + $0 }
        }
        Output.line(out.joined(separator: "\n"))
    }

    /// Median mailslot throughput over the baseline's, same size and writers.
    private func throughputRatio(_ size: Int, _ writers: Int, _ baseline: Mechanism) -> Double? {
        Stats.ratio(median(.mailslot, size, .throughput(writers: writers)), median(baseline, size, .throughput(writers: writers)))
    }

    /// Median mailslot round-trip p50 over the baseline's (`metric`: .p50 pinned, .p50Unpinned unpinned).
    private func latencyRatio(_ size: Int, _ baseline: Mechanism, _ metric: Metric) -> Double? {
        Stats.ratio(median(.mailslot, size, metric), median(baseline, size, metric))
    }

    private func target(_ what: String, _ value: Double?, _ goal: String, _ met: (Double) -> Bool) -> String {
        let verdict = value.map { met($0) ? "met" : "NOT met" } ?? "not measured"
        return "  \(what): \(ratioText(value)) (target \(goal)): \(verdict)"
    }

    private func memoryLines() -> [String] {
        if let failure = memoryFailure { return ["memory: FAILED: \(failure)"] }
        guard let m = memory else { return ["memory: not measured"] }
        func mb(_ key: String) -> String {
            guard let kb = m.kilobytes[key], kb >= 0 else { return "?" }
            return Format.fixed(Double(kb) / 1024, 1) + " MiB"
        }
        let rssVerdict = m.kilobytes["VmRSS"].map { $0 >= 0 && Double($0) * 1024 < 200e6 ? "met" : "NOT met" } ?? "not measured"
        let countOK = m.count == m.messages
        return [
            "memory: \(Format.grouped(Double(m.messages))) × 64-byte messages queued by 1 writer process, nobody reading "
                + "(quota \(m.quota >> 20) MiB; filled in \(Format.fixed(m.fillSeconds, 2)) s = \(Format.grouped(Double(m.messages) / m.fillSeconds)) msg/s)",
            "  server process: VmRSS \(mb("VmRSS")), VmHWM \(mb("VmHWM")), RssAnon \(mb("RssAnon")), RssShmem \(mb("RssShmem")), RssFile \(mb("RssFile"))",
            "  info().messageCount = \(Format.grouped(Double(m.count))) (\(countOK ? "as sent" : "EXPECTED \(Format.grouped(Double(m.messages)))")), "
                + "queuedBytes = \(Format.bytes(m.queuedBytes))",
            "  target VmRSS < 200 MB: \(rssVerdict)",
        ]
    }

    private func idleLines() -> [String] {
        if let failure = idleFailure { return ["idle: FAILED: \(failure)"] }
        guard let r = idle else { return ["idle: not measured"] }
        func window(_ d: ProcessStats.Delta) -> String {
            "\(Format.fixed(d.cpuPercent, 3))% of one CPU (\(Format.fixed(Double(d.cpuNanoseconds) / 1e6, 2)) ms in \(Format.fixed(d.seconds, 2)) s), "
                + "\(d.voluntary) voluntary and \(d.involuntary) involuntary context switches"
        }
        let seconds = idleWindow / 1_000_000_000
        return [
            "idle: a mailslot server process (\(r.threads) threads) blocked in a read loop; 1 writer sends \(r.messages) × 64 B, "
                + "one every \(idleInterval / 1_000_000) ms for \(seconds) s, then nothing for \(seconds) s",
            "  busy \(seconds) s: " + window(r.busy),
            "  idle \(seconds) s: " + window(r.idle),
            "  target: an idle server wakes at most about once a second (≤ 3 voluntary switches in the idle \(seconds) s): "
                + (r.idleTargetMet ? "met" : "NOT met"),
        ]
    }

    func printJSON() {
        for size in options.sizes {
            for mechanism in options.mechanisms {
                let rowWriters = measuresLatency && !writerCounts.contains(1) ? [1] + writerCounts : writerCounts
                for writers in rowWriters {
                    let unpinned: Double? = writers == 1 ? median(mechanism, size, .p50Unpinned) : nil
                    Output.line(ResultRow(mechanism: mechanism.rawValue, size: size, writers: writers,
                                          messagesPerSecond: median(mechanism, size, .throughput(writers: writers)),
                                          p50Microseconds: writers == 1 ? median(mechanism, size, .p50) : nil,
                                          p99Microseconds: writers == 1 ? median(mechanism, size, .p99) : nil,
                                          p50UnpinnedMicroseconds: .some(unpinned)).json)
                }
            }
        }
        for line in memoryLines() { Output.error(line) }
        if let idle {
            Output.error(idle.json)
        } else if let idleFailure {
            Output.error("{\"phase\":\"idle\",\"error\":\"\(jsonEscaped(idleFailure))\"}")
        }
        for failure in failures { Output.error("FAILED " + failure) }
    }
}

// MARK: hot loops

/// The reader of a throughput run. Returns the ns from the first message received to the last.
@inline(never)
func receiveStamped<R: MessageReceiver>(_ receiver: R, writers: Int, perWriter: Int, size: Int, deadline: UInt64,
                                        children: [ChildProcess]) throws(BenchError) -> UInt64 {
    let buffer = makeMessageBuffer(max(size, 8192))
    defer { buffer.deallocate() }
    var expected = [UInt32](repeating: 0, count: writers)
    let total = writers * perWriter
    var received = 0
    var first: UInt64 = 0
    while received < total {
        guard let n = try receiver.receive(into: buffer) else {
            // Idle: find out why.
            if Clock.now > deadline { throw BenchError("timed out after \(received) of \(total) messages") }
            if let failed = children.first(where: { $0.hasExited && $0.exitCode != 0 }) {
                throw BenchError("\(failed.label) failed (status \(failed.exitCode ?? -1)) after \(received) of \(total) messages")
            }
            if children.allSatisfy({ $0.hasExited }) {
                throw BenchError("every writer finished but only \(received) of \(total) messages arrived")
            }
            continue
        }
        if received == 0 { first = Clock.now }
        received += 1
        guard n == size else { throw BenchError("message \(received) has \(n) bytes, expected \(size)") }
        let (writer, sequence) = MessageHeader.read(buffer.baseAddress!)
        guard Int(writer) < writers else { throw BenchError("message \(received) names writer \(writer) of \(writers)") }
        guard sequence == expected[Int(writer)] else {
            throw BenchError("writer \(writer): got sequence \(sequence), expected \(expected[Int(writer)]) (lost, duplicated or reordered)")
        }
        expected[Int(writer)] = sequence &+ 1
        if received & 8191 == 0 && Clock.now > deadline { throw BenchError("timed out after \(received) of \(total) messages") }
    }
    return Clock.now - first
}

/// The timing side of a round-trip run. Returns the round-trip times after the warm-up, in ns.
@inline(never)
func pingPong<R: MessageReceiver, S: MessageSender>(_ receiver: R, _ sender: S, size: Int, warmup: Int, count: Int,
                                                    deadline: UInt64) throws(BenchError) -> [UInt64] {
    let outgoing = makeMessageBuffer(size)
    defer { outgoing.deallocate() }
    let incoming = makeMessageBuffer(max(size, 8192))
    defer { incoming.deallocate() }
    let message = UnsafeRawBufferPointer(start: outgoing.baseAddress, count: size)
    var times = [UInt64](repeating: 0, count: count)
    for i in 0..<(warmup + count) {
        MessageHeader.write(writer: 0, sequence: UInt32(truncatingIfNeeded: i), to: outgoing.baseAddress!)
        let start = Clock.now
        try sender.send(message)
        guard let n = try receiver.receive(into: incoming) else {
            throw BenchError("no reply within the idle timeout at round trip \(i)")
        }
        let end = Clock.now
        guard n == size, MessageHeader.read(incoming.baseAddress!).sequence == UInt32(truncatingIfNeeded: i) else {
            throw BenchError("round trip \(i): wrong reply (\(n) bytes)")
        }
        if i >= warmup { times[i - warmup] = end - start }
        if i & 1023 == 0 && end > deadline { throw BenchError("timed out after \(i) round trips") }
    }
    return times
}
