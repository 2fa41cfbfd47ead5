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
/// reconnecting for ever; while it is away, publishing fails at once (nothing is buffered, so that a
/// message is either on its way or counted as not forwarded).
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
        /// How long to wait between reconnect attempts.
        package var reconnectWaitMilliseconds: Int64 = 250

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
        package var headers: [String: String]
        package func header(_ name: String) -> String? { headers[name] }
    }

    /// A failure of a NATS call: nats.c's status and its text.
    package struct Failure: Error, Sendable, CustomStringConvertible {
        package var status: Int32
        package var text: String
        package var description: String { text }
        package var isNoResponders: Bool { status == Int32(CMN_NO_RESPONDERS.rawValue) }
        package var isTimeout: Bool { status == Int32(CMN_TIMEOUT.rawValue) }
    }

    private let connection: OpaquePointer
    private let events: Box<@Sendable (Event) -> Void>
    private let subscriptions = Locked<[OpaquePointer]>([])
    private let closed = Locked(false)

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

    /// Connects, or keeps trying in the background when no server answers now (`events` hears
    /// `.connected` then). Throws for options nats.c refuses (a bad URL, an unreadable file).
    package init(_ options: Options, events: @escaping @Sendable (Event) -> Void) throws(MailslotError) {
        try NatsClient.loadLibrary()
        let box = Box(events)
        self.events = box
        NatsClient.keptAlive.withLock { $0.append(box) }
        var opts: OpaquePointer?
        guard cmn_options_create(&opts) == CMN_OK, let opts else { throw MailslotError(.notEnoughMemory, "could not create NATS options") }
        defer { cmn_options_destroy(opts) }
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
        try check(cmn_options_set_reconnect_wait(opts, options.reconnectWaitMilliseconds), "reconnect wait")
        // Nothing is kept for later while the server is away: publish() refuses while not connected, and a
        // message is either on its way or counted as not forwarded (the reconnect buffer stays unused).
        try check(cmn_options_set_ping_interval(opts, 2_000), "ping interval")
        try check(cmn_options_set_max_pings_out(opts, 2), "pings out")
        try check(cmn_options_set_timeout(opts, 2_000), "connect timeout")
        try check(cmn_options_set_no_echo(opts, true), "no echo") // a bridge never hears itself
        let closure = Unmanaged.passUnretained(self.events).toOpaque()
        let handler: cmn_connection_handler = { _, closure in Unmanaged<Box<@Sendable (Event) -> Void>>.fromOpaque(closure!).takeUnretainedValue().value(.connected) }
        try check(cmn_options_set_retry_on_failed_connect(opts, true, handler, closure), "background connect")
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
        var made: OpaquePointer?
        let status = cmn_connection_connect(&made, opts)
        guard status == CMN_OK || status == CMN_NOT_YET_CONNECTED, let made else {
            throw MailslotError(.badNetPath, "could not set up the NATS connection to \(options.servers.joined(separator: ", ")): \(NatsClient.failure(status).text)")
        }
        connection = made
        if status == CMN_OK { events(.connected) }
    }

    deinit {
        close()
        cmn_connection_destroy(connection)
    }

    /// Whether the connection is up now.
    package var isConnected: Bool { cmn_connection_status(connection) == CMN_CONN_STATUS_CONNECTED }

    /// The server connected to, or nil while away.
    package var connectedURL: String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard cmn_connection_get_connected_url(connection, &buffer, buffer.count) == CMN_OK, buffer[0] != 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Publishes one message with headers. Fails at once while the server is away.
    package func publish(_ subject: String, headers: [(name: String, value: String)], data: [UInt8]) throws(Failure) {
        guard isConnected else { throw Failure(status: Int32(CMN_CONNECTION_DISCONNECTED.rawValue), text: "not connected to NATS") }
        let message = try NatsClient.makeMessage(subject, reply: nil, headers: headers, data: data)
        defer { cmn_msg_destroy(message) }
        let status = cmn_connection_publish_msg(connection, message)
        guard status == CMN_OK else { throw NatsClient.failure(status) }
    }

    /// Publishes a reply to a request (the message's reply subject), without headers.
    package func respond(to request: Message, data: [UInt8]) throws(Failure) {
        guard let reply = request.reply else { return }
        let status = data.withUnsafeBytes { cmn_connection_publish(connection, reply, $0.baseAddress, Int32($0.count)) }
        guard status == CMN_OK else { throw NatsClient.failure(status) }
    }

    /// Asks `subject` and waits up to `timeoutMilliseconds` for the first answer.
    package func request(_ subject: String, data: [UInt8], timeoutMilliseconds: Int64) throws(Failure) -> Message {
        var reply: OpaquePointer?
        let status = data.withUnsafeBytes { cmn_connection_request(&reply, connection, subject, $0.baseAddress, Int32($0.count), timeoutMilliseconds) }
        guard status == CMN_OK, let reply else { throw NatsClient.failure(status) }
        defer { cmn_msg_destroy(reply) }
        return NatsClient.copy(reply)
    }

    /// Subscribes (in `queueGroup`, when given: each message then goes to one member). `handler` runs on
    /// the subscription's own thread, one message at a time.
    package func subscribe(_ subject: String, queueGroup: String? = nil, maxPending: Int32 = 65_536,
                           _ handler: @escaping @Sendable (Message) -> Void) throws(Failure) {
        let box = Box<@Sendable (Message) -> Void>(handler)
        NatsClient.keptAlive.withLock { $0.append(box) }
        var subscription: OpaquePointer?
        let callback: cmn_msg_handler = { _, _, message, closure in
            let copied = NatsClient.copy(message)
            cmn_msg_destroy(message)
            Unmanaged<Box<@Sendable (Message) -> Void>>.fromOpaque(closure!).takeUnretainedValue().value(copied)
        }
        let closure = Unmanaged.passUnretained(box).toOpaque()
        let status = queueGroup.map { cmn_connection_queue_subscribe(&subscription, connection, subject, $0, callback, closure) }
            ?? cmn_connection_subscribe(&subscription, connection, subject, callback, closure)
        guard status == CMN_OK, let subscription else { throw NatsClient.failure(status) }
        _ = cmn_subscription_set_pending_limits(subscription, maxPending, 64 << 20)
        subscriptions.withLock { $0.append(subscription) }
    }

    /// Messages the subscriptions dropped because their handlers fell behind.
    package var droppedBySubscriptions: Int64 {
        subscriptions.withLock { list in
            list.reduce(0) { total, subscription in
                var dropped: Int64 = 0
                _ = cmn_subscription_get_dropped(subscription, &dropped)
                return total + dropped
            }
        }
    }

    /// Sends what is buffered and waits (at most 5 s) for the server to have it.
    package func flush() {
        _ = cmn_connection_flush_timeout(connection, 5_000)
    }

    /// Closes the connection; later publishes fail.
    package func close() {
        guard closed.withLock({ done in defer { done = true }; return !done }) else { return }
        let list = subscriptions.withLock { list in defer { list.removeAll() }; return list }
        for subscription in list {
            _ = cmn_subscription_unsubscribe(subscription)
            cmn_subscription_destroy(subscription)
        }
        cmn_connection_close(connection)
    }

    private static func makeMessage(_ subject: String, reply: String?, headers: [(name: String, value: String)],
                                    data: [UInt8]) throws(Failure) -> OpaquePointer {
        var message: OpaquePointer?
        let status = data.withUnsafeBytes { cmn_msg_create(&message, subject, reply, $0.baseAddress, Int32($0.count)) }
        guard status == CMN_OK, let message else { throw failure(status) }
        for (name, value) in headers {
            let set = cmn_msg_header_set(message, name, value)
            guard set == CMN_OK else {
                cmn_msg_destroy(message)
                throw failure(set)
            }
        }
        return message
    }

    private static func copy(_ message: OpaquePointer) -> Message {
        let subject = String(cString: cmn_msg_get_subject(message))
        let reply = cmn_msg_get_reply(message).map { String(cString: $0) }
        let length = Int(cmn_msg_get_data_length(message))
        var data: [UInt8] = []
        if length > 0, let bytes = cmn_msg_get_data(message) {
            data = Array(UnsafeRawBufferPointer(start: bytes, count: length))
        }
        var headers: [String: String] = [:]
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>>?
        var count: Int32 = 0
        if cmn_msg_header_keys(message, &keys, &count) == CMN_OK, let keys {
            for i in 0..<Int(min(count, 64)) { // a hostile message with thousands of headers is cut short
                let key = String(cString: keys[i])
                var value: UnsafePointer<CChar>?
                if cmn_msg_header_get(message, keys[i], &value) == CMN_OK, let value { headers[key] = String(cString: value) }
            }
            free(keys)
        }
        return Message(subject: subject, reply: reply, data: data, headers: headers)
    }
}
