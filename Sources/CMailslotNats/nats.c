// libnats (the NATS C client) loaded at run time: see include/CMailslotNats.h for why, and for the ABI notes.
// Everything here is a thin call through a table of dlsym'd pointers; the only logic is choosing the
// library file, checking its version, and bounding natsStatus_GetText.
#include "CMailslotNats.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The library files to try, in order. nats.c's soname is libnats.so.MAJOR.MINOR (CMake SOVERSION), one per
// minor release; every 3.x release has the prototypes we declared (checked from 3.0.0 to 3.14), so the newest
// installed one wins. Debian 12: libnats.so.3.4 (libnats3.4); Debian 13: libnats.so.3.7 (libnats3.7t64).
// libnats.so last: the -dev package's symlink, or an upstream build in /usr/local/lib (any 3.x is accepted
// after the version check below).
static const char *const library_names[] = {
    "libnats.so.3.14", "libnats.so.3.13", "libnats.so.3.12", "libnats.so.3.11", "libnats.so.3.10",
    "libnats.so.3.9",  "libnats.so.3.8",  "libnats.so.3.7",  "libnats.so.3.6",  "libnats.so.3.5",
    "libnats.so.3.4",  "libnats.so.3.3",  "libnats.so.3.2",  "libnats.so.3.1",  "libnats.so.3.0",
    "libnats.so",
};

#define INSTALL_HINT                                                                                      \
    "install the NATS C client: apt-get install libnats3.4 (Debian 12; libnats3.7t64 on Debian 13), or "  \
    "libnats-dev"

// The table: one pointer per function of CMN_NATS_FUNCTIONS, named as nats.c names it, typed with our types
// (ours and nats.c's are the same ABI: opaque pointers, and enums of the same values and size).
#define CMN_FIELD(R, name, params) R(*name) params;
static struct {
    CMN_NATS_FUNCTIONS(CMN_FIELD, cmn_status, cmn_conn_status, cmn_options, cmn_connection, cmn_subscription,
                       cmn_msg, cmn_statistics, cmn_msg_handler, cmn_connection_handler, cmn_err_handler,
                       cmn_reconnect_delay_handler)
} nats;
#undef CMN_FIELD

// Where each pointer goes, and its name. No symbol versions: libnats exports everything at the base version.
struct symbol {
    void **slot;
    const char *name;
};
#define CMN_SYMBOL(R, name, params) {(void **)&nats.name, #name},
static const struct symbol symbols[] = {
    CMN_NATS_FUNCTIONS(CMN_SYMBOL, cmn_status, cmn_conn_status, cmn_options, cmn_connection, cmn_subscription,
                       cmn_msg, cmn_statistics, cmn_msg_handler, cmn_connection_handler, cmn_err_handler,
                       cmn_reconnect_delay_handler)
};
#undef CMN_SYMBOL

// natsMsg_free: what libnats's garbage-collector thread calls for each message natsMsg_Destroy hands it. Exported
// since 3.0 (nats.c's src/msg.c; not declared in nats.h), so looked up apart from the table: a library without it
// still loads, and its messages go the documented way. See cmn_msg_destroy.
static void (*msg_free_in_place)(void *);

// natsMsg_create (lower case): how libnats makes a message it received, from its wire form: the header block
// ("NATS/1.0\r\n", then "key: value\r\n" for each pair, then "\r\n") followed by the data. Such a message is
// published with that block as it is. natsMsgHeader_Set and _Add, the documented way, keep each pair in a hash
// table (about four allocations a pair: the key's copy, the entry, the value's node and copy) and encode them
// again at publish. Exported with this signature since 3.0 (nats.c's src/msg.h, unchanged through 3.13), not
// declared in nats.h: looked up apart, like natsMsg_free; without it the pairs go through natsMsgHeader_Add.
static cmn_status (*msg_create_from_wire)(cmn_msg **, const char *, int, const char *, int, const char *, int, int);

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static char loaded_name[256];         // written once, under the lock, before loaded_version
static _Atomic uint32_t loaded_version; // nats_GetVersionNumber(); 0 = not loaded (read without the lock)

// Appends "; text" (or "text" first) to a fixed buffer, truncating; a text already there is not repeated (a
// missing dependency fails every name the same way).
static void append(char *buffer, size_t size, const char *text) {
    if (strstr(buffer, text) != NULL) return;
    size_t used = strlen(buffer);
    if (used + 1 >= size) return;
    snprintf(buffer + used, size - used, "%s%s", used ? "; " : "", text);
}

// dlopen's message for one name, unless it only says that this very file does not exist (the usual case
// when trying the list); a missing DEPENDENCY (libprotobuf-c.so.1, libssl.so.3) or a broken file is kept,
// since it is the real reason.
static void note_dlopen_error(char *tried, size_t size, const char *name, const char *why) {
    if (why == NULL) return;
    size_t n = strlen(name);
    if (strncmp(why, name, n) == 0 && why[n] == ':' && strstr(why, "No such file or directory") != NULL) return;
    append(tried, size, why);
}

// Resolves every symbol of `handle` (opened as `name`) and checks the version. On success fills the table and
// returns 0; otherwise leaves the table as it was, writes why into error, and returns -1.
static int resolve(void *handle, const char *name, char *error, size_t errorSize) {
    // The version first: nats_GetVersionNumber only returns a constant (no library initialization), so a
    // library we reject can still be dlclose()d.
    uint32_t (*version_number)(void) = (uint32_t(*)(void))dlsym(handle, "nats_GetVersionNumber");
    if (version_number == NULL) {
        snprintf(error, errorSize, "%s has no nats_GetVersionNumber: not the NATS C client", name);
        return -1;
    }
    uint32_t version = version_number();
    if ((version >> 16) != 3) {
        snprintf(error, errorSize, "%s is nats.c %u.%u.%u, not 3.x", name, version >> 16, (version >> 8) & 0xff,
                 version & 0xff);
        return -1;
    }
    void *resolved[sizeof symbols / sizeof symbols[0]];
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        resolved[i] = dlsym(handle, symbols[i].name);
        if (resolved[i] == NULL) {
            snprintf(error, errorSize, "%s (nats.c %u.%u.%u) has no %s", name, version >> 16, (version >> 8) & 0xff,
                     version & 0xff, symbols[i].name);
            return -1;
        }
    }
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) *symbols[i].slot = resolved[i];
    msg_free_in_place = (void (*)(void *))dlsym(handle, "natsMsg_free");
    msg_create_from_wire = (cmn_status (*)(cmn_msg **, const char *, int, const char *, int, const char *, int, int))dlsym(handle, "natsMsg_create");
    return 0;
}

static int load_locked(const char *path, char *error, size_t errorSize) {
    char tried[512] = "";
    const char *const *names = path ? &path : library_names;
    size_t count = path ? 1 : sizeof library_names / sizeof library_names[0];
    for (size_t i = 0; i < count; i++) {
        // RTLD_LOCAL: nothing of libnats leaks into the global namespace; RTLD_NOW: fail here, not later.
        void *handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (handle == NULL) {
            const char *why = dlerror();
            if (path) append(tried, sizeof tried, why ? why : names[i]);
            else note_dlopen_error(tried, sizeof tried, names[i], why);
            continue;
        }
        char why[256];
        if (resolve(handle, names[i], why, sizeof why) != 0) {
            dlclose(handle);
            append(tried, sizeof tried, why);
            continue;
        }
        // Initialize the library now: natsMsg_Create/natsMsg_Destroy do not do it themselves (only options and
        // connections do), and cmn_msg_destroy before any of those crashes on nats.c's uninitialized global
        // lock (3.4.1, measured). From here on the library stays loaded (its atexit handler is registered).
        cmn_status status = nats.nats_Open(-1);
        if (status != CMN_OK) {
            snprintf(error, errorSize, "%s: nats_Open failed: %s", names[i],
                     status <= CMN_MISSED_HEARTBEAT ? nats.natsStatus_GetText(status) : "unknown NATS status");
            return -1;
        }
        snprintf(loaded_name, sizeof loaded_name, "%s", names[i]); // a copy: cmn_load_from's path may be temporary
        atomic_store(&loaded_version, nats.nats_GetVersionNumber());
        return 0;
    }
    if (tried[0] == '\0') {
        snprintf(error, errorSize, "libnats (the NATS C client) is not installed (no libnats.so.3.x found): " INSTALL_HINT);
    } else {
        snprintf(error, errorSize, "libnats (the NATS C client) could not be loaded (%s): " INSTALL_HINT, tried);
    }
    return -1;
}

int cmn_load_from(const char *path, char *error, size_t errorSize) {
    char message[768] = "";
    int result = 0;
    if (atomic_load(&loaded_version) == 0) {
        pthread_mutex_lock(&load_lock);
        if (atomic_load(&loaded_version) == 0) result = load_locked(path, message, sizeof message);
        pthread_mutex_unlock(&load_lock);
    }
    if (errorSize > 0) snprintf(error, errorSize, "%s", result == 0 ? "" : message);
    return result;
}

int cmn_load(char *error, size_t errorSize) { return cmn_load_from(NULL, error, errorSize); }

const char *cmn_library_name(void) { return atomic_load(&loaded_version) ? loaded_name : NULL; }

uint32_t cmn_version_number(void) { return atomic_load(&loaded_version); }

const char *cmn_version(void) { return atomic_load(&loaded_version) ? nats.nats_GetVersion() : NULL; }

// MARK: - Library

cmn_status cmn_open(int64_t lockSpinCount) { return nats.nats_Open(lockSpinCount); }
void cmn_close(void) { nats.nats_Close(); }
cmn_status cmn_close_and_wait(int64_t timeout) { return nats.nats_CloseAndWait(timeout); }

// natsStatus_GetText indexes a table with no bounds check; its last entry is the release's last status.
static cmn_status last_status(uint32_t version) {
    uint32_t minor = (version >> 8) & 0xff;
    if (minor >= 13) return CMN_INVALID_CONFIG;
    if (minor >= 11) return CMN_PIN_ID_MISMATCH;
    if (minor >= 9) return CMN_LIMIT_REACHED;
    return CMN_MISSED_HEARTBEAT;
}

const char *cmn_status_text(cmn_status s) {
    uint32_t version = atomic_load(&loaded_version);
    if (version == 0 || s > last_status(version)) return "unknown NATS status";
    const char *text = nats.natsStatus_GetText(s);
    return text ? text : "unknown NATS status";
}

const char *cmn_last_error(cmn_status *status) { return nats.nats_GetLastError(status); }

// MARK: - Options

cmn_status cmn_options_create(cmn_options **newOpts) { return nats.natsOptions_Create(newOpts); }
void cmn_options_destroy(cmn_options *opts) { nats.natsOptions_Destroy(opts); }
cmn_status cmn_options_set_url(cmn_options *opts, const char *url) { return nats.natsOptions_SetURL(opts, url); }
cmn_status cmn_options_set_servers(cmn_options *opts, const char **servers, int serversCount) {
    return nats.natsOptions_SetServers(opts, servers, serversCount);
}
cmn_status cmn_options_set_name(cmn_options *opts, const char *name) { return nats.natsOptions_SetName(opts, name); }
cmn_status cmn_options_set_user_info(cmn_options *opts, const char *user, const char *password) {
    return nats.natsOptions_SetUserInfo(opts, user, password);
}
cmn_status cmn_options_set_token(cmn_options *opts, const char *token) { return nats.natsOptions_SetToken(opts, token); }
cmn_status cmn_options_set_user_credentials_from_files(cmn_options *opts, const char *userOrChainedFile,
                                                       const char *seedFile) {
    return nats.natsOptions_SetUserCredentialsFromFiles(opts, userOrChainedFile, seedFile);
}
cmn_status cmn_options_set_nkey_from_seed(cmn_options *opts, const char *pubKey, const char *seedFile) {
    return nats.natsOptions_SetNKeyFromSeed(opts, pubKey, seedFile);
}
cmn_status cmn_options_set_secure(cmn_options *opts, bool secure) { return nats.natsOptions_SetSecure(opts, secure); }
cmn_status cmn_options_load_ca_trusted_certificates(cmn_options *opts, const char *fileName) {
    return nats.natsOptions_LoadCATrustedCertificates(opts, fileName);
}
cmn_status cmn_options_set_allow_reconnect(cmn_options *opts, bool allow) {
    return nats.natsOptions_SetAllowReconnect(opts, allow);
}
cmn_status cmn_options_set_max_reconnect(cmn_options *opts, int maxReconnect) {
    return nats.natsOptions_SetMaxReconnect(opts, maxReconnect);
}
cmn_status cmn_options_set_reconnect_wait(cmn_options *opts, int64_t reconnectWait) {
    return nats.natsOptions_SetReconnectWait(opts, reconnectWait);
}
cmn_status cmn_options_set_reconnect_jitter(cmn_options *opts, int64_t jitter, int64_t jitterTLS) {
    return nats.natsOptions_SetReconnectJitter(opts, jitter, jitterTLS);
}
cmn_status cmn_options_set_retry_on_failed_connect(cmn_options *opts, bool retry, cmn_connection_handler connectedCb,
                                                   void *closure) {
    return nats.natsOptions_SetRetryOnFailedConnect(opts, retry, connectedCb, closure);
}
cmn_status cmn_options_set_custom_reconnect_delay(cmn_options *opts, cmn_reconnect_delay_handler cb, void *closure) {
    return nats.natsOptions_SetCustomReconnectDelay(opts, cb, closure);
}
cmn_status cmn_options_set_reconnect_buf_size(cmn_options *opts, int reconnectBufSize) {
    return nats.natsOptions_SetReconnectBufSize(opts, reconnectBufSize);
}
cmn_status cmn_options_set_ping_interval(cmn_options *opts, int64_t interval) {
    return nats.natsOptions_SetPingInterval(opts, interval);
}
cmn_status cmn_options_set_max_pings_out(cmn_options *opts, int maxPingsOut) {
    return nats.natsOptions_SetMaxPingsOut(opts, maxPingsOut);
}
cmn_status cmn_options_set_timeout(cmn_options *opts, int64_t timeout) { return nats.natsOptions_SetTimeout(opts, timeout); }
cmn_status cmn_options_set_disconnected_cb(cmn_options *opts, cmn_connection_handler cb, void *closure) {
    return nats.natsOptions_SetDisconnectedCB(opts, cb, closure);
}
cmn_status cmn_options_set_reconnected_cb(cmn_options *opts, cmn_connection_handler cb, void *closure) {
    return nats.natsOptions_SetReconnectedCB(opts, cb, closure);
}
cmn_status cmn_options_set_closed_cb(cmn_options *opts, cmn_connection_handler cb, void *closure) {
    return nats.natsOptions_SetClosedCB(opts, cb, closure);
}
cmn_status cmn_options_set_error_handler(cmn_options *opts, cmn_err_handler errHandler, void *closure) {
    return nats.natsOptions_SetErrorHandler(opts, errHandler, closure);
}
cmn_status cmn_options_set_no_echo(cmn_options *opts, bool noEcho) { return nats.natsOptions_SetNoEcho(opts, noEcho); }
cmn_status cmn_options_set_max_pending_msgs(cmn_options *opts, int maxPending) {
    return nats.natsOptions_SetMaxPendingMsgs(opts, maxPending);
}
cmn_status cmn_options_set_send_asap(cmn_options *opts, bool sendAsap) { return nats.natsOptions_SetSendAsap(opts, sendAsap); }

// MARK: - Connection

cmn_status cmn_connection_connect(cmn_connection **nc, cmn_options *opts) { return nats.natsConnection_Connect(nc, opts); }
void cmn_connection_close(cmn_connection *nc) { nats.natsConnection_Close(nc); }
void cmn_connection_destroy(cmn_connection *nc) { nats.natsConnection_Destroy(nc); }
cmn_conn_status cmn_connection_status(cmn_connection *nc) { return nats.natsConnection_Status(nc); }
bool cmn_connection_is_reconnecting(cmn_connection *nc) { return nats.natsConnection_IsReconnecting(nc); }
bool cmn_connection_is_closed(cmn_connection *nc) { return nats.natsConnection_IsClosed(nc); }
int cmn_connection_buffered(cmn_connection *nc) { return nats.natsConnection_Buffered(nc); }
int64_t cmn_connection_get_max_payload(cmn_connection *nc) { return nats.natsConnection_GetMaxPayload(nc); }
cmn_status cmn_connection_publish(cmn_connection *nc, const char *subj, const void *data, int dataLen) {
    return nats.natsConnection_Publish(nc, subj, data, dataLen);
}
cmn_status cmn_connection_publish_msg(cmn_connection *nc, cmn_msg *msg) { return nats.natsConnection_PublishMsg(nc, msg); }
cmn_status cmn_connection_flush(cmn_connection *nc) { return nats.natsConnection_Flush(nc); }
cmn_status cmn_connection_flush_timeout(cmn_connection *nc, int64_t timeout) {
    return nats.natsConnection_FlushTimeout(nc, timeout);
}
cmn_status cmn_connection_request(cmn_msg **replyMsg, cmn_connection *nc, const char *subj, const void *data,
                                  int dataLen, int64_t timeout) {
    return nats.natsConnection_Request(replyMsg, nc, subj, data, dataLen, timeout);
}
cmn_status cmn_connection_request_msg(cmn_msg **replyMsg, cmn_connection *nc, cmn_msg *requestMsg, int64_t timeout) {
    return nats.natsConnection_RequestMsg(replyMsg, nc, requestMsg, timeout);
}
cmn_status cmn_connection_subscribe(cmn_subscription **sub, cmn_connection *nc, const char *subject, cmn_msg_handler cb,
                                    void *cbClosure) {
    return nats.natsConnection_Subscribe(sub, nc, subject, cb, cbClosure);
}
cmn_status cmn_connection_queue_subscribe(cmn_subscription **sub, cmn_connection *nc, const char *subject,
                                          const char *queueGroup, cmn_msg_handler cb, void *cbClosure) {
    return nats.natsConnection_QueueSubscribe(sub, nc, subject, queueGroup, cb, cbClosure);
}
cmn_status cmn_connection_get_connected_url(cmn_connection *nc, char *buffer, size_t bufferSize) {
    return nats.natsConnection_GetConnectedUrl(nc, buffer, bufferSize);
}
cmn_status cmn_connection_get_last_error(cmn_connection *nc, const char **lastError) {
    return nats.natsConnection_GetLastError(nc, lastError);
}
cmn_status cmn_connection_get_stats(cmn_connection *nc, cmn_statistics *stats) { return nats.natsConnection_GetStats(nc, stats); }
cmn_status cmn_connection_drain(cmn_connection *nc) { return nats.natsConnection_Drain(nc); }
cmn_status cmn_connection_drain_timeout(cmn_connection *nc, int64_t timeout) {
    return nats.natsConnection_DrainTimeout(nc, timeout);
}

// MARK: - Statistics

cmn_status cmn_statistics_create(cmn_statistics **newStats) { return nats.natsStatistics_Create(newStats); }
cmn_status cmn_statistics_get_counts(const cmn_statistics *stats, uint64_t *inMsgs, uint64_t *inBytes, uint64_t *outMsgs,
                                     uint64_t *outBytes, uint64_t *reconnects) {
    return nats.natsStatistics_GetCounts(stats, inMsgs, inBytes, outMsgs, outBytes, reconnects);
}
void cmn_statistics_destroy(cmn_statistics *stats) { nats.natsStatistics_Destroy(stats); }

// MARK: - Subscription

cmn_status cmn_subscription_unsubscribe(cmn_subscription *sub) { return nats.natsSubscription_Unsubscribe(sub); }
void cmn_subscription_destroy(cmn_subscription *sub) { nats.natsSubscription_Destroy(sub); }
cmn_status cmn_subscription_set_pending_limits(cmn_subscription *sub, int msgLimit, int bytesLimit) {
    return nats.natsSubscription_SetPendingLimits(sub, msgLimit, bytesLimit);
}
cmn_status cmn_subscription_get_dropped(cmn_subscription *sub, int64_t *msgs) {
    return nats.natsSubscription_GetDropped(sub, msgs);
}
int cmn_subscription_pending_messages(cmn_subscription *sub) {
    int msgs = 0, bytes = 0;
    return nats.natsSubscription_GetPending(sub, &msgs, &bytes) == CMN_OK ? msgs : 0;
}

// MARK: - Message

cmn_status cmn_msg_create(cmn_msg **newMsg, const char *subj, const char *reply, const void *data, int dataLen) {
    return nats.natsMsg_Create(newMsg, subj, reply, (const char *)data, dataLen);
}
// natsMsg_Destroy does not free a message: it queues it for libnats's garbage-collector thread, and wakes that
// thread when it sleeps, which at a few thousand messages a second is once per message (a futex wake and a
// context switch, several microseconds on a VM; measured with perf in the bridge benchmark). Every message that
// reaches this function is one we own outright (a subscription's, handed to our callback, or one we created),
// so it is freed here, by the function that thread would call.
void cmn_msg_destroy(cmn_msg *msg) {
    if (msg != NULL && msg_free_in_place != NULL) msg_free_in_place(msg);
    else nats.natsMsg_Destroy(msg);
}
const char *cmn_msg_get_subject(const cmn_msg *msg) { return nats.natsMsg_GetSubject(msg); }
const char *cmn_msg_get_reply(const cmn_msg *msg) { return nats.natsMsg_GetReply(msg); }
const void *cmn_msg_get_data(const cmn_msg *msg) { return nats.natsMsg_GetData(msg); }
int cmn_msg_get_data_length(const cmn_msg *msg) { return nats.natsMsg_GetDataLength(msg); }
bool cmn_msg_is_no_responders(cmn_msg *msg) { return nats.natsMsg_IsNoResponders(msg); }
// A NULL value is stored by nats.c but crashes the publish (strlen(NULL) in natsMsgHeader_encodedLen, 3.4.1).
cmn_status cmn_msg_header_set(cmn_msg *msg, const char *key, const char *value) {
    return nats.natsMsgHeader_Set(msg, key, value ? value : "");
}
cmn_status cmn_msg_header_add(cmn_msg *msg, const char *key, const char *value) {
    return nats.natsMsgHeader_Add(msg, key, value ? value : "");
}
cmn_status cmn_msg_header_get(cmn_msg *msg, const char *key, const char **value) {
    return nats.natsMsgHeader_Get(msg, key, value);
}
cmn_status cmn_msg_header_values(cmn_msg *msg, const char *key, const char ***values, int *count) {
    return nats.natsMsgHeader_Values(msg, key, values, count);
}
cmn_status cmn_msg_header_keys(cmn_msg *msg, const char ***keys, int *count) {
    return nats.natsMsgHeader_Keys(msg, keys, count);
}

// MARK: - Headers in one call

// The pairs through natsMsgHeader_Add, one by one (the documented way; Add, so that a key given twice is sent
// twice, as from the wire form).
static cmn_status publish_with_header_add(cmn_connection *nc, const char *subj, const char *headers, int headersLength,
                                          const void *data, int dataLen) {
    cmn_msg *msg = NULL;
    cmn_status status = nats.natsMsg_Create(&msg, subj, NULL, (const char *)data, dataLen);
    if (status != CMN_OK) return status;
    const char *cursor = headers, *end = headers + headersLength;
    while (status == CMN_OK && cursor < end) {
        const char *key = cursor;
        cursor += strlen(cursor) + 1;
        const char *value = cursor;
        cursor += strlen(cursor) + 1;
        status = nats.natsMsgHeader_Add(msg, key, value);
    }
    if (status == CMN_OK) status = nats.natsConnection_PublishMsg(nc, msg);
    cmn_msg_destroy(msg);
    return status;
}

cmn_status cmn_connection_publish_with_headers(cmn_connection *nc, const char *subj, const char *headers, int headersLength,
                                               const void *data, int dataLen) {
    if (headersLength < 0 || (headersLength > 0 && (headers == NULL || headers[headersLength - 1] != '\0'))) return CMN_INVALID_ARG;
    if (dataLen < 0 || (dataLen > 0 && data == NULL)) return CMN_INVALID_ARG;
    if (headersLength == 0) return publish_with_header_add(nc, subj, headers, headersLength, data, dataLen);
    // The wire form, written while each pair is checked (one pass over the block): "NATS/1.0\r\n", then
    // "key: value\r\n" for each pair, "\r\n", and the data. A pair's two NULs become ": " and "\r\n", so the
    // form is at most twice the block plus the first and last lines.
    static const char start[] = "NATS/1.0\r\n";
    size_t bound = sizeof start - 1 + 2 + 2 * (size_t)headersLength + (size_t)dataLen;
    if (bound > INT32_MAX / 2) return CMN_INVALID_ARG; // never: NATS messages are at most a few MiB
    char stack[2048];
    char *wire = bound <= sizeof stack ? stack : malloc(bound);
    if (wire == NULL) return CMN_NO_MEMORY;
    char *out = wire;
    memcpy(out, start, sizeof start - 1);
    out += sizeof start - 1;
    cmn_status status = CMN_OK;
    // The block ends with a NUL (checked above), so no scan for one runs past it.
    for (const char *cursor = headers, *end = headers + headersLength; cursor < end && status == CMN_OK;) {
        // A key is not empty and has no ':' (where the receiver ends it), space (a line that starts with one
        // continues the previous value) or control character.
        const char *key = cursor;
        for (; *cursor != '\0' && status == CMN_OK; cursor++) {
            unsigned char c = (unsigned char)*cursor;
            if (c <= ' ' || c == ':' || c == 0x7f) status = CMN_INVALID_ARG;
        }
        if (status != CMN_OK || cursor == key || cursor + 1 >= end) { // bad, empty, or a key without its value
            status = CMN_INVALID_ARG;
            break;
        }
        memcpy(out, key, (size_t)(cursor - key));
        out += cursor - key;
        *out++ = ':';
        *out++ = ' ';
        // A value holds no line break (which would end the pair early and begin another of the sender's choosing).
        const char *value = ++cursor;
        for (; *cursor != '\0'; cursor++) {
            if (*cursor == '\r' || *cursor == '\n') status = CMN_INVALID_ARG;
        }
        memcpy(out, value, (size_t)(cursor - value));
        out += cursor - value;
        *out++ = '\r';
        *out++ = '\n';
        cursor++;
    }
    if (status == CMN_OK && msg_create_from_wire == NULL) {
        status = publish_with_header_add(nc, subj, headers, headersLength, data, dataLen); // checked, not sent as built
    } else if (status == CMN_OK) {
        *out++ = '\r';
        *out++ = '\n';
        int wireLength = (int)(out - wire);
        if (dataLen > 0) memcpy(out, data, (size_t)dataLen);
        cmn_msg *msg = NULL;
        status = msg_create_from_wire(&msg, subj, (int)strlen(subj), NULL, 0, wire, wireLength + dataLen, wireLength);
        if (status == CMN_OK) {
            status = nats.natsConnection_PublishMsg(nc, msg);
            cmn_msg_destroy(msg);
        }
    }
    if (wire != stack) free(wire);
    return status;
}

int cmn_msg_header_block(cmn_msg *msg, char *buffer, int capacity, int maxHeaders) {
    const char **keys = NULL;
    int count = 0;
    if (nats.natsMsgHeader_Keys(msg, &keys, &count) != CMN_OK || keys == NULL) return 0;
    size_t needed = 0;
    for (int i = 0; i < count && i < maxHeaders; i++) {
        const char *value = NULL;
        if (nats.natsMsgHeader_Get(msg, keys[i], &value) != CMN_OK || value == NULL) continue;
        size_t keyLength = strlen(keys[i]) + 1, valueLength = strlen(value) + 1;
        if (buffer != NULL && needed + keyLength + valueLength <= (size_t)(capacity > 0 ? capacity : 0)) {
            memcpy(buffer + needed, keys[i], keyLength);
            memcpy(buffer + needed + keyLength, value, valueLength);
        }
        needed += keyLength + valueLength;
        if (needed > INT32_MAX / 2) break; // never: a NATS message is at most a few MiB
    }
    free((void *)keys);
    return (int)needed;
}
