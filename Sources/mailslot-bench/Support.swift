// Helpers shared by every bench subcommand: clocks, statistics, the text table, JSON rows, the
// machine header, child processes (re-executing this binary), start barriers and small file I/O.
import CBenchShim
import Glibc

// MARK: errors and output

/// A failed measurement or setup step, with a message for the report.
struct BenchError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }

    /// An errno-based failure of `call`.
    static func system(_ call: String, _ code: Int32 = errno) -> BenchError {
        BenchError("\(call): \(String(cString: strerror(code))) (errno \(code))")
    }
}

/// Standard output and error, unbuffered writes of whole lines (children and parent share terminals).
enum Output {
    static func line(_ text: String) { write(1, text + "\n") }
    static func error(_ text: String) { write(2, text + "\n") }

    private static func write(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 { if errno == EINTR { continue }; return }
            offset += n
        }
    }
}

// MARK: clocks

enum Clock {
    /// CLOCK_MONOTONIC, ns.
    @inline(__always) static var now: UInt64 { cbench_now_ns() }
    static func seconds(_ ns: UInt64) -> Double { Double(ns) / 1e9 }
    /// A monotonic deadline `seconds` from now.
    static func deadline(seconds: Double) -> UInt64 { now + UInt64(seconds * 1e9) }
}

// MARK: statistics

enum Stats {
    /// The median of the values (the mean of the middle two for an even count); nil when empty.
    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// The p-th percentile (0...100) of sorted values, nearest-rank method.
    static func percentile(sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// a / b, nil when either is missing or b is zero.
    static func ratio(_ a: Double?, _ b: Double?) -> Double? {
        guard let a, let b, b != 0 else { return nil }
        return a / b
    }
}

// MARK: formatting

enum Format {
    /// 1234567.8 -> "1,234,568".
    static func grouped(_ value: Double) -> String {
        let n = Int(value.rounded())
        let digits = Array(String(abs(n)))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return n < 0 ? "-" + out : out
    }

    /// A fixed-point decimal with `places` digits after the point.
    static func fixed(_ value: Double, _ places: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = Int((abs(value) * scale).rounded())
        let whole = scaled / Int(scale)
        var text = String(whole)
        if places > 0 {
            let frac = String(scaled % Int(scale))
            text += "." + String(repeating: "0", count: places - frac.count) + frac
        }
        return value < 0 && scaled != 0 ? "-" + text : text
    }

    static func bytes(_ count: Int) -> String {
        if count >= 1 << 20 { return fixed(Double(count) / Double(1 << 20), 1) + " MiB" }
        if count >= 1 << 10 { return fixed(Double(count) / Double(1 << 10), 1) + " KiB" }
        return "\(count) B"
    }
}

/// A plain-text table with aligned columns.
struct TextTable {
    enum Alignment { case left, right }
    var columns: [(title: String, alignment: Alignment)]
    var rows: [[String]] = []

    init(_ columns: [(String, Alignment)]) { self.columns = columns.map { (title: $0.0, alignment: $0.1) } }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render(indent: String = "") -> String {
        var widths = columns.map { $0.title.count }
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var parts: [String] = []
            for (i, column) in columns.enumerated() {
                let cell = i < cells.count ? cells[i] : ""
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                parts.append(column.alignment == .left ? cell + pad : pad + cell)
            }
            var text = indent + parts.joined(separator: "  ")
            while text.hasSuffix(" ") { text.removeLast() }
            return text
        }
        var out = [line(columns.map(\.title)), indent + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        out += rows.map(line)
        return out.joined(separator: "\n")
    }
}

/// One result row of `--json`: exactly these keys, null where not measured.
struct ResultRow {
    var mechanism: String
    var size: Int
    var writers: Int
    var messagesPerSecond: Double?
    var p50Microseconds: Double?
    var p99Microseconds: Double?
    /// `local`'s extra key p50_unpinned_us, its value null where not measured; `.none` leaves the key
    /// out (`network`'s rows).
    var p50UnpinnedMicroseconds: Double?? = .none

    var json: String {
        func number(_ value: Double?, _ places: Int) -> String {
            guard let value, value.isFinite else { return "null" }
            return places == 0 ? String(Int(value.rounded())) : Format.fixed(value, places)
        }
        return "{\"mechanism\":\"\(jsonEscaped(mechanism))\",\"size\":\(size),\"writers\":\(writers),"
            + "\"messages_per_second\":\(number(messagesPerSecond, 0)),"
            + "\"p50_us\":\(number(p50Microseconds, 2)),\"p99_us\":\(number(p99Microseconds, 2))"
            + (p50UnpinnedMicroseconds.map { ",\"p50_unpinned_us\":\(number($0, 2))" } ?? "") + "}"
    }
}

/// The text for inside a JSON string: quotes and backslashes escaped, control characters dropped.
func jsonEscaped(_ text: String) -> String {
    text.unicodeScalars.map { scalar -> String in
        switch scalar {
        case "\"": return "\\\""
        case "\\": return "\\\\"
        default: return scalar.value < 0x20 ? "" : String(scalar)
        }
    }.joined()
}

// MARK: the machine

enum Machine {
    /// `uname -r`.
    static var kernelRelease: String {
        (readTextFile("/proc/sys/kernel/osrelease") ?? "unknown").trimmingTrailingNewlines
    }

    /// The first "model name" of /proc/cpuinfo.
    static var cpuModel: String {
        guard let text = readTextFile("/proc/cpuinfo") else { return "unknown CPU" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return String(line[line.index(after: colon)...]).trimmingSpaces
            }
        }
        return "unknown CPU"
    }

    /// `nproc`.
    static var cpuCount: Int { Int(cbench_cpu_count()) }

    /// "Linux 6.1.0 | AMD EPYC | nproc 2".
    static var summary: String { "Linux \(kernelRelease) | CPU: \(cpuModel) | nproc \(cpuCount)" }

    /// The command line as typed, with the binary's base name.
    /// This program's own path (to start it, or a sibling such as mailslotd, in another namespace).
    static var executable: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : "/proc/self/exe"
    }

    static var commandLine: String {
        var args = CommandLine.arguments
        if let first = args.first { args[0] = String(first.split(separator: "/").last ?? Substring(first)) }
        return args.map { arg in
            arg.allSatisfy({ $0.isLetter || $0.isNumber || "-_=./,:".contains($0) }) ? arg : "'" + arg + "'"
        }.joined(separator: " ")
    }

    /// Fields of /proc/<pid or self>/status in kB, e.g. ["VmRSS": 1234].
    static func statusKilobytes(_ fields: [String], of process: String = "self") -> [String: Int] {
        guard let text = readTextFile("/proc/\(process)/status") else { return [:] }
        var out: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            guard fields.contains(key) else { continue }
            let value = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            if let value { out[key] = value }
        }
        return out
    }
}

/// A process's CPU time and context switches, summed over its threads (/proc/PID/task/*), and when
/// they were read.
struct ProcessStats {
    var time: UInt64
    var cpuNanoseconds: UInt64
    var voluntary: UInt64
    var involuntary: UInt64
    var threads: Int

    init(of pid: pid_t) throws(BenchError) {
        var cpu: UInt64 = 0, voluntary: UInt64 = 0, involuntary: UInt64 = 0
        let threads = cbench_process_stats(pid, &cpu, &voluntary, &involuntary)
        guard threads > 0 else { throw .system("read /proc/\(pid)/task") }
        time = Clock.now
        cpuNanoseconds = cpu
        self.voluntary = voluntary
        self.involuntary = involuntary
        self.threads = Int(threads)
    }

    /// What happened between two readings.
    struct Delta {
        var seconds: Double
        var cpuNanoseconds: UInt64
        var voluntary: UInt64
        var involuntary: UInt64
        /// The CPU time as a percentage of one CPU over the window.
        var cpuPercent: Double { seconds > 0 ? Double(cpuNanoseconds) / 1e9 / seconds * 100 : 0 }
    }

    /// From `earlier` to this reading (a counter that went down, as when a thread ended, counts 0).
    func since(_ earlier: ProcessStats) -> Delta {
        func minus(_ a: UInt64, _ b: UInt64) -> UInt64 { a >= b ? a - b : 0 }
        return Delta(seconds: Clock.seconds(minus(time, earlier.time)), cpuNanoseconds: minus(cpuNanoseconds, earlier.cpuNanoseconds),
                     voluntary: minus(voluntary, earlier.voluntary), involuntary: minus(involuntary, earlier.involuntary))
    }
}

/// Reads a whole (small) file; nil when it cannot be opened.
func readTextFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count < 16 << 20 {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

extension StringProtocol {
    var trimmingTrailingNewlines: String {
        var s = String(self)
        while s.last == "\n" || s.last == "\r" { s.removeLast() }
        return s
    }
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" || s.last == "\n" { s.removeLast() }
        return String(s)
    }
}

// MARK: child processes

/// A pipe whose both ends are close-on-exec in this process.
struct Pipe {
    var readEnd: Int32
    var writeEnd: Int32

    init() throws(BenchError) {
        var fds: [Int32] = [-1, -1]
        guard cbench_pipe(&fds) == 0 else { throw .system("pipe2") }
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    mutating func closeRead() { if readEnd >= 0 { close(readEnd); readEnd = -1 } }
    mutating func closeWrite() { if writeEnd >= 0 { close(writeEnd); writeEnd = -1 } }
    mutating func closeBoth() { closeRead(); closeWrite() }
}

/// A child running this same binary (through /proc/self/exe) with a hidden subcommand.
final class ChildProcess {
    let pid: pid_t
    let label: String
    private(set) var exitStatus: Int32?

    /// Descriptor numbers the bench's children find their pipes at.
    static let readyFD: Int32 = 3
    static let goFD: Int32 = 4
    /// Where a child finds the endpoints it is handed as descriptors (pipe ends, ring memfds): a writer
    /// its sending end at the first; an echo process its receiving end at the first, its sending end at
    /// the second.
    static let firstEndpointFD: Int32 = 5
    static let secondEndpointFD: Int32 = 6

    /// Starts `/proc/self/exe arguments...`; `descriptors` maps the parent's descriptors to the child's
    /// numbers (every other descriptor of ours is close-on-exec and stays closed there).
    init(_ arguments: [String], label: String, descriptors: [(parent: Int32, child: Int32)] = []) throws(BenchError) {
        let path = "/proc/self/exe"
        let argv = (["mailslot-bench"] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv + [nil]
        let sources = descriptors.map(\.parent)
        let targets = descriptors.map(\.child)
        let pid = cArgs.withUnsafeMutableBufferPointer { args in
            cbench_spawn(path, args.baseAddress, sources, targets, Int32(sources.count))
        }
        guard pid > 0 else { throw .system("posix_spawn \(label)") }
        self.pid = pid
        self.label = label
    }

    /// Whether it has ended (reaps it if so).
    var hasExited: Bool {
        if exitStatus != nil { return true }
        return (try? wait(timeoutMilliseconds: 0)) ?? false
    }

    /// Waits up to `timeoutMilliseconds`; true when it ended.
    @discardableResult
    func wait(timeoutMilliseconds: Int32) throws(BenchError) -> Bool {
        if exitStatus != nil { return true }
        var status: Int32 = 0
        let r = cbench_wait(pid, timeoutMilliseconds, &status)
        if r < 0 { throw .system("waitpid \(label)") }
        if r == 0 { return false }
        exitStatus = status
        return true
    }

    /// The exit code, or minus the signal that killed it; nil while running.
    var exitCode: Int32? { exitStatus.map { cbench_exit_code($0) } }

    /// Waits for a successful exit; kills it and throws when it does not end in time or fails.
    func finish(timeoutMilliseconds: Int32) throws(BenchError) {
        guard try wait(timeoutMilliseconds: timeoutMilliseconds) else {
            kill()
            throw BenchError("\(label) (pid \(pid)) did not exit within \(timeoutMilliseconds) ms; killed")
        }
        if let code = exitCode, code != 0 {
            throw BenchError("\(label) (pid \(pid)) " + (code < 0 ? "was killed by signal \(-code)" : "exited with status \(code)"))
        }
    }

    /// SIGKILL by pid and reap.
    func kill() {
        guard exitStatus == nil else { return }
        _ = Glibc.kill(pid, SIGKILL)
        _ = try? wait(timeoutMilliseconds: 5000)
    }

    deinit { kill() }
}

/// Kills every child that is still running (by pid) and reaps them.
func killAll(_ children: [ChildProcess]) {
    for child in children where !child.hasExited { _ = kill(child.pid, SIGKILL) }
    for child in children { child.kill() }
}

/// A start barrier across processes: each child writes one byte to its ready descriptor once it is set
/// up, then reads its go descriptor until end of file; the parent closes the go pipe to start them all.
struct StartBarrier {
    var ready: Pipe
    var go: Pipe

    init() throws(BenchError) {
        ready = try Pipe()
        go = try Pipe()
    }

    /// The descriptor map for a child taking part.
    var childDescriptors: [(parent: Int32, child: Int32)] {
        [(ready.writeEnd, ChildProcess.readyFD), (go.readEnd, ChildProcess.goFD)]
    }

    /// Waits for `count` children to report ready. Call after starting them all.
    mutating func waitReady(_ count: Int, children: [ChildProcess], timeoutSeconds: Double) throws(BenchError) {
        ready.closeWrite() // so that children which all died show as end of file
        let deadline = Clock.deadline(seconds: timeoutSeconds)
        var seen = 0
        var byte: UInt8 = 0
        while seen < count {
            let now = Clock.now
            guard now < deadline else { throw BenchError("\(count - seen) of \(count) children were not ready within \(timeoutSeconds) s") }
            let r = cbench_wait_readable(ready.readEnd, Int32(min(200, (deadline - now) / 1_000_000 + 1)))
            if r < 0 { throw .system("poll") }
            if r == 0 {
                if let dead = children.first(where: { $0.hasExited }) {
                    throw BenchError("\(dead.label) ended before it was ready (status \(dead.exitCode ?? -1))")
                }
                continue
            }
            let n = read(ready.readEnd, &byte, 1)
            if n == 0 { throw BenchError("children ended before they were ready") }
            if n < 0 { if errno == EINTR { continue }; throw .system("read ready pipe") }
            seen += 1
        }
    }

    /// Starts every waiting child at once.
    mutating func release() {
        go.closeWrite()
    }

    mutating func close() {
        ready.closeBoth()
        go.closeBoth()
    }
}

/// The child's side of ``StartBarrier``.
enum ChildBarrier {
    /// Reports ready on descriptor 3.
    static func signalReady() {
        var byte: UInt8 = 1
        while write(ChildProcess.readyFD, &byte, 1) < 0 && errno == EINTR {}
        close(ChildProcess.readyFD)
    }

    /// Blocks until the parent releases the barrier (end of file on descriptor 4), up to `timeoutSeconds`.
    static func waitForGo(timeoutSeconds: Int32) throws(BenchError) {
        var byte: UInt8 = 0
        while true {
            let r = cbench_wait_readable(ChildProcess.goFD, timeoutSeconds * 1000)
            if r == 0 { throw BenchError("the start signal did not come within \(timeoutSeconds) s") }
            if r < 0 { throw .system("poll go pipe") }
            let n = read(ChildProcess.goFD, &byte, 1)
            if n == 0 { break }
            if n < 0 && errno != EINTR { throw .system("read go pipe") }
        }
        close(ChildProcess.goFD)
    }
}

/// Runs a child's body: prints its error on standard error and exits non-zero on failure.
func childMain(_ name: String, alarmSeconds: UInt32, _ body: () throws(BenchError) -> Void) -> Never {
    cbench_alarm(alarmSeconds) // a stuck child can never outlive the bench by much
    cbench_set_thread_name("msb" + name.prefix(while: { $0 != " " })) // "msb_writer" in ps and perf, not "exe"
    do throws(BenchError) {
        try body()
    } catch {
        Output.error("mailslot-bench \(name) (pid \(getpid())): \(error)")
        exit(2)
    }
    exit(0)
}
