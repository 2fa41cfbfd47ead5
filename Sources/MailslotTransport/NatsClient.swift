#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotNats
import Logging
import MailslotCore

/// A connection to a NATS server through the official C client (nats.c, Debian's libnats), loaded at run
/// time (`CMailslotNats`): the bridge's only wire between sites. It connects in the background and keeps
/// reconnecting for ever, backing off (``Options/reconnect``); while it is away, publishing fails at once
/// (nothing is buffered, so that a message is either on its way or counted as not forwarded).
///
/// The first connect is ours, on a thread of its own, until one succeeds; after it nats.c reconnects. Not
/// nats.c's retry-on-failed-connect: in nats.c 3.4.1, a first attempt that reaches a listener which hangs
/// up before the NATS greeting (a proxy in front of a server that is down, a server that is restarting)
/// closes that connection for good, and nothing would ever connect again.
///
/// Callbacks (subscriptions, connection events) run on nats.c's own threads.
package final class NatsClient: @unchecked Sendable {
    /// How to reach the servers, and as whom.
    package struct Options: Sendable {
        package var servers: [String]
        package var name: String
        package var user: String?
        package var password: String?
        package var token: String?
        /// A `.creds` file (JWT and NKey seed).
        package var credentialsFile: String?
        /// An NKey public key and the file holding its seed.
        package var nkey: String?
        package var nkeySeedFile: String?
        /// A CA certificate file: TLS, verifying the server against it.
        package var caFile: String?
        /// How long to wait before each attempt to reach a server again (also before the first connect
        /// succeeds): exponential back-off with jitter.
        package var reconnect: ReconnectBackoff = .bridge

        package init(servers: [String], name: String) {
            self.servers = servers
            self.name = name
        }
    }

    /// A connection event.
    package enum Event: Sendable {
        case connected, disconnected, reconnected, closed
        case error(String)
    }

    /// A message received from a subscription (copied out of nats.c's).
    package struct Message: Sendable {
        package var subject: String
        package var reply: String?
        package var data: [UInt8]
        /// The headers as nats.c gave them (each key's first value), in one block: copying them out costs
        /// one array, and only the values asked for become strings.
        package var headerBlock: HeaderBlock
        /// Whether more messages of its subscription were already waiting in nats.c when this one was
        /// handed over: a handler may hold back work it can do for several at once until one comes with
        /// none behind it.
        package var morePending = false

        /// The first value of the header `name` (names are case-sensitive, as in nats.c).
        package func header(_ name: String) -> String? { headerBlock.value(of: name) }
        /// Every header, for diagnostics and tests.
        package var headers: [String: String] { headerBlock.dictionary }
    }

    /// Headers as "key\0value\0" pairs: what `publish(_:headers:data:)` hands nats.c in one call, and what
    /// a received message's headers are copied into. A caller that publishes many messages with the same
    /// headers builds the block once and appends what changes.
    package struct HeaderBlock: Sendable, Equatable {
        package private(set) var bytes: [UInt8] = []

        package init() {}

        package init(_ headers: [(name: String, value: String)]) {
            for (name, value) in headers { append(name, value) }
        }

        init(bytes: [UInt8]) { self.bytes = bytes }

        /// Adds a pair; a name or value is taken up to its first NUL byte, as a C string would be.
        package mutating func append(_ name: String, _ value: String) {
            bytes.append(contentsOf: name.utf8.prefix { $0 != 0 })
            bytes.append(0)
            bytes.append(contentsOf: value.utf8.prefix { $0 != 0 })
            bytes.append(0)
        }

        /// Calls `body` with the block and each pair's name and value ranges in it, until it returns false.
        private func forEachPair(_ body: (UnsafeBufferPointer<UInt8>, Range<Int>, Range<Int>) -> Bool) {
            bytes.withUnsafeBufferPointer { all in
                var start = 0
                while start < all.count {
                    func end(from i: Int) -> Int? { // memchr: the blocks are a few hundred bytes, looked through ten times a message
                        memchr(all.baseAddress! + i, 0, all.count - i).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) - all.baseAddress! }
                    }
                    guard let nameEnd = end(from: start), nameEnd + 1 < all.count, let valueEnd = end(from: nameEnd + 1) else { return }
                    guard body(all, start..<nameEnd, (nameEnd + 1)..<valueEnd) else { return }
                    start = valueEnd + 1
                }
            }
        }

        /// Where the first value of `name` lies in ``bytes``.
        private func valueRange(of name: String) -> Range<Int>? {
            var found: Range<Int>?
            var wanted = name
            wanted.withUTF8 { wanted in
                forEachPair { all, key, value in
                    guard key.count == wanted.count, memcmp(all.baseAddress! + key.lowerBound, wanted.baseAddress!, key.count) == 0 else { return true }
                    found = value
                    return false
                }
            }
            return found
        }

        package func value(of name: String) -> String? {
            valueRange(of: name).map { String(decoding: bytes[$0], as: UTF8.self) }
        }

        /// The first value of `name` in this block, when the block is `other`'s bytes but for that value
        /// (present in both): then every other header has the same value in both. nil otherwise. One look
        /// through each block.
        package func value(of name: String, ifOtherwiseEqualTo other: HeaderBlock) -> String? {
            guard let mine = valueRange(of: name), let theirs = other.valueRange(of: name), mine.lowerBound == theirs.lowerBound,
                  bytes.count - mine.upperBound == other.bytes.count - theirs.upperBound else { return nil }
            let equal = bytes.withUnsafeBytes { a in
                other.bytes.withUnsafeBytes { b in
                    memcmp(a.baseAddress!, b.baseAddress!, mine.lowerBound) == 0
                        && memcmp(a.baseAddress! + mine.upperBound, b.baseAddress! + theirs.upperBound, bytes.count - mine.upperBound) == 0
                }
            }
            return equal ? String(decoding: bytes[mine], as: UTF8.self) : nil
        }

        package var dictionary: [String: String] {
            var result: [String: String] = [:]
            forEachPair { all, key, value in
                let name = String(decoding: UnsafeBufferPointer(rebasing: all[key]), as: UTF8.self)
                result[name] = result[name] ?? String(decoding: UnsafeBufferPointer(rebasing: all[value]), as: UTF8.self)
                return true
            }
            return result
        }
    }

    /// A failure of a NATS call: nats.c's status and its text.
    package struct Failure: Error, Sendable, CustomStringConvertible {
        package var status: Int32
        package var text: String
        package var description: String { text }
        package var isNoResponders: Bool { status == Int32(CMN_NO_RESPONDERS.rawValue) }
        package var isTimeout: Bool { status == Int32(CMN_TIMEOUT.rawValue) }
    }

    private let events: Box<@Sendable (Event) -> Void>
    private let state = Locked(State())
    /// Readable once ``close()`` has been called: ends the first connect's wait between attempts.
    private let stopFD: FD

    private struct State {
        /// nil until the first connect succeeds; then the same connection for the client's life (nats.c
        /// reconnects it), destroyed only by deinit, so that a caller may use it outside the lock.
        var connection: OpaquePointer?
        /// Subscriptions asked for before the first connect, made by the thread that connects.
        var pending: [Subscription] = []
        var subscriptions: [OpaquePointer] = []
        /// The thread making the first connect, until ``close()`` or deinit joins it.
        var connector: ThreadHandle?
        var closed = false
    }

    private struct Subscription {
        var subject: String
        var queueGroup: String?
        var maxPending: Int32
        var handler: Box<@Sendable (Message) -> Void>
    }

    /// A reference type for a closure handed to C as its `closure` pointer.
    final class Box<T>: @unchecked Sendable {
        let value: T
        init(_ value: T) { self.value = value }
    }

    /// Every closure handed to nats.c stays alive for the process's life: nats.c may still call a
    /// connection's handlers (its closed event, a subscription's last message) on its own threads after
    /// the connection and subscription are destroyed, and a few small boxes per connection cost nothing.
    private static let keptAlive = Locked<[AnyObject]>([])

    /// Loads libnats; throws ERROR_NOT_SUPPORTED (50) saying what to install when it is missing.
    package static func loadLibrary() throws(MailslotError) {
        var message = [CChar](repeating: 0, count: 512)
        guard cmn_load(&message, message.count) == 0 else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw MailslotError(.notSupported, "the NATS bridge needs the NATS C client, which this machine lacks: \(text)")
        }
    }

    /// The loaded client's version ("3.4.1").
    package static var libraryVersion: String { cmn_version().map { String(cString: $0) } ?? "?" }

    static func failure(_ status: cmn_status) -> Failure {
        Failure(status: Int32(status.rawValue), text: String(cString: cmn_status_text(status)))
    }

    /// Starts connecting in the background (`events` hears `.connected` once connected, and `.error` when
    /// an attempt fails for a new reason). Throws for options nats.c refuses (a bad URL, an unreadable
    /// file), or when no thread or descriptor is left to connect with.
    package init(_ options: Options, events: @escaping @Sendable (Event) -> Void) throws(MailslotError) {
        try NatsClient.loadLibrary()
        let box = Box(events)
        self.events = box
        NatsClient.keptAlive.withLock { $0.append(box) }
        do throws(Errno) { stopFD = try Sys.eventFD() } catch { throw MailslotError.system("could not create the NATS client's stop signal", error) }
        var made: OpaquePointer?
        guard cmn_options_create(&made) == CMN_OK, let opts = made else {
            Sys.close(stopFD)
            throw MailslotError(.notEnoughMemory, "could not create NATS options")
        }
        do throws(MailslotError) { try NatsClient.configure(opts, options, events: box) } catch {
            cmn_options_destroy(opts)
            Sys.close(stopFD)
            throw error
        }
        let description = options.servers.joined(separator: ", ")
        do throws(Errno) {
            let handedOver = Box(opts) // the connector's from now on: it destroys them
            let connector = try Sys.startThread { [self] in connectFirst(handedOver.value, backoff: options.reconnect, servers: description) }
            state.withLock { $0.connector = connector }
        } catch {
            cmn_options_destroy(opts)
            Sys.close(stopFD)
            throw MailslotError.system("could not start the thread that connects to NATS", error)
        }
    }

    /// The options of every connection: servers, credentials, reconnecting, and the event handlers.
    private static func configure(_ opts: OpaquePointer, _ options: Options, events: Box<@Sendable (Event) -> Void>) throws(MailslotError) {
        func check(_ status: cmn_status, _ what: String) throws(MailslotError) {
            guard status == CMN_OK else {
                throw MailslotError(.invalidParameter, "the NATS bridge's \(what) was refused: \(NatsClient.failure(status).text)")
            }
        }
        var servers = options.servers.map { $0.withCString { strdup($0) } }
        defer { servers.forEach { free($0) } }
        try servers.withUnsafeMutableBufferPointer { (list) throws(MailslotError) in
            try list.withMemoryRebound(to: UnsafePointer<CChar>.self) { (pointers) throws(MailslotError) in
                try check(cmn_options_set_servers(opts, pointers.baseAddress!, Int32(pointers.count)), "server list \(options.servers)")
            }
        }
        try check(cmn_options_set_name(opts, options.name), "client name")
        if let user = options.user { try check(cmn_options_set_user_info(opts, user, options.password), "user") }
        if let token = options.token { try check(cmn_options_set_token(opts, token), "token") }
        if let file = options.credentialsFile { try check(cmn_options_set_user_credentials_from_files(opts, file, nil), "credentials file \(file)") }
        if let nkey = options.nkey, let seed = options.nkeySeedFile { try check(cmn_options_set_nkey_from_seed(opts, nkey, seed), "NKey seed file \(seed)") }
        if let ca = options.caFile {
            try check(cmn_options_set_secure(opts, true), "TLS")
            try check(cmn_options_load_ca_trusted_certificates(opts, ca), "CA file \(ca)")
        }
        try check(cmn_options_set_allow_reconnect(opts, true), "reconnect")
        try check(cmn_options_set_max_reconnect(opts, -1), "reconnect count")
        let schedule = Box(options.reconnect)
        NatsClient.keptAlive.withLock { $0.append(schedule) }
        try check(cmn_options_set_custom_reconnect_delay(opts, { _, attempts, closure in
            Unmanaged<Box<ReconnectBackoff>>.fromOpaque(closure!).takeUnretainedValue().value
                .delayMilliseconds(attempt: Int(attempts), random: Double.random(in: 0..<1))
        }, Unmanaged.passUnretained(schedule).toOpaque()), "reconnect back-off")
        // Nothing is kept for later while the server is away: publish() refuses while not connected, and a
        // message is either on its way or counted as not forwarded (the reconnect buffer stays unused).
        try check(cmn_options_set_ping_interval(opts, 2_000), "ping interval")
        try check(cmn_options_set_max_pings_out(opts, 2), "pings out")
        try check(cmn_options_set_timeout(opts, 2_000), "connect timeout")
        try check(cmn_options_set_no_echo(opts, true), "no echo") // a bridge never hears itself
        let closure = Unmanaged.passUnretained(events).toOpaque()
        try check(cmn_options_set_disconnected_cb(opts, { _, closure in
            Unmanaged<Box<@Sendable (Event) -> Void>>.fromOpaque(closure!).takeUnretainedValue().value(.disconnected)
        }, closure), "disconnect handler")
        try check(cmn_options_set_reconnected_cb(opts, { _, closure in
            Unmanaged<Box<@Sendable (Event) -> Void>>.fromOpaque(closure!).takeUnretainedValue().value(.reconnected)
        }, closure), "reconnect handler")
        try check(cmn_options_set_closed_cb(opts, { _, closure in
            Unmanaged<Box<@Sendable (Event) -> Void>>.fromOpaque(closure!).takeUnretainedValue().value(.closed)
        }, closure), "close handler")
        try check(cmn_options_set_error_handler(opts, { _, _, status, closure in
            Unmanaged<Box<@Sendable (Event) -> Void>>.fromOpaque(closure!).takeUnretainedValue().value(.error(NatsClient.failure(status).text))
        }, closure), "error handler")
    }

    /// The connector thread: tries until a connect succeeds or the client is closed, waiting as
    /// `backoff` says between attempts; then makes the subscriptions asked for meanwhile.
    private func connectFirst(_ opts: OpaquePointer, backoff: ReconnectBackoff, servers: String) {
        defer { cmn_options_destroy(opts) }
        var attempt = 0
        var lastFailure = ""
        while !state.withLock({ $0.closed }) {
            var made: OpaquePointer?
            let status = cmn_connection_connect(&made, opts)
            if status == CMN_OK, let made {
                let pending = state.withLock { state -> [Subscription]? in
                    guard !state.closed else { return nil }
                    state.connection = made
                    defer { state.pending = [] }
                    return state.pending
                }
                guard let pending else { // closed meanwhile: nobody else has seen this connection
                    cmn_connection_close(made)
                    cmn_connection_destroy(made)
                    return
                }
                for subscription in pending {
                    do throws(Failure) { try attach(subscription, to: made) } catch {
                        events.value(.error("could not subscribe to \(subscription.subject): \(error.text)"))
                    }
                }
                events.value(.connected)
                return
            }
            if let made { cmn_connection_destroy(made) }
            let failure = NatsClient.failure(status).text
            if failure != lastFailure { // said once per reason, not once per attempt
                lastFailure = failure
                events.value(.error("cannot connect to \(servers): \(failure); trying again, backing off"))
            }
            attempt += 1
            let wait = backoff.delayMilliseconds(attempt: attempt, random: Double.random(in: 0..<1))
            if let woken = try? Sys.poll(stopFD, .readable, timeoutMilliseconds: Int32(clamping: wait)), !woken.isEmpty { return }
        }
    }

    deinit {
        close()
        if let connector = state.withLock({ $0.connector }) { // finished: it held this client until it returned
            if Sys.isCurrentThread(connector) { pthread_detach(connector) } else { Sys.join(connector) }
        }
        if let connection = state.withLock({ $0.connection }) { cmn_connection_destroy(connection) }
        Sys.close(stopFD)
    }

    /// The connection, once the first connect has succeeded.
    private var connection: OpaquePointer? { state.withLock { $0.connection } }

    private static let notConnected = Failure(status: Int32(CMN_CONNECTION_DISCONNECTED.rawValue), text: "not connected to NATS")

    /// Whether the connection is up now.
    package var isConnected: Bool { connection.map { cmn_connection_status($0) == CMN_CONN_STATUS_CONNECTED } ?? false }

    /// The server connected to, or nil while away.
    package var connectedURL: String? {
        guard let connection else { return nil }
        var buffer = [CChar](repeating: 0, count: 256)
        guard cmn_connection_get_connected_url(connection, &buffer, buffer.count) == CMN_OK, buffer[0] != 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Publishes one message with headers. Fails at once while the server is away.
    package func publish(_ subject: String, headers: [(name: String, value: String)], data: [UInt8]) throws(Failure) {
        try publish(subject, headers: HeaderBlock(headers), data: data)
    }

    /// Publishes one message with the headers of a block (one call into nats.c). Fails at once while the
    /// server is away.
    package func publish(_ subject: String, headers: HeaderBlock, data: [UInt8]) throws(Failure) {
        guard let connection, cmn_connection_status(connection) == CMN_CONN_STATUS_CONNECTED else { throw NatsClient.notConnected }
        let status = headers.bytes.withUnsafeBufferPointer { block in
            data.withUnsafeBytes { payload in
                block.withMemoryRebound(to: CChar.self) { block in
                    cmn_connection_publish_with_headers(connection, subject, block.baseAddress, Int32(block.count), payload.baseAddress, Int32(payload.count))
                }
            }
        }
        guard status == CMN_OK else { throw NatsClient.failure(status) }
    }

    /// Publishes one message without headers (natsConnection_Publish). Fails at once while the server is away.
    package func publish(_ subject: String, data: [UInt8]) throws(Failure) {
        guard let connection, cmn_connection_status(connection) == CMN_CONN_STATUS_CONNECTED else { throw NatsClient.notConnected }
        let status = data.withUnsafeBytes { cmn_connection_publish(connection, subject, $0.baseAddress, Int32($0.count)) }
        guard status == CMN_OK else { throw NatsClient.failure(status) }
    }

    /// Publishes a reply to a request (the message's reply subject), without headers.
    package func respond(to request: Message, data: [UInt8]) throws(Failure) {
        guard let reply = request.reply else { return }
        guard let connection else { throw NatsClient.notConnected }
        let status = data.withUnsafeBytes { cmn_connection_publish(connection, reply, $0.baseAddress, Int32($0.count)) }
        guard status == CMN_OK else { throw NatsClient.failure(status) }
    }

    /// Asks `subject` and waits up to `timeoutMilliseconds` for the first answer.
    package func request(_ subject: String, data: [UInt8], timeoutMilliseconds: Int64) throws(Failure) -> Message {
        guard let connection else { throw NatsClient.notConnected }
        var reply: OpaquePointer?
        let status = data.withUnsafeBytes { cmn_connection_request(&reply, connection, subject, $0.baseAddress, Int32($0.count), timeoutMilliseconds) }
        guard status == CMN_OK, let reply else { throw NatsClient.failure(status) }
        defer { cmn_msg_destroy(reply) }
        return NatsClient.copy(reply)
    }

    /// Subscribes (in `queueGroup`, when given: each message then goes to one member). `handler` runs on
    /// the subscription's own thread, one message at a time. Before the first connect, the subscription
    /// is made as soon as it succeeds.
    package func subscribe(_ subject: String, queueGroup: String? = nil, maxPending: Int32 = 65_536,
                           _ handler: @escaping @Sendable (Message) -> Void) throws(Failure) {
        let box = Box<@Sendable (Message) -> Void>(handler)
        NatsClient.keptAlive.withLock { $0.append(box) }
        let subscription = Subscription(subject: subject, queueGroup: queueGroup, maxPending: maxPending, handler: box)
        let connection = state.withLock { state -> OpaquePointer? in
            if state.connection == nil { state.pending.append(subscription) }
            return state.connection
        }
        guard let connection else { return }
        try attach(subscription, to: connection)
    }

    private func attach(_ wanted: Subscription, to connection: OpaquePointer) throws(Failure) {
        var subscription: OpaquePointer?
        let callback: cmn_msg_handler = { _, subscription, message, closure in
            var copied = NatsClient.copy(message)
            cmn_msg_destroy(message)
            copied.morePending = cmn_subscription_pending_messages(subscription) > 0
            Unmanaged<Box<@Sendable (Message) -> Void>>.fromOpaque(closure!).takeUnretainedValue().value(copied)
        }
        let closure = Unmanaged.passUnretained(wanted.handler).toOpaque()
        let status = wanted.queueGroup.map { cmn_connection_queue_subscribe(&subscription, connection, wanted.subject, $0, callback, closure) }
            ?? cmn_connection_subscribe(&subscription, connection, wanted.subject, callback, closure)
        guard status == CMN_OK, let subscription else { throw NatsClient.failure(status) }
        _ = cmn_subscription_set_pending_limits(subscription, wanted.maxPending, 64 << 20)
        let kept = state.withLock { state in
            if !state.closed { state.subscriptions.append(subscription) }
            return !state.closed
        }
        if !kept { // closed meanwhile, after close() took the list
            _ = cmn_subscription_unsubscribe(subscription)
            cmn_subscription_destroy(subscription)
        }
    }

    /// Messages the subscriptions dropped because their handlers fell behind.
    package var droppedBySubscriptions: Int64 {
        state.withLock { state in // under the lock: close() destroys the subscriptions
            state.subscriptions.reduce(0) { total, subscription in
                var dropped: Int64 = 0
                _ = cmn_subscription_get_dropped(subscription, &dropped)
                return total + dropped
            }
        }
    }

    /// Sends what is buffered and waits (at most 5 s) for the server to have it.
    package func flush() {
        guard let connection else { return }
        _ = cmn_connection_flush_timeout(connection, 5_000)
    }

    /// Closes the connection, or ends the first connect while it is still trying (waiting for its attempt
    /// in progress, at most nats.c's 2 s connect timeout); later publishes fail.
    package func close() {
        let taken = state.withLock { state -> (subscriptions: [OpaquePointer], connection: OpaquePointer?, connector: ThreadHandle?)? in
            guard !state.closed else { return nil }
            state.closed = true
            defer { state.subscriptions.removeAll() }
            return (state.subscriptions, state.connection, state.connector)
        }
        guard let taken else { return }
        Sys.signalEventFD(stopFD)
        for subscription in taken.subscriptions {
            _ = cmn_subscription_unsubscribe(subscription)
            cmn_subscription_destroy(subscription)
        }
        if let connection = taken.connection { cmn_connection_close(connection) }
        if let connector = taken.connector, !Sys.isCurrentThread(connector) {
            Sys.join(connector)
            state.withLock { $0.connector = nil }
        }
    }

    private static func copy(_ message: OpaquePointer) -> Message {
        let subject = String(cString: cmn_msg_get_subject(message))
        let reply = cmn_msg_get_reply(message).map { String(cString: $0) }
        let length = Int(cmn_msg_get_data_length(message))
        var data: [UInt8] = []
        if length > 0, let bytes = cmn_msg_get_data(message) {
            data = Array(UnsafeRawBufferPointer(start: bytes, count: length))
        }
        // A hostile message with thousands of headers is cut short at 64.
        func headers(into block: inout [UInt8]) -> Int {
            Int(block.withUnsafeMutableBufferPointer { $0.withMemoryRebound(to: CChar.self) { cmn_msg_header_block(message, $0.baseAddress, Int32($0.count), 64) } })
        }
        var block = [UInt8](repeating: 0, count: 512)
        var needed = headers(into: &block)
        if needed > block.count {
            block = [UInt8](repeating: 0, count: needed)
            needed = headers(into: &block)
        }
        block.removeLast(block.count - min(block.count, max(needed, 0)))
        return Message(subject: subject, reply: reply, data: data, headerBlock: HeaderBlock(bytes: block))
    }
}
