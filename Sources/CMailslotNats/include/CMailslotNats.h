// The subset of the NATS C client's API (nats.c, libnats) that mailslotd's site bridge uses, declared under
// our own names (every identifier starts with cmn_ / CMN_) so that this header can never clash with the real
// <nats/nats.h>, and loaded at run time: the package builds on a machine with nothing but the Swift
// toolchain (no libnats-dev), and a machine without libnats only loses the bridge.
//
// Why declare it ourselves: SwiftPM cannot make a system library optional, and linking -lnats would make
// every Mailslot binary fail to start where libnats is missing. So cmn_load() dlopen()s the library and
// dlsym()s each function into a table, and the cmn_* wrappers below call through that table.
//
// ABI: nats.c's API is opaque pointers, a few scalars, the natsStatus and natsConnStatus enums and three
// callback types, so there is no struct layout to mirror. The prototypes of every function we load
// (CMN_NATS_FUNCTIONS below) and the enum values are checked against the real header by
// Tests/MailslotBridgeTests/Fixtures/nats_abi_check.c. They are identical in every nats.c release from
// 3.0.0 to 3.13.0 and in the 3.14 development head (compared tag by tag); releases only APPEND natsStatus
// values (3.9: NATS_LIMIT_REACHED, 3.11: NATS_PIN_ID_MISMATCH, 3.13: NATS_INVALID_CONFIG).
//   - The soname is libnats.so.MAJOR.MINOR (upstream's CMake SOVERSION), so it changes with every minor
//     release: Debian 12 has libnats.so.3.4 (package libnats3.4, nats.c 3.4.1), Debian 13
//     libnats.so.3.7 (libnats3.7t64, 3.7.0). cmn_load() tries every known 3.x soname, newest first, then
//     plain libnats.so (the -dev symlink, or a build installed in /usr/local), and accepts any 3.x.
//   - No symbol versioning (every symbol is at the base version), so plain dlsym().
//   - nats_OpenWithConfig exists only from 3.9 on (not in Debian's 3.4 or 3.7); nats_Open is enough.
//
// Library-wide side effects: cmn_load initializes the library (nats_Open(-1)), because natsMsg_Create and
// natsMsg_Destroy do not (only options and connections do) and a message destroyed before that crashes
// (3.4.1, measured). nats_Open sets SIGPIPE to SIG_IGN for the whole process, calls srand(), starts a timer
// thread and registers an atexit() handler; so the library is never dlclose()d once loaded, and after
// cmn_close() it can NOT be opened again in the same process (nats_Open then fails with
// CMN_FAILED_TO_INITIALIZE): call cmn_close at most once, at exit, or never.
//
// Threads: every cmn_* function may be called from any thread, but only once cmn_load has returned 0 (before,
// it is a call through NULL), except the loading ones (cmn_load, cmn_load_from, cmn_library_name,
// cmn_version, cmn_version_number) and cmn_status_text, which are safe at any time. Connections, publishing and subscriptions are thread-safe in nats.c;
// a message's headers are NOT (one message, one thread at a time). Callbacks run on nats.c's threads: see
// each callback type.
//
// Times are milliseconds (int64_t) everywhere, as in nats.c.
#ifndef CMAILSLOT_NATS_H
#define CMAILSLOT_NATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Nullability is a clang extension; gcc (used for the ABI check fixture) gets empty annotations.
#if !defined(__clang__)
#  ifndef _Nonnull
#    define _Nonnull
#  endif
#  ifndef _Nullable
#    define _Nullable
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - Loading

/// Loads libnats (newest known soname first: libnats.so.3.14 ... libnats.so.3.0, then libnats.so), resolves
/// every function below, and initializes the library (nats_Open(-1), see above). Thread-safe; once it has
/// succeeded, later calls return 0 at once (a failure is not remembered: a later call tries again). Returns 0, or -1 with a one-line message in `error`
/// (what is missing, and to install Debian's libnats3.4 (Debian 12) / libnats3.7t64 (Debian 13) or
/// libnats-dev), also when the library found is not nats.c 3.x.
int cmn_load(char *_Nonnull error, size_t errorSize);

/// As cmn_load, but loads exactly `path` (a file name for the dynamic linker's search, or a path with a
/// slash) instead of searching; NULL searches as cmn_load. For a configured library location, and for tests of
/// the missing-library message. Once a library is loaded, returns 0 whatever `path` is (see
/// cmn_library_name).
int cmn_load_from(const char *_Nullable path, char *_Nonnull error, size_t errorSize);

/// The file name that was loaded ("libnats.so.3.4"), or NULL before a successful cmn_load.
const char *_Nullable cmn_library_name(void);

/// nats_GetVersionNumber of the loaded library: (major << 16) | (minor << 8) | patch (0x030401 for
/// 3.4.1); 0 before a successful cmn_load.
uint32_t cmn_version_number(void);

/// nats_GetVersion of the loaded library ("3.4.1"), or NULL before a successful cmn_load.
const char *_Nullable cmn_version(void);

// MARK: - Types

/// natsStatus (status.h): what nearly every function returns. The values are nats.c's (checked by the ABI
/// check); releases only append. nats.c's enum and ours are both `unsigned int` sized (no negative values).
/// Imported into Swift as a struct with a rawValue, so a value this header does not name is still safe.
typedef enum cmn_status {
    CMN_OK = 0,                        ///< success
    CMN_ERR = 1,                       ///< generic error
    CMN_PROTOCOL_ERROR = 2,            ///< could not parse a protocol message from the server
    CMN_IO_ERROR = 3,                  ///< socket error
    CMN_LINE_TOO_LONG = 4,             ///< a protocol line exceeded nats.c's buffer
    CMN_CONNECTION_CLOSED = 5,         ///< the connection is closed (after close, or reconnects exhausted)
    CMN_NO_SERVER = 6,                 ///< connect: no server in the list could be reached
    CMN_STALE_CONNECTION = 7,          ///< too many PINGs without PONG
    CMN_SECURE_CONNECTION_WANTED = 8,  ///< we asked for TLS, the server does not offer it
    CMN_SECURE_CONNECTION_REQUIRED = 9,///< the server requires TLS
    CMN_CONNECTION_DISCONNECTED = 10,  ///< disconnected (a flush or request during an outage)
    CMN_CONNECTION_AUTH_FAILED = 11,   ///< authorization violation
    CMN_NOT_PERMITTED = 12,            ///< permissions violation (publish/subscribe not allowed)
    CMN_NOT_FOUND = 13,                ///< e.g. cmn_msg_header_get of an absent key, or no headers at all
    CMN_ADDRESS_MISSING = 14,          ///< a URL without a host
    CMN_INVALID_SUBJECT = 15,          ///< NULL or empty subject
    CMN_INVALID_ARG = 16,              ///< an invalid argument (also: a negative data length)
    CMN_INVALID_SUBSCRIPTION = 17,     ///< the subscription is closed/invalid
    CMN_INVALID_TIMEOUT = 18,          ///< a timeout that must be positive was not
    CMN_ILLEGAL_STATE = 19,            ///< e.g. a blocking library call from a nats.c thread
    CMN_SLOW_CONSUMER = 20,            ///< (error handler) a subscription's pending limit dropped messages
    CMN_MAX_PAYLOAD = 21,              ///< publish larger than the server's max_payload
    CMN_MAX_DELIVERED_MSGS = 22,       ///< auto-unsubscribe limit reached
    CMN_INSUFFICIENT_BUFFER = 23,      ///< the reconnect buffer (cmn_options_set_reconnect_buf_size) is full
    CMN_NO_MEMORY = 24,
    CMN_SYS_ERROR = 25,
    CMN_TIMEOUT = 26,                  ///< request/flush/connect timed out
    CMN_FAILED_TO_INITIALIZE = 27,     ///< the library could not initialize (or was closed: see above)
    CMN_NOT_INITIALIZED = 28,
    CMN_SSL_ERROR = 29,
    CMN_NO_SERVER_SUPPORT = 30,        ///< e.g. headers with a server older than 2.2
    CMN_NOT_YET_CONNECTED = 31,        ///< connect with retry-on-failed-connect and a connected callback:
                                       ///< the connection object is returned and connects in the background
    CMN_DRAINING = 32,                 ///< the connection/subscription is draining
    CMN_INVALID_QUEUE_NAME = 33,
    CMN_NO_RESPONDERS = 34,            ///< request: nobody is subscribed to the subject (server 2.2+)
    CMN_MISMATCH = 35,                 ///< JetStream only
    CMN_MISSED_HEARTBEAT = 36,         ///< JetStream only; the last value of 3.0-3.8
    CMN_LIMIT_REACHED = 37,            ///< nats.c 3.9+ (JetStream fetch limits)
    CMN_PIN_ID_MISMATCH = 38,          ///< nats.c 3.11+ (JetStream pinned consumers)
    CMN_INVALID_CONFIG = 39,           ///< nats.c 3.13+
} cmn_status;

/// natsConnStatus (status.h, the NATS_CONN_STATUS_ spelling): what cmn_connection_status returns.
typedef enum cmn_conn_status {
    CMN_CONN_STATUS_DISCONNECTED = 0,  ///< lost, about to reconnect (or never connected)
    CMN_CONN_STATUS_CONNECTING = 1,
    CMN_CONN_STATUS_CONNECTED = 2,
    CMN_CONN_STATUS_CLOSED = 3,        ///< final: closed by us, or reconnect attempts exhausted
    CMN_CONN_STATUS_RECONNECTING = 4,  ///< in the reconnect loop; publishes go to the reconnect buffer
    CMN_CONN_STATUS_DRAINING_SUBS = 5,
    CMN_CONN_STATUS_DRAINING_PUBS = 6,
} cmn_conn_status;

/// natsOptions: connection settings, copied by cmn_connection_connect (later changes do not affect a
/// connection). Opaque; cmn_options_destroy it after connecting.
typedef struct cmn_options cmn_options;
/// natsConnection: one client connection with its reader, flusher and reconnect threads. Opaque;
/// cmn_connection_destroy (which closes it first if needed) frees it.
typedef struct cmn_connection cmn_connection;
/// natsSubscription: one subscription; each asynchronous one has its own delivery thread. Opaque.
typedef struct cmn_subscription cmn_subscription;
/// natsMsg: a message to send (cmn_msg_create) or one received (callback, request reply). Opaque.
typedef struct cmn_msg cmn_msg;
/// natsStatistics: a snapshot of a connection's counters. Opaque.
typedef struct cmn_statistics cmn_statistics;

/// natsMsgHandler: delivers one message of an asynchronous subscription, on that subscription's own
/// delivery thread (one thread per subscription, so one subscription's messages come one at a time, in
/// order). The callback OWNS `msg` and must cmn_msg_destroy it. It may publish on any connection; it must not
/// call a blocking function that waits for this same thread. `closure` is the pointer given at subscribe.
typedef void (*cmn_msg_handler)(cmn_connection *_Nonnull nc, cmn_subscription *_Nonnull sub,
                                cmn_msg *_Nonnull msg, void *_Nullable closure);

/// natsConnectionHandler: connection events (disconnected, reconnected, closed, and connected after a
/// background connect), on nats.c's callback thread, one at a time; the connection's state may have changed
/// again by the time it runs. Must not destroy the connection.
typedef void (*cmn_connection_handler)(cmn_connection *_Nonnull nc, void *_Nullable closure);

/// natsCustomReconnectDelayHandler: how many ms to wait before the next reconnect attempt. attempts counts
/// the passes over the server list in this outage (or before the first connect), from 1. Runs on the
/// reconnect thread, without the connection's lock; it must not call back into the connection.
typedef int64_t (*cmn_reconnect_delay_handler)(cmn_connection *_Nonnull nc, int attempts, void *_Nullable closure);

/// natsErrHandler: asynchronous errors (CMN_SLOW_CONSUMER with the subscription that dropped messages;
/// permission violations, with sub NULL when not about one subscription), on the same thread as
/// cmn_connection_handler.
typedef void (*cmn_err_handler)(cmn_connection *_Nonnull nc, cmn_subscription *_Nullable sub, cmn_status err,
                                void *_Nullable closure);

// MARK: - Library (nats.h, libraryGroup)

/// nats_Open: initializes the library. Not needed: cmn_load did it (with the default spin count, -1), so
/// this returns CMN_OK, or CMN_FAILED_TO_INITIALIZE after cmn_close.
cmn_status cmn_open(int64_t lockSpinCount);
/// nats_Close: tears the library down once every object was destroyed. Not reversible: see above.
void cmn_close(void);
/// nats_CloseAndWait: as cmn_close, waiting up to `timeout` ms (<= 0: forever) for nats.c's threads to end.
/// CMN_ILLEGAL_STATE from a nats.c thread (a callback).
cmn_status cmn_close_and_wait(int64_t timeout);
/// natsStatus_GetText: the status's name in words ("No responders available for request"). Safe for any
/// value: nats.c indexes its table unchecked, so values past the loaded release's last one get a text of ours.
const char *_Nonnull cmn_status_text(cmn_status s);
/// nats_GetLastError: the calling thread's last error text (e.g. why cmn_connection_connect failed), and its
/// status in *status if not NULL; NULL when none. The string is nats.c's thread-local: copy it.
const char *_Nullable cmn_last_error(cmn_status *_Nullable status);

// MARK: - Options (nats.h, optsGroup)

/// natsOptions_Create: defaults are connect timeout 2000 ms, reconnect allowed, 60 attempts, wait 2000 ms,
/// jitter 100 ms, reconnect buffer 8 MiB, ping every 120000 ms, 2 pings out, 65536 pending messages per
/// subscription.
cmn_status cmn_options_create(cmn_options *_Nullable *_Nonnull newOpts);
/// natsOptions_Destroy (NULL is ignored).
void cmn_options_destroy(cmn_options *_Nullable opts);
/// natsOptions_SetURL: one URL or several separated by commas ("nats://host:4222,nats://other:4222"), with
/// optional user:password@ or token@. NULL clears.
cmn_status cmn_options_set_url(cmn_options *_Nonnull opts, const char *_Nullable url);
/// natsOptions_SetServers: the server list (copied), tried in random order unless noRandomize (not wrapped).
cmn_status cmn_options_set_servers(cmn_options *_Nonnull opts, const char *_Nonnull *_Nonnull servers,
                                   int serversCount);
/// natsOptions_SetName: the client name the server shows (connz, logs).
cmn_status cmn_options_set_name(cmn_options *_Nonnull opts, const char *_Nullable name);
/// natsOptions_SetUserInfo: user and password (used for URLs without their own).
cmn_status cmn_options_set_user_info(cmn_options *_Nonnull opts, const char *_Nullable user,
                                     const char *_Nullable password);
/// natsOptions_SetToken: an authorization token.
cmn_status cmn_options_set_token(cmn_options *_Nonnull opts, const char *_Nullable token);
/// natsOptions_SetUserCredentialsFromFiles: a .creds file (JWT and seed), or a JWT file and a seed file.
/// The files are read at each (re)connect.
cmn_status cmn_options_set_user_credentials_from_files(cmn_options *_Nonnull opts,
                                                       const char *_Nonnull userOrChainedFile,
                                                       const char *_Nullable seedFile);
/// natsOptions_SetNKeyFromSeed: NKey authentication: the public key, and the file holding the seed.
cmn_status cmn_options_set_nkey_from_seed(cmn_options *_Nonnull opts, const char *_Nonnull pubKey,
                                          const char *_Nonnull seedFile);
/// natsOptions_SetSecure: require TLS (also implied by tls:// URLs).
cmn_status cmn_options_set_secure(cmn_options *_Nonnull opts, bool secure);
/// natsOptions_LoadCATrustedCertificates: the CA bundle (PEM file) to verify the server with.
cmn_status cmn_options_load_ca_trusted_certificates(cmn_options *_Nonnull opts, const char *_Nonnull fileName);
/// natsOptions_SetAllowReconnect (default true).
cmn_status cmn_options_set_allow_reconnect(cmn_options *_Nonnull opts, bool allow);
/// natsOptions_SetMaxReconnect: attempts per outage before the connection is closed (default 60; a negative
/// value means forever).
cmn_status cmn_options_set_max_reconnect(cmn_options *_Nonnull opts, int maxReconnect);
/// natsOptions_SetReconnectWait: ms between two attempts on the same server (default 2000).
cmn_status cmn_options_set_reconnect_wait(cmn_options *_Nonnull opts, int64_t reconnectWait);
/// natsOptions_SetReconnectJitter: up to this many ms of random delay added to the wait (default 100, TLS 1000).
cmn_status cmn_options_set_reconnect_jitter(cmn_options *_Nonnull opts, int64_t jitter, int64_t jitterTLS);
/// natsOptions_SetCustomReconnectDelay: cb decides each wait between reconnect attempts, in place of the
/// reconnect wait and jitter (NULL: back to them).
cmn_status cmn_options_set_custom_reconnect_delay(cmn_options *_Nonnull opts, cmn_reconnect_delay_handler _Nullable cb,
                                                  void *_Nullable closure);
/// natsOptions_SetRetryOnFailedConnect: when the first connect fails, keep trying with the reconnect
/// settings. With connectedCb NULL, cmn_connection_connect blocks until connected or attempts are exhausted;
/// with a callback, it returns CMN_NOT_YET_CONNECTED at once WITH a connection object (publish/subscribe
/// work, buffered) and calls connectedCb when connected (the closed callback when it gives up).
/// Pitfall (3.4.1, measured): until the first connect the server's max_payload is unknown, so publishes of
/// ANY size are buffered; one larger than the server's max_payload then makes the server close the new
/// connection ("Maximum Payload Violation") and the connection is CLOSED for good (no reconnect, even with
/// max reconnect -1). Enforce a size limit (1 MiB, the default max_payload) before publishing.
/// Pitfall 2 (3.4.1, measured): with connectedCb set, a first attempt that reaches a listener which hangs up
/// before the NATS greeting also leaves the connection CLOSED for good (the closed callback runs, nothing is
/// tried again). NatsClient therefore does not use this: it makes its first connect itself.
cmn_status cmn_options_set_retry_on_failed_connect(cmn_options *_Nonnull opts, bool retry,
                                                   cmn_connection_handler _Nullable connectedCb,
                                                   void *_Nullable closure);
/// natsOptions_SetReconnectBufSize: bytes of publishes kept while reconnecting (default 8 MiB, 0 = default);
/// when full, publishes fail with CMN_INSUFFICIENT_BUFFER.
cmn_status cmn_options_set_reconnect_buf_size(cmn_options *_Nonnull opts, int reconnectBufSize);
/// natsOptions_SetPingInterval: ms between client PINGs (default 120000).
cmn_status cmn_options_set_ping_interval(cmn_options *_Nonnull opts, int64_t interval);
/// natsOptions_SetMaxPingsOut: unanswered PINGs before the connection is considered stale (default 2).
cmn_status cmn_options_set_max_pings_out(cmn_options *_Nonnull opts, int maxPingsOut);
/// natsOptions_SetTimeout: ms allowed for one (re)connect attempt, TCP connect plus the first PING/PONG
/// (default 2000).
cmn_status cmn_options_set_timeout(cmn_options *_Nonnull opts, int64_t timeout);
/// natsOptions_SetDisconnectedCB: called when the connection to a server is lost (also when closed while
/// connected). NULL removes.
cmn_status cmn_options_set_disconnected_cb(cmn_options *_Nonnull opts, cmn_connection_handler _Nullable cb,
                                           void *_Nullable closure);
/// natsOptions_SetReconnectedCB: called after a reconnect (subscriptions are already re-sent by then).
cmn_status cmn_options_set_reconnected_cb(cmn_options *_Nonnull opts, cmn_connection_handler _Nullable cb,
                                          void *_Nullable closure);
/// natsOptions_SetClosedCB: called once the connection is closed for good (by us, or reconnects exhausted).
cmn_status cmn_options_set_closed_cb(cmn_options *_Nonnull opts, cmn_connection_handler _Nullable cb,
                                     void *_Nullable closure);
/// natsOptions_SetErrorHandler: asynchronous errors (slow consumer, permissions). CMN_SLOW_CONSUMER comes
/// once per episode, not per dropped message (measured: 3 calls for 1,897 drops). Without a handler nothing
/// is printed: drops show in cmn_subscription_get_dropped and as the connection's last error.
cmn_status cmn_options_set_error_handler(cmn_options *_Nonnull opts, cmn_err_handler _Nullable errHandler,
                                         void *_Nullable closure);
/// natsOptions_SetNoEcho: do not deliver this connection's own publishes to its own subscriptions (a bridge
/// that publishes and subscribes the same subjects would otherwise loop).
cmn_status cmn_options_set_no_echo(cmn_options *_Nonnull opts, bool noEcho);
/// natsOptions_SetMaxPendingMsgs: default pending-message limit of each new subscription (65536).
cmn_status cmn_options_set_max_pending_msgs(cmn_options *_Nonnull opts, int maxPending);
/// natsOptions_SetSendAsap: write each publish to the socket in the publishing call instead of leaving it to
/// the connection's flusher thread, which waits up to 1 ms for more data before writing (so by default every
/// publish that is not followed by a flush reaches the server up to ~1 ms late: a request/reply round trip
/// is ~1 ms with a default responder, measured). Costs throughput (one write(2) per message).
/// cmn_connection_request already sends its request at once.
cmn_status cmn_options_set_send_asap(cmn_options *_Nonnull opts, bool sendAsap);

// MARK: - Connection (nats.h, connGroup)

/// natsConnection_Connect: connects with `opts` (copied; NULL = defaults, nats://localhost:4222). On
/// failure *nc is NULL (except CMN_NOT_YET_CONNECTED, see cmn_options_set_retry_on_failed_connect) and
/// cmn_last_error says why.
cmn_status cmn_connection_connect(cmn_connection *_Nullable *_Nonnull nc, cmn_options *_Nullable opts);
/// natsConnection_Close: closes (flushing nothing more), wakes blocked calls; the object stays valid.
void cmn_connection_close(cmn_connection *_Nonnull nc);
/// natsConnection_Destroy: closes if needed and frees (NULL is ignored). Not from a callback of this
/// connection; destroy its subscriptions too.
void cmn_connection_destroy(cmn_connection *_Nullable nc);
/// natsConnection_Status.
cmn_conn_status cmn_connection_status(cmn_connection *_Nonnull nc);
/// natsConnection_IsReconnecting.
bool cmn_connection_is_reconnecting(cmn_connection *_Nonnull nc);
/// natsConnection_IsClosed.
bool cmn_connection_is_closed(cmn_connection *_Nonnull nc);
/// natsConnection_Buffered: bytes in the connection's write buffer not yet written to the socket; -1 once
/// closed. NOT the reconnect buffer: during an outage publishes go to a separate buffer, and this stays 0
/// (3.4.1, measured), so it cannot tell how full the reconnect buffer is.
int cmn_connection_buffered(cmn_connection *_Nonnull nc);
/// natsConnection_GetMaxPayload: the server's max_payload (1 MiB by default), learned at connect.
int64_t cmn_connection_get_max_payload(cmn_connection *_Nonnull nc);
/// natsConnection_Publish: queues `dataLen` bytes for `subj` (copied into the outgoing buffer; the flusher
/// thread writes them within ~1 ms, see cmn_options_set_send_asap). Only an empty subject is refused
/// (CMN_INVALID_SUBJECT): "a b" goes out as subject "a" with reply "b", and a negative length as an empty
/// message (measured), so validate subjects first. During an outage it succeeds while the reconnect buffer
/// has room (then CMN_INSUFFICIENT_BUFFER); what was buffered is written right after the reconnect, so it
/// reaches only the subscriptions the (restarted) server knows by then: subscribers on other connections that
/// reconnect later miss it (measured: about half of a 500 ms outage's messages whenever the publisher
/// reconnected first).
cmn_status cmn_connection_publish(cmn_connection *_Nonnull nc, const char *_Nonnull subj,
                                  const void *_Nullable data, int dataLen);
/// natsConnection_PublishMsg: as publish, with the message's reply subject and headers. The message stays
/// ours (destroy it after).
cmn_status cmn_connection_publish_msg(cmn_connection *_Nonnull nc, cmn_msg *_Nonnull msg);
/// natsConnection_Flush: sends what is buffered and waits for the server's PONG (default 10 s timeout).
cmn_status cmn_connection_flush(cmn_connection *_Nonnull nc);
/// natsConnection_FlushTimeout.
cmn_status cmn_connection_flush_timeout(cmn_connection *_Nonnull nc, int64_t timeout);
/// natsConnection_Request: publishes with a reply inbox and waits up to `timeout` ms for the first reply
/// (*replyMsg, ours to destroy). CMN_NO_RESPONDERS when nobody subscribes, CMN_TIMEOUT when nobody answers.
cmn_status cmn_connection_request(cmn_msg *_Nullable *_Nonnull replyMsg, cmn_connection *_Nonnull nc,
                                  const char *_Nonnull subj, const void *_Nullable data, int dataLen,
                                  int64_t timeout);
/// natsConnection_RequestMsg: as request, with the message's subject, data and headers.
cmn_status cmn_connection_request_msg(cmn_msg *_Nullable *_Nonnull replyMsg, cmn_connection *_Nonnull nc,
                                      cmn_msg *_Nonnull requestMsg, int64_t timeout);
/// natsConnection_Subscribe: an asynchronous subscription (wildcards * and > allowed); see cmn_msg_handler.
cmn_status cmn_connection_subscribe(cmn_subscription *_Nullable *_Nonnull sub, cmn_connection *_Nonnull nc,
                                    const char *_Nonnull subject, cmn_msg_handler _Nonnull cb,
                                    void *_Nullable cbClosure);
/// natsConnection_QueueSubscribe: as subscribe, in a queue group: each message goes to one member.
cmn_status cmn_connection_queue_subscribe(cmn_subscription *_Nullable *_Nonnull sub, cmn_connection *_Nonnull nc,
                                          const char *_Nonnull subject, const char *_Nonnull queueGroup,
                                          cmn_msg_handler _Nonnull cb, void *_Nullable cbClosure);
/// natsConnection_GetConnectedUrl: the current server's URL into buffer (empty string while disconnected);
/// CMN_INSUFFICIENT_BUFFER when it does not fit.
cmn_status cmn_connection_get_connected_url(cmn_connection *_Nonnull nc, char *_Nonnull buffer, size_t bufferSize);
/// natsConnection_GetLastError: the connection's last error status, and its text in *lastError (nats.c's).
cmn_status cmn_connection_get_last_error(cmn_connection *_Nonnull nc, const char *_Nullable *_Nonnull lastError);
/// natsConnection_GetStats: copies the counters into `stats` (from cmn_statistics_create).
cmn_status cmn_connection_get_stats(cmn_connection *_Nonnull nc, cmn_statistics *_Nonnull stats);
/// natsConnection_Drain: unsubscribes, lets pending messages be delivered, flushes, then closes, in the
/// background (default 30 s timeout); the closed callback says when it is done.
cmn_status cmn_connection_drain(cmn_connection *_Nonnull nc);
/// natsConnection_DrainTimeout.
cmn_status cmn_connection_drain_timeout(cmn_connection *_Nonnull nc, int64_t timeout);

// MARK: - Statistics

/// natsStatistics_Create.
cmn_status cmn_statistics_create(cmn_statistics *_Nullable *_Nonnull newStats);
/// natsStatistics_GetCounts: any pointer may be NULL; reconnects counts successful reconnects.
cmn_status cmn_statistics_get_counts(const cmn_statistics *_Nonnull stats, uint64_t *_Nullable inMsgs,
                                     uint64_t *_Nullable inBytes, uint64_t *_Nullable outMsgs,
                                     uint64_t *_Nullable outBytes, uint64_t *_Nullable reconnects);
/// natsStatistics_Destroy (NULL is ignored).
void cmn_statistics_destroy(cmn_statistics *_Nullable stats);

// MARK: - Subscription (nats.h, subGroup)

/// natsSubscription_Unsubscribe: stops delivery (a callback already running finishes). Destroy it after.
cmn_status cmn_subscription_unsubscribe(cmn_subscription *_Nonnull sub);
/// natsSubscription_Destroy: unsubscribes if needed and frees (NULL is ignored).
void cmn_subscription_destroy(cmn_subscription *_Nullable sub);
/// natsSubscription_SetPendingLimits: messages/bytes queued for the callback before new ones are dropped
/// (CMN_SLOW_CONSUMER to the error handler); default 65536 messages, 64 MiB. -1 = no limit (not both 0).
cmn_status cmn_subscription_set_pending_limits(cmn_subscription *_Nonnull sub, int msgLimit, int bytesLimit);
/// natsSubscription_GetDropped: messages dropped by the pending limits so far.
cmn_status cmn_subscription_get_dropped(cmn_subscription *_Nonnull sub, int64_t *_Nonnull msgs);
/// natsSubscription_GetPending: messages queued for the callback now, not counting the one it is handling
/// (0 when it cannot tell).
int cmn_subscription_pending_messages(cmn_subscription *_Nonnull sub);

// MARK: - Message (nats.h, msgGroup)

/// natsMsg_Create: a message to publish (subject, optional reply, data copied). Destroy it after use.
cmn_status cmn_msg_create(cmn_msg *_Nullable *_Nonnull newMsg, const char *_Nonnull subj,
                          const char *_Nullable reply, const void *_Nullable data, int dataLen);
/// natsMsg_Destroy (NULL is ignored).
void cmn_msg_destroy(cmn_msg *_Nullable msg);
/// natsMsg_GetSubject: owned by the message.
const char *_Nonnull cmn_msg_get_subject(const cmn_msg *_Nonnull msg);
/// natsMsg_GetReply: owned by the message; NULL without a reply subject.
const char *_Nullable cmn_msg_get_reply(const cmn_msg *_Nonnull msg);
/// natsMsg_GetData: owned by the message (a received payload has a NUL byte after it, not counted).
const void *_Nullable cmn_msg_get_data(const cmn_msg *_Nonnull msg);
/// natsMsg_GetDataLength.
int cmn_msg_get_data_length(const cmn_msg *_Nonnull msg);
/// natsMsg_IsNoResponders: the server's "503 no responders" status message (only seen by async reply
/// subscriptions; cmn_connection_request turns it into CMN_NO_RESPONDERS).
bool cmn_msg_is_no_responders(cmn_msg *_Nonnull msg);
/// natsMsgHeader_Set: replaces key's values by `value` (keys are case-sensitive since nats.c 3.0; headers
/// need server 2.2+). Not thread-safe per message. nats.c validates neither string, and before 3.11 (so in
/// Debian 12's 3.4.1 and Debian 13's 3.7.0) it has two bugs with empty values (fixed upstream in 3.11):
///   - a NULL value is stored, then the publish crashes (strlen(NULL)): so `value` is _Nonnull here and the
///     shim passes "" for NULL;
///   - a RECEIVED empty or all-whitespace value swallows the next header line ("A: \r\nB: x" reads as
///     A = "B: x"), or fails the header lookups with CMN_PROTOCOL_ERROR when it is the last one (measured):
///     never send empty values to such receivers.
/// Also: a key containing ':' arrives split at it ("a:b: v" reads as a = "b: v"); CR and LF in a value are
/// sent as spaces; leading and trailing spaces of a value are trimmed by the receiver.
cmn_status cmn_msg_header_set(cmn_msg *_Nonnull msg, const char *_Nonnull key, const char *_Nonnull value);
/// natsMsgHeader_Add: appends a value to key's (same caveats as cmn_msg_header_set).
cmn_status cmn_msg_header_add(cmn_msg *_Nonnull msg, const char *_Nonnull key, const char *_Nonnull value);
/// natsMsgHeader_Get: key's first value (owned by the message) in *value; CMN_NOT_FOUND when absent.
cmn_status cmn_msg_header_get(cmn_msg *_Nonnull msg, const char *_Nonnull key, const char *_Nullable *_Nonnull value);
/// natsMsgHeader_Values: every value of key; *values is an array of *count strings owned by the message,
/// the ARRAY is ours: free() it. CMN_NOT_FOUND when absent.
cmn_status cmn_msg_header_values(cmn_msg *_Nonnull msg, const char *_Nonnull key,
                                 const char *_Nonnull *_Nullable *_Nonnull values, int *_Nonnull count);
/// natsMsgHeader_Keys: every key; the array of *count strings is ours to free() (the strings are the
/// message's). CMN_NOT_FOUND when the message has no header.
cmn_status cmn_msg_header_keys(cmn_msg *_Nonnull msg, const char *_Nonnull *_Nullable *_Nonnull keys,
                               int *_Nonnull count);

// MARK: - Headers in one call (the bridge's per-message path)

/// Publishes `data` on `subj` with the headers in `headers`: `headersLength` bytes of "key\0value\0" pairs,
/// sent in that order (a key given twice is sent twice; a receiver's natsMsgHeader_Get gives its first value),
/// so that a caller that keeps its headers ready pays one call per message. The message is made from its wire
/// form (natsMsg_create, see nats.c), or, with a library that lacks it, by natsMsg_Create and natsMsgHeader_Add
/// for each pair; then natsConnection_PublishMsg and cmn_msg_destroy. CMN_INVALID_ARG when the block does not
/// end a pair with its NUL, or a key is empty or holds ':', a space or a control character, or a value holds
/// CR or LF.
cmn_status cmn_connection_publish_with_headers(cmn_connection *_Nonnull nc, const char *_Nonnull subj,
                                               const char *_Nullable headers, int headersLength,
                                               const void *_Nullable data, int dataLen);
/// Writes a received message's headers (each key's first value, at most `maxHeaders` keys) into `buffer` as
/// "key\0value\0" pairs. Returns the bytes the pairs take (0 without headers): when that is more than
/// `capacity`, nothing usable was written and the caller asks again with that much room.
int cmn_msg_header_block(cmn_msg *_Nonnull msg, char *_Nullable buffer, int capacity, int maxHeaders);

// MARK: - The loaded functions, for nats.c and the ABI check

/// Every libnats function cmn_load resolves, as X(return type, nats.c's name, (parameters)), with nats.c's
/// exact parameter types written in terms of the type parameters: nats.c (the shim) expands it with our
/// cmn_* types to build its table of function pointers, and Fixtures/nats_abi_check.c with nats.h's types to
/// check each against the real declaration. Not for Swift (function-like macros are not imported).
#define CMN_NATS_FUNCTIONS(X, Status, ConnStatus, Options, Connection, Subscription, Msg, Statistics,           \
                           MsgHandler, ConnectionHandler, ErrHandler, ReconnectDelayHandler)                  \
    X(Status, nats_Open, (int64_t lockSpinCount))                                                             \
    X(void, nats_Close, (void))                                                                               \
    X(Status, nats_CloseAndWait, (int64_t timeout))                                                           \
    X(const char *, nats_GetVersion, (void))                                                                  \
    X(uint32_t, nats_GetVersionNumber, (void))                                                                \
    X(const char *, natsStatus_GetText, (Status s))                                                           \
    X(const char *, nats_GetLastError, (Status *status))                                                      \
    X(Status, natsOptions_Create, (Options **newOpts))                                                        \
    X(void, natsOptions_Destroy, (Options *opts))                                                             \
    X(Status, natsOptions_SetURL, (Options *opts, const char *url))                                           \
    X(Status, natsOptions_SetServers, (Options *opts, const char **servers, int serversCount))                \
    X(Status, natsOptions_SetName, (Options *opts, const char *name))                                         \
    X(Status, natsOptions_SetUserInfo, (Options *opts, const char *user, const char *password))               \
    X(Status, natsOptions_SetToken, (Options *opts, const char *token))                                       \
    X(Status, natsOptions_SetUserCredentialsFromFiles, (Options *opts, const char *userOrChainedFile,         \
                                                        const char *seedFile))                                \
    X(Status, natsOptions_SetNKeyFromSeed, (Options *opts, const char *pubKey, const char *seedFile))         \
    X(Status, natsOptions_SetSecure, (Options *opts, bool secure))                                            \
    X(Status, natsOptions_LoadCATrustedCertificates, (Options *opts, const char *fileName))                   \
    X(Status, natsOptions_SetAllowReconnect, (Options *opts, bool allow))                                     \
    X(Status, natsOptions_SetMaxReconnect, (Options *opts, int maxReconnect))                                 \
    X(Status, natsOptions_SetReconnectWait, (Options *opts, int64_t reconnectWait))                           \
    X(Status, natsOptions_SetReconnectJitter, (Options *opts, int64_t jitter, int64_t jitterTLS))             \
    X(Status, natsOptions_SetCustomReconnectDelay, (Options *opts, ReconnectDelayHandler cb, void *closure))  \
    X(Status, natsOptions_SetRetryOnFailedConnect, (Options *opts, bool retry, ConnectionHandler connectedCb, \
                                                    void *closure))                                           \
    X(Status, natsOptions_SetReconnectBufSize, (Options *opts, int reconnectBufSize))                         \
    X(Status, natsOptions_SetPingInterval, (Options *opts, int64_t interval))                                 \
    X(Status, natsOptions_SetMaxPingsOut, (Options *opts, int maxPingsOut))                                   \
    X(Status, natsOptions_SetTimeout, (Options *opts, int64_t timeout))                                       \
    X(Status, natsOptions_SetDisconnectedCB, (Options *opts, ConnectionHandler disconnectedCb, void *closure)) \
    X(Status, natsOptions_SetReconnectedCB, (Options *opts, ConnectionHandler reconnectedCb, void *closure))  \
    X(Status, natsOptions_SetClosedCB, (Options *opts, ConnectionHandler closedCb, void *closure))            \
    X(Status, natsOptions_SetErrorHandler, (Options *opts, ErrHandler errHandler, void *closure))             \
    X(Status, natsOptions_SetNoEcho, (Options *opts, bool noEcho))                                            \
    X(Status, natsOptions_SetMaxPendingMsgs, (Options *opts, int maxPending))                                 \
    X(Status, natsOptions_SetSendAsap, (Options *opts, bool sendAsap))                                        \
    X(Status, natsConnection_Connect, (Connection **nc, Options *options))                                    \
    X(void, natsConnection_Close, (Connection *nc))                                                           \
    X(void, natsConnection_Destroy, (Connection *nc))                                                         \
    X(ConnStatus, natsConnection_Status, (Connection *nc))                                                    \
    X(bool, natsConnection_IsReconnecting, (Connection *nc))                                                  \
    X(bool, natsConnection_IsClosed, (Connection *nc))                                                        \
    X(int, natsConnection_Buffered, (Connection *nc))                                                         \
    X(int64_t, natsConnection_GetMaxPayload, (Connection *nc))                                                \
    X(Status, natsConnection_Publish, (Connection *nc, const char *subj, const void *data, int dataLen))      \
    X(Status, natsConnection_PublishMsg, (Connection *nc, Msg *msg))                                          \
    X(Status, natsConnection_Flush, (Connection *nc))                                                         \
    X(Status, natsConnection_FlushTimeout, (Connection *nc, int64_t timeout))                                 \
    X(Status, natsConnection_Request, (Msg **replyMsg, Connection *nc, const char *subj, const void *data,    \
                                       int dataLen, int64_t timeout))                                         \
    X(Status, natsConnection_RequestMsg, (Msg **replyMsg, Connection *nc, Msg *requestMsg, int64_t timeout))  \
    X(Status, natsConnection_Subscribe, (Subscription **sub, Connection *nc, const char *subject,             \
                                         MsgHandler cb, void *cbClosure))                                     \
    X(Status, natsConnection_QueueSubscribe, (Subscription **sub, Connection *nc, const char *subject,        \
                                              const char *queueGroup, MsgHandler cb, void *cbClosure))        \
    X(Status, natsConnection_GetConnectedUrl, (Connection *nc, char *buffer, size_t bufferSize))              \
    X(Status, natsConnection_GetLastError, (Connection *nc, const char **lastError))                          \
    X(Status, natsConnection_GetStats, (Connection *nc, Statistics *stats))                                   \
    X(Status, natsConnection_Drain, (Connection *nc))                                                         \
    X(Status, natsConnection_DrainTimeout, (Connection *nc, int64_t timeout))                                 \
    X(Status, natsStatistics_Create, (Statistics **newStats))                                                 \
    X(Status, natsStatistics_GetCounts, (const Statistics *stats, uint64_t *inMsgs, uint64_t *inBytes,        \
                                         uint64_t *outMsgs, uint64_t *outBytes, uint64_t *reconnects))        \
    X(void, natsStatistics_Destroy, (Statistics *stats))                                                      \
    X(Status, natsSubscription_Unsubscribe, (Subscription *sub))                                              \
    X(void, natsSubscription_Destroy, (Subscription *sub))                                                    \
    X(Status, natsSubscription_SetPendingLimits, (Subscription *sub, int msgLimit, int bytesLimit))           \
    X(Status, natsSubscription_GetDropped, (Subscription *sub, int64_t *msgs))                                \
    X(Status, natsSubscription_GetPending, (Subscription *sub, int *msgs, int *bytes))                        \
    X(Status, natsMsg_Create, (Msg **newMsg, const char *subj, const char *reply, const char *data,           \
                               int dataLen))                                                                  \
    X(void, natsMsg_Destroy, (Msg *msg))                                                                      \
    X(const char *, natsMsg_GetSubject, (const Msg *msg))                                                     \
    X(const char *, natsMsg_GetReply, (const Msg *msg))                                                       \
    X(const char *, natsMsg_GetData, (const Msg *msg))                                                        \
    X(int, natsMsg_GetDataLength, (const Msg *msg))                                                           \
    X(bool, natsMsg_IsNoResponders, (Msg *msg))                                                               \
    X(Status, natsMsgHeader_Set, (Msg *msg, const char *key, const char *value))                              \
    X(Status, natsMsgHeader_Add, (Msg *msg, const char *key, const char *value))                              \
    X(Status, natsMsgHeader_Get, (Msg *msg, const char *key, const char **value))                             \
    X(Status, natsMsgHeader_Values, (Msg *msg, const char *key, const char ***values, int *count))            \
    X(Status, natsMsgHeader_Keys, (Msg *msg, const char ***keys, int *count))

/// The four callback types, as X(return type, nats.c's name, (parameters)), for the ABI check (ours are
/// cmn_msg_handler, cmn_connection_handler, cmn_err_handler and cmn_reconnect_delay_handler above).
#define CMN_NATS_CALLBACKS(X, Status, Connection, Subscription, Msg)                                          \
    X(void, natsMsgHandler, (Connection *nc, Subscription *sub, Msg *msg, void *closure))                     \
    X(void, natsConnectionHandler, (Connection *nc, void *closure))                                           \
    X(void, natsErrHandler, (Connection *nc, Subscription *subscription, Status err, void *closure))           \
    X(int64_t, natsCustomReconnectDelayHandler, (Connection *nc, int attempts, void *closure))

#ifdef __cplusplus
}
#endif

#endif // CMAILSLOT_NATS_H
