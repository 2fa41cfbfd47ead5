// Checks Sources/CMailslotNats/include/CMailslotNats.h (our own declaration of the libnats subset that the
// bridge loads at run time) against the real <nats/nats.h>: every natsStatus and natsConnStatus value we
// name, the enums' size and signedness, and the prototype of every function we dlsym (CMN_NATS_FUNCTIONS)
// and of the four callback types. It needs libnats-dev, which the package itself does not. Compile only
// (it fails to compile on a mismatch), from the package root:
//   cc -std=gnu11 -Wall -Wextra -Werror $(pkg-config --cflags libnats) -I Sources/CMailslotNats/include
//      -c Tests/MailslotGatewayTests/Fixtures/nats_abi_check.c -o /dev/null
// Checked with Debian 12's libnats-dev (nats.c 3.4.1); the upstream 3.0.0-3.14 headers declare the same
// prototypes (compared release by release), and the values added after 3.4 are checked when the header has
// them (NATS_VERSION_NUMBER).
//
// How the prototypes are compared: CMN_NATS_FUNCTIONS lists each function as X(return type, name,
// (parameters)) in terms of type parameters. The shim expands it with our cmn_* types to build its table of
// function pointers; here it is expanded with nats.h's types (natsStatus for our cmn_status, natsConnection
// for our cmn_connection, ...), so each entry must be EXACTLY the real prototype (__builtin_types_compatible_p
// on the function types, and an initialization of a pointer of that type with the real function, an error
// under -Werror=incompatible-pointer-types). What makes the two expansions the same ABI is then checked
// separately below: our opaque types are pointers to incomplete structs like nats.c's, and our enums have the
// same size, signedness and values.
#include <nats/nats.h>

#include "CMailslotNats.h"

#pragma GCC diagnostic error "-Wincompatible-pointer-types"

_Static_assert(NATS_VERSION_MAJOR == 3, "CMailslotNats declares the nats.c 3.x API");

// MARK: enums: size, signedness (both are unsigned int: no negative enumerator)

_Static_assert(sizeof(cmn_status) == sizeof(natsStatus), "cmn_status: size differs from natsStatus");
_Static_assert(((cmn_status)-1 > (cmn_status)0) == ((natsStatus)-1 > (natsStatus)0),
               "cmn_status: signedness differs from natsStatus");
_Static_assert(sizeof(cmn_conn_status) == sizeof(natsConnStatus), "cmn_conn_status: size differs");
_Static_assert(((cmn_conn_status)-1 > (cmn_conn_status)0) == ((natsConnStatus)-1 > (natsConnStatus)0),
               "cmn_conn_status: signedness differs");
_Static_assert(sizeof(bool) == 1 && sizeof(int64_t) == 8, "scalar types");

// MARK: natsStatus values

#define SAME_STATUS(name) _Static_assert((int)CMN_##name == (int)NATS_##name, "CMN_" #name " differs from NATS_" #name);
SAME_STATUS(OK)
SAME_STATUS(ERR)
SAME_STATUS(PROTOCOL_ERROR)
SAME_STATUS(IO_ERROR)
SAME_STATUS(LINE_TOO_LONG)
SAME_STATUS(CONNECTION_CLOSED)
SAME_STATUS(NO_SERVER)
SAME_STATUS(STALE_CONNECTION)
SAME_STATUS(SECURE_CONNECTION_WANTED)
SAME_STATUS(SECURE_CONNECTION_REQUIRED)
SAME_STATUS(CONNECTION_DISCONNECTED)
SAME_STATUS(CONNECTION_AUTH_FAILED)
SAME_STATUS(NOT_PERMITTED)
SAME_STATUS(NOT_FOUND)
SAME_STATUS(ADDRESS_MISSING)
SAME_STATUS(INVALID_SUBJECT)
SAME_STATUS(INVALID_ARG)
SAME_STATUS(INVALID_SUBSCRIPTION)
SAME_STATUS(INVALID_TIMEOUT)
SAME_STATUS(ILLEGAL_STATE)
SAME_STATUS(SLOW_CONSUMER)
SAME_STATUS(MAX_PAYLOAD)
SAME_STATUS(MAX_DELIVERED_MSGS)
SAME_STATUS(INSUFFICIENT_BUFFER)
SAME_STATUS(NO_MEMORY)
SAME_STATUS(SYS_ERROR)
SAME_STATUS(TIMEOUT)
SAME_STATUS(FAILED_TO_INITIALIZE)
SAME_STATUS(NOT_INITIALIZED)
SAME_STATUS(SSL_ERROR)
SAME_STATUS(NO_SERVER_SUPPORT)
SAME_STATUS(NOT_YET_CONNECTED)
SAME_STATUS(DRAINING)
SAME_STATUS(INVALID_QUEUE_NAME)
SAME_STATUS(NO_RESPONDERS)
SAME_STATUS(MISMATCH)
SAME_STATUS(MISSED_HEARTBEAT)
#if NATS_VERSION_NUMBER >= 0x030900
SAME_STATUS(LIMIT_REACHED)
#endif
#if NATS_VERSION_NUMBER >= 0x030B00
SAME_STATUS(PIN_ID_MISMATCH)
#endif
#if NATS_VERSION_NUMBER >= 0x030D00
SAME_STATUS(INVALID_CONFIG)
#endif
#if NATS_VERSION_NUMBER >= 0x030B00
// From 3.11 the enum ends with NATS_MAX_STATUS_VALUE: a status newer than ours would show up here (then name
// it in the header, and in cmn_status_text's last_status()).
_Static_assert((int)NATS_MAX_STATUS_VALUE <= (int)CMN_INVALID_CONFIG + 1, "nats.h has statuses CMailslotNats does not name");
#endif

// MARK: natsConnStatus values

#define SAME_CONN_STATUS(name) \
    _Static_assert((int)CMN_CONN_STATUS_##name == (int)NATS_CONN_STATUS_##name, "CMN_CONN_STATUS_" #name " differs");
SAME_CONN_STATUS(DISCONNECTED)
SAME_CONN_STATUS(CONNECTING)
SAME_CONN_STATUS(CONNECTED)
SAME_CONN_STATUS(CLOSED)
SAME_CONN_STATUS(RECONNECTING)
SAME_CONN_STATUS(DRAINING_SUBS)
SAME_CONN_STATUS(DRAINING_PUBS)

// MARK: opaque types: pointers of the same size as nats.c's (both are pointers to incomplete structs)

_Static_assert(sizeof(cmn_options *) == sizeof(natsOptions *), "cmn_options *");
_Static_assert(sizeof(cmn_connection *) == sizeof(natsConnection *), "cmn_connection *");
_Static_assert(sizeof(cmn_subscription *) == sizeof(natsSubscription *), "cmn_subscription *");
_Static_assert(sizeof(cmn_msg *) == sizeof(natsMsg *), "cmn_msg *");
_Static_assert(sizeof(cmn_statistics *) == sizeof(natsStatistics *), "cmn_statistics *");

// MARK: callback types: ours, with nats.c's types in place of ours, are nats.c's

// Our typedef is the list's entry expanded with our types ...
#define OURS_ARE_THE_LIST(R, name, params) \
    _Static_assert(__builtin_types_compatible_p(R(*) params, OURS_##name), #name ": our typedef differs from the list");
#define OURS_natsMsgHandler cmn_msg_handler
#define OURS_natsConnectionHandler cmn_connection_handler
#define OURS_natsErrHandler cmn_err_handler
#define OURS_natsCustomReconnectDelayHandler cmn_reconnect_delay_handler
CMN_NATS_CALLBACKS(OURS_ARE_THE_LIST, cmn_status, cmn_connection, cmn_subscription, cmn_msg)

// ... and the list's entry expanded with nats.c's types is nats.c's typedef.
#define SAME_CALLBACK(R, name, params) \
    _Static_assert(__builtin_types_compatible_p(R(*) params, name), #name ": prototype differs from nats.h");
CMN_NATS_CALLBACKS(SAME_CALLBACK, natsStatus, natsConnection, natsSubscription, natsMsg)

// MARK: functions

// 1. The declared type of the real function is exactly the list's entry with nats.c's types.
#define SAME_FUNCTION(R, name, params) \
    _Static_assert(__builtin_types_compatible_p(__typeof__(name), R params), #name ": prototype differs from nats.h");
CMN_NATS_FUNCTIONS(SAME_FUNCTION, natsStatus, natsConnStatus, natsOptions, natsConnection, natsSubscription, natsMsg,
                   natsStatistics, natsMsgHandler, natsConnectionHandler, natsErrHandler, natsCustomReconnectDelayHandler)

// 2. The same as the compiler's ordinary diagnostic: a pointer of the list's type initialized with the real
//    function (an incompatible-pointer-types error on a mismatch, naming both types).
#define ASSIGNABLE(R, name, params) R(*const check_##name) params = name;
CMN_NATS_FUNCTIONS(ASSIGNABLE, natsStatus, natsConnStatus, natsOptions, natsConnection, natsSubscription, natsMsg,
                   natsStatistics, natsMsgHandler, natsConnectionHandler, natsErrHandler, natsCustomReconnectDelayHandler)
